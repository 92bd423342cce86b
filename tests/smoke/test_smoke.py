"""The automated smoke run (bench/smoke.py) in memory mode: a real ``townsquare serve`` checked over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_memory_mode_smoke_run_passes_every_check() -> None:
    # Given the smoke script  When it runs against a memory-mode host it starts itself
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "smoke.py"), "--mode", "memory"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Then it exits 0 and its summary lists every check as passed
    summary = json.loads(done.stdout)
    (run,) = summary["runs"]
    assert run["failures"] == [], done.stdout
    assert done.returncode == 0
    assert set(run["checks"]) == {"system", "feed", "notifications", "earnings", "dead_letter"}
    assert all(check["ok"] for check in run["checks"].values())
    assert run["checks"]["dead_letter"]["retry_gaps_seconds"] == [60, 120]
