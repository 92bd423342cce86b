"""Replays a recorded front-end session against a mock-mode host and records every answer.

``python -m tests.http.replay FLOW.json`` prints the recording as JSON, so a test can compare
the answers of a separate process (another interpreter, another hash seed) with its own.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from townsquare.hosts.http.app import create_app
from townsquare.hosts.http.auth import mint_token
from townsquare.settings import Settings

FLOW = Path(__file__).parent / "recorded" / "frontend_flow.json"
_REFERENCE = re.compile(r"\$\{([^}]+)\}")

Step = dict[str, Any]
Answer = dict[str, Any]


def load_steps(path: Path = FLOW) -> list[Step]:
    steps: list[Step] = json.loads(path.read_text())["steps"]
    return steps


def mock_mode_settings() -> Settings:
    """What ``townsquare serve`` runs with when nothing is configured (memory mode, frozen clock, demo data)."""
    return Settings.from_env({})


@contextmanager
def mock_host(settings: Settings | None = None) -> Iterator[TestClient[Any]]:
    """A mock-mode host as ``townsquare serve`` builds it (it owns its services and seeds them)."""
    with TestClient(create_app(settings or mock_mode_settings())) as client:
        yield client


def replay(client: TestClient[Any], steps: list[Step], settings: Settings | None = None) -> list[Answer]:
    """Send every step in order; returns each answer's status, headers and body text.

    Each request carries its own ``X-Request-ID`` (as a test harness would): otherwise the
    host makes a random one, the single part of an answer that is meant to differ.
    """
    secret = (settings or mock_mode_settings()).jwt_secret
    tokens: dict[str, str] = {}
    bodies: dict[str, Any] = {}
    answers: list[Answer] = []
    for number, step in enumerate(steps):
        resolve = _resolver(bodies, step["name"])
        headers = {"X-Request-ID": f"e2e-{number:03d}-{step['name']}"}
        user = step.get("as")
        if user is not None:
            if user not in tokens:
                roles = ["admin"] if user == "admin" else []
                tokens[user] = mint_token(secret, user, now=datetime.now(UTC), roles=roles)
            headers["Authorization"] = f"Bearer {tokens[user]}"
        response = client.request(
            step["method"],
            resolve(step["path"]),
            params={key: resolve(str(value)) for key, value in step.get("query", {}).items()},
            json=_resolve_json(step["json"], resolve) if "json" in step else None,
            headers=headers,
        )
        if response.headers.get("content-type", "").endswith("json") and response.content:
            bodies[step["name"]] = response.json()
        answers.append(
            {
                "step": step["name"],
                "status": response.status_code,
                "headers": sorted([name, value] for name, value in response.headers.multi_items()),
                # Strict UTF-8: the text is equal exactly when the bytes are.
                "body": response.content.decode("utf-8"),
            }
        )
    return answers


def _resolver(bodies: dict[str, Any], current: str) -> Callable[[str], str]:
    def lookup(match: re.Match[str]) -> str:
        name, *path = match.group(1).split(".")
        value: Any = bodies.get(name)
        for part in path:
            value = value[int(part)] if isinstance(value, list) else value[part]
        if value is None:
            raise AssertionError(f"step {current!r}: {match.group(0)} is null")
        return str(value)

    return lambda text: _REFERENCE.sub(lookup, text)


def _resolve_json(value: Any, resolve: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return resolve(value)
    if isinstance(value, list):
        return [_resolve_json(item, resolve) for item in value]
    if isinstance(value, dict):
        return {key: _resolve_json(item, resolve) for key, item in value.items()}
    return value


def main(argv: list[str]) -> int:
    steps = load_steps(Path(argv[0]) if argv else FLOW)
    with mock_host() as client:
        json.dump(replay(client, steps), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
