"""Test set-up for the contracts package.

Under the workspace's ``--import-mode=importlib`` pytest names the modules of this directory
``contracts.tests.*`` and, to import them, creates a namespace module ``contracts`` for the
directory ``contracts/`` — which would hide the real package (``contracts/src/contracts``) from
every test that runs afterwards, in this package and in the services. Put the real one back
before any test module is imported.
"""

from __future__ import annotations

import importlib
import sys

_shadow = sys.modules.get("contracts")
if _shadow is not None and getattr(_shadow, "__file__", None) is None:
    del sys.modules["contracts"]
    _real = importlib.import_module("contracts")
    if "contracts.tests" in sys.modules:
        _real.tests = sys.modules["contracts.tests"]  # type: ignore[attr-defined]
