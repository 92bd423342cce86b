"""`townsquare serve` in mock mode logs structured JSON only, uvicorn's lines included, and no traceback."""

from __future__ import annotations

import json
import os

import httpx
import pytest
from bench.running import Host


@pytest.mark.slow
def test_a_mock_mode_host_logs_one_json_object_per_line_and_no_traceback() -> None:
    # Given `townsquare serve` in mock mode with its defaults (demo data, a poison job queued)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PORTS_", "LOG_", "FROZEN_"))}
    host = Host(env)
    try:
        host.wait_healthy()
        # When clients call it, some wrongly
        httpx.get(f"{host.base_url}/api/v1/me")
        httpx.get(f"{host.base_url}/no-such-page")
    finally:
        host.stop()  # SIGTERM: uvicorn shuts down, then re-raises the signal (exit code -15)
    lines = host.log_path.read_text().splitlines()
    # Then every line is one JSON object with an event and a level, uvicorn's too
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a log line is not JSON: {line!r}\n(the log: {lines})")
    assert all({"event", "level", "timestamp"} <= record.keys() for record in records), records
    loggers = {record.get("logger") for record in records}
    assert {"uvicorn.error", "townsquare.http"} <= loggers, loggers
    events = [record["event"] for record in records]
    assert any(event.startswith("Started server process") for event in events), events
    assert any(event.startswith("Finished server process") for event in events), events
    # And nothing logged a traceback (the queued poison job does not run on its own)
    assert not [record for record in records if "exception" in record or "Traceback" in json.dumps(record)]
