"""The ``townsquare`` command: serve, worker, migrate, seed, openapi and token."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import timedelta

from townsquare.settings import Settings, SettingsError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="townsquare", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP host (uvicorn)")
    serve.add_argument("--host", help="listen address (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default: PORT or 8000)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes (postgres mode; memory mode keeps its data in one process)",
    )

    worker = commands.add_parser("worker", help="run the Dramatiq worker host and the periodic scheduler")
    worker.add_argument("--threads", type=int, default=8, help="worker threads per process")

    commands.add_parser("migrate", help="apply the database migrations (postgres mode)")
    commands.add_parser("seed", help="load the demo data into the database (postgres mode)")

    openapi = commands.add_parser("openapi", help="write the HTTP API's OpenAPI document (JSON)")
    openapi.add_argument("--output", help="file to write (default: standard output)")

    token = commands.add_parser("token", help="mint a development JWT")
    token.add_argument("user", help="user id, or a demo user name (alice, bob, carol, admin)")
    token.add_argument("--admin", action="store_true", help="include the admin role")
    token.add_argument("--ttl", type=int, default=24 * 3600, help="lifetime in seconds")

    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"townsquare: configuration error: {exc}", file=sys.stderr)
        return 2
    handler = {
        "serve": _serve,
        "worker": _worker,
        "migrate": _migrate,
        "seed": _seed,
        "openapi": _openapi,
        "token": _token,
    }
    return handler[args.command](settings, args)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from townsquare.hosts.http.server import server_options

    if args.workers > 1 and settings.is_memory:
        print("townsquare: memory mode keeps its data in one process; use --workers 1", file=sys.stderr)
        return 2
    if args.workers > 1 and settings.metrics_enabled and not settings.metrics_multiprocess_dir:
        # Each process counts alone and a scrape reaches one of them: prometheus-client's
        # multiprocess mode sums them, from files in this directory (the processes read it
        # from the environment when they start).
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="townsquare-metrics-")
    from townsquare.hosts.logs import uvicorn_log_config

    uvicorn.run(
        "townsquare.hosts.http.app:app_from_env",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        log_config=uvicorn_log_config(settings.log_level, json=settings.log_json),
        access_log=False,
        **server_options(settings),
    )
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from townsquare.hosts.worker.main import run_worker

    run_worker(settings, threads=args.threads)
    return 0


def _migrate(settings: Settings, _: argparse.Namespace) -> int:
    from townsquare.adapters.postgres.migrations import upgrade

    upgrade(settings.migration_url)
    print("townsquare: migrations applied")
    return 0


def _seed(settings: Settings, _: argparse.Namespace) -> int:
    from townsquare.bootstrap import bootstrap
    from townsquare.demo import seed_demo_data

    if settings.is_memory:
        print("townsquare: memory mode seeds itself when the host starts; nothing to do", file=sys.stderr)
        return 0
    services = bootstrap(settings)
    try:
        seed_demo_data(services)
    finally:
        services.close()
    print("townsquare: demo data loaded")
    return 0


def _openapi(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from attrs import evolve

    from townsquare.bootstrap import bootstrap
    from townsquare.hosts.http.app import create_app

    # The document of the host these settings run (memory mode adds the testing routes);
    # building it needs no database connection and no demo data.
    settings = evolve(settings, seed_demo_data=False)
    services = bootstrap(settings)
    try:
        document = create_app(settings, services).openapi_schema.to_schema()
    finally:
        services.close()
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as file:
            file.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _token(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from townsquare.demo import DEMO_USERS
    from townsquare.hosts.http.auth import mint_token

    user_id = DEMO_USERS.get(args.user, args.user)
    roles = ["admin"] if args.admin else []
    # Tokens use the wall clock: they are checked by PyJWT against real time.
    print(
        mint_token(
            settings.jwt_secret,
            user_id,
            now=datetime.now(UTC),
            roles=roles,
            ttl=timedelta(seconds=args.ttl),
            audience=settings.jwt_audience,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
