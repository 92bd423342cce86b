"""Mock mode repeats exactly: a recorded front-end session gives the same answers, byte for byte,
after every reset, in every process (tests/http/recorded/frontend_flow.json, tests/http/replay.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.http.replay import FLOW, load_steps, mock_host, replay

ROOT = Path(__file__).resolve().parents[2]


def first_difference(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> str:
    for want, got in zip(expected, actual, strict=True):
        if want != got:
            return f"step {want['step']!r} differs:\n  first:  {want}\n  second: {got}"
    return ""


def test_a_recorded_session_replays_byte_for_byte_after_a_reset_and_in_another_process() -> None:
    steps = load_steps()
    # Given a fresh mock-mode host  When the recorded session runs twice (it starts with a reset)
    with mock_host() as client:
        first = replay(client, steps)
        time.sleep(0.3)  # wall-clock time passing changes nothing in mock mode
        second = replay(client, steps)
    # And once more in a separate process, with another hash seed
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.http.replay", str(FLOW)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    other_process = json.loads(done.stdout)
    # Then every answer (status, headers, body) is the same each time
    assert first == second, first_difference(first, second)
    assert first == other_process, first_difference(first, other_process)
    # And the session did what a front end expects (no server error; the README's send sends)
    by_step = {answer["step"]: answer for answer in first}
    assert all(answer["status"] < 500 for answer in first), [a for a in first if a["status"] >= 500]
    assert json.loads(by_step["test-send"]["body"])["sent"] is True
    assert json.loads(by_step["test-capped"]["body"])["reason"] == "daily_cap"
    assert json.loads(by_step["send-bob-again"]["body"])["duplicate"] is True
    assert json.loads(by_step["poison"]["body"]) == {"job_id": 3}  # as docs/jobs.md shows
    assert json.loads(by_step["dead"]["body"])["items"][0]["attempts"] == 3
