"""The load and growth benchmarks (bench/, issue 21) import and parse their arguments: a full
run takes minutes and is not part of the tests, but a broken import is caught here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("script", ["load.py", "growth.py", "replicas.py"])
def test_bench_script_help(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
