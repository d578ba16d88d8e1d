"""Small helpers the newer bench scripts share (``load.py``, ``growth.py``).

The older scripts each carry their own ``write_section``; these import this one.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def bench_module(name: str) -> Any:
    """A sibling bench script (not a package) as a module, e.g. booking.py's load tools."""
    key = f"bench_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def unshadow() -> None:
    """Run as a script, bench/ comes first on sys.path and booking.py would shadow booking."""
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]


def migrations_of(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "migrations"


def write_section(text: str, head: str, path: Path = HERE / "RESULTS.md") -> None:
    """Replace the section titled ``head`` (up to the next ``## ``) or append it."""
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    if head in old:
        before, rest = old.split(head, 1)
        after = rest.split("\n## ", 1)
        tail = "\n## " + after[1] if len(after) > 1 else ""
        new = before + text.rstrip("\n") + "\n" + tail
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new if new.endswith("\n") else new + "\n")
