"""The framework floor of bench/bench_http.py: a bare Litestar app under the host's uvicorn options.

It answers the paths it is given with the JSON documents it is given (captured from the real
host's responses, so the sizes and shapes match), encoded by Litestar per request, with no
middleware, no auth and no data access: what a request costs in
this framework and server before any of townsquare's own work.

    python bench/floor_app.py --port 8123 --bodies bodies.json   # {"/api/v1/...": {...}, ...}
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import uvicorn
from litestar import Litestar, Request, get

from townsquare.hosts.http.server import server_options
from townsquare.settings import Settings


def floor_app(bodies: dict[str, Any]) -> Litestar:
    """A Litestar app with one GET route per path, answering that path's document."""

    def route(path: str, body: Any) -> Any:
        @get(path, name=path, sync_to_thread=False)
        def answer(request: Request[Any, Any, Any]) -> Any:
            return body

        return answer

    return Litestar(route_handlers=[route(path, body) for path, body in bodies.items()], openapi_config=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bodies", type=Path, required=True)
    args = parser.parse_args()
    bodies = json.loads(args.bodies.read_text())
    uvicorn.run(
        floor_app(bodies),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        **server_options(Settings()),
    )


if __name__ == "__main__":
    main()
