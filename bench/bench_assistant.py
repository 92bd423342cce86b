"""Assistant benchmark: recall over one user's 10,000 memories in a table of many users, next-best
actions, context compiles (cached and cold), and the first streamed token through the HTTP host.

Run: ``.venv/bin/python bench/bench_assistant.py`` (``BENCH_SCALE=0.1`` fills 1,000 background
users instead of 10,000; the hot user always has 10,000 memories). It drops and recreates the
database ``bench_assistant`` on ``BENCH_PG`` and prints one JSON document. Embeddings of the
background rows are random unit vectors (256 float32, the local embedder's size) written with
COPY; the hot user's memories go in the same way, so recall ranks 10,000 rows. ``BENCH_REUSE=1``
keeps a filled database (migrated to the head first; the other users are new each run);
``BENCH_DB`` names another database.

Each figure has its floor beside it from the same run: for recall, next-best actions and
context compiles, the very statements and parameters our call ran (captured from SQLAlchemy),
replayed by bare psycopg in one transaction as the user; for loading the vectors, the same
aggregate read and one numpy product; for the first token, the host's own GET /health.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import timedelta
from typing import Any

import numpy as np
import psycopg

from common import SCALE, database_dsn, database_url, fresh_database, machine, percentiles, scaled
from townsquare.adapters.models.local import HashedNgramEmbedder
from townsquare.adapters.postgres.database import APP_ROLE
from townsquare.adapters.postgres.migrations import upgrade
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.assistant.memory import VectorCache
from townsquare.core.clock import ManualClock
from townsquare.core.feed.models import Draft
from townsquare.core.identity import Actor
from townsquare.settings import MOCK_EPOCH, PortsMode, Settings

SENDER = Actor("test-sender", roles=["service"])

ACT_AS_USER = f"SELECT set_config('role', '{APP_ROLE}', true), set_config('app.user_id', %s, true)"
"""What PgDatabase runs first in a user's transaction (the floor runs it too)."""
DATABASE = os.environ.get("BENCH_DB", "bench_assistant")
DIMS = 256
HOT = "bench-hot-user"
HOT_MEMORIES = 10_000
USERS = scaled(10_000)
PER_USER = 100
SAMPLES = 300


def _fill(dsn: str) -> None:
    rng = np.random.default_rng(7)
    at = MOCK_EPOCH
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY assistant_memories (id, user_id, text, embedding, dims, created_at, updated_at, version) FROM STDIN"
        ) as copy:
            owners = [(HOT, HOT_MEMORIES)] + [(f"user-{n}", PER_USER) for n in range(USERS)]
            for owner, count in owners:
                vectors = rng.standard_normal((count, DIMS)).astype("<f4")
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                for index in range(count):
                    copy.write_row(
                        (uuid.uuid4(), owner, f"memory {index} of {owner}", vectors[index].tobytes(), DIMS, at, at, 1)
                    )
        cur.execute(
            "INSERT INTO assistant_memory_heads (user_id, version) SELECT DISTINCT user_id, 1 FROM assistant_memories"
        )
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE assistant_memories")


def _timed(call: Any, samples: int = SAMPLES) -> dict[str, float]:
    seconds = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return percentiles(seconds)


def _floor(dsn: str) -> dict[str, float]:
    """The bare driver: the same aggregated load and one numpy product, nothing of ours."""
    (query,) = HashedNgramEmbedder(DIMS).embed(["memory of the hot user"])
    q = np.frombuffer(query, dtype="<f4").astype(np.float64)
    with psycopg.connect(dsn, autocommit=True) as conn:

        def load_and_rank() -> None:
            row = conn.execute(
                "SELECT array_agg(id::text), string_agg(embedding, ''::bytea) "
                "FROM assistant_memories WHERE user_id = %s AND dims = %s",
                (HOT, DIMS),
            ).fetchone()
            assert row is not None
            matrix = np.frombuffer(row[1], dtype="<f4").reshape(len(row[0]), DIMS).astype(np.float64)
            np.argsort(-(matrix @ q))[:10]

        return _timed(load_and_rank, 100)


def _statements(services: Services, call: Any) -> list[tuple[str, Any]]:
    """The SQL statements (as the driver gets them) one ``call`` runs, for the bare-driver floor."""
    from sqlalchemy import event

    engine = services.uow.engine  # type: ignore[attr-defined]
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def _replayed(dsn: str, user_id: str, statements: list[tuple[str, Any]], samples: int = SAMPLES) -> dict[str, Any]:
    """The floor: the same statements and parameters in one psycopg transaction as the user, nothing of ours."""
    with psycopg.connect(dsn) as conn:

        def replay() -> None:
            with conn.cursor() as cur:
                cur.execute(ACT_AS_USER, (user_id,))
                for statement, parameters in statements:
                    cur.execute(statement, parameters)
                    if cur.description is not None:
                        cur.fetchall()
            conn.commit()

        return {**_timed(replay, samples), "statements": len(statements) + 1}


def _producer_with_a_line(services: Services, producer: Actor, run: str) -> None:
    """The user also produces an event whose one paid type is sold out with 25 people waiting."""
    from townsquare.core.events import make_details

    at = services.clock.now()
    event_id = f"bench-event-{run}"
    services.events.create_event(
        producer,
        make_details(
            title="Bench night",
            starts_at=at + timedelta(days=10),
            ends_at=at + timedelta(days=10, hours=2),
            time_zone="Europe/Paris",
            venue="Hall",
            sales_start=at - timedelta(days=1),
            sales_end=at + timedelta(days=9),
            capacity=100,
            currency="EUR",
        ),
        event_id=event_id,
    )
    services.events.add_ticket_type(producer, event_id, type_id="seat", name="Seat", price=3_000, quota=2)
    services.events.publish(producer, event_id)
    for n in range(2):
        buyer = Actor(f"bench-ticket-{run}-{n}")
        held = services.events.reserve(buyer, event_id, "seat", 1, idempotency_key=f"hold-{n}")
        services.events.confirm(buyer, held.registration_id, idempotency_key=f"pay-{n}")
    for n in range(25):
        services.waitlist.join(Actor(f"bench-fan-{run}-{n}"), event_id, "seat")


def main() -> None:
    started = time.perf_counter()
    load = {"uptime_before": _uptime(), "machine": machine(0.5)}
    if os.environ.get("BENCH_REUSE"):  # a filled database from an earlier run
        url = database_url(DATABASE)
        upgrade(url)
        with psycopg.connect(database_dsn(DATABASE), autocommit=True) as conn:
            conn.execute("DELETE FROM assistant_memories WHERE user_id LIKE 'bench-%%' AND user_id <> %s", (HOT,))
            conn.execute("TRUNCATE assistant_messages, assistant_conversations, assistant_action_feedback")
            conn.execute("VACUUM ANALYZE assistant_memories")
    else:
        url = fresh_database(DATABASE)
        _fill(database_dsn(DATABASE))
    fill_seconds = time.perf_counter() - started
    clock = ManualClock(MOCK_EPOCH)
    settings = Settings(
        ports_mode=PortsMode.POSTGRES,
        database_url=url,
        database_pool_size=4,
        seed_demo_data=False,
        assistant_turns_per_minute=10_000,
    )
    services: Services = bootstrap(settings, clock=clock)
    hot = Actor(HOT)
    dsn = database_dsn(DATABASE)
    run = uuid.uuid4().hex[:8]  # the other users are new each run (BENCH_REUSE keeps the tables)
    try:
        memory = services.assistant.memory
        warm = _timed(lambda: memory.recall(hot, "memory of the hot user", 10))
        recall_floor = _replayed(
            dsn, HOT, _statements(services, lambda: memory.recall(hot, "memory of the hot user", 10))
        )
        cold_memory = type(memory)(
            memory._store, memory._embedder, services.uow, clock, services.cursors, cache=VectorCache(0)
        )
        cold = _timed(lambda: cold_memory.recall(hot, "memory of the hot user", 10), 100)
        floor = _floor(dsn)

        # Next-best actions for a user with pending earnings, a stale cart, unread notifications,
        # a registration, and an event of theirs sold out with people waiting: every source proposes.
        buyer, shop = Actor(f"bench-buyer-{run}"), Actor("bench-shop", roles=["service"])
        services.earnings.record(
            shop, creator_id=buyer.user_id, kind="sale", amount=9_000, currency="USD", idempotency_key=f"b-{run}"
        )
        services.feed.publish(
            Actor("bench-maker"),
            Draft(item_id=f"bench-mug-{run}", kind="product", title="Mug", price_cents=2_500, currency="USD"),
        )
        services.feed.add_to_cart(buyer, f"bench-mug-{run}")
        for index in range(12):
            services.notifications.send(
                SENDER, buyer.user_id, "inapp", "system", title=f"n{index}", idempotency_key=f"n{index}"
            )
        _producer_with_a_line(services, buyer, run)
        clock.advance(timedelta(days=2))
        actions = services.assistant.actions
        nba = _timed(lambda: actions.suggest(buyer, 3))
        nba_floor = _replayed(dsn, buyer.user_id, _statements(services, lambda: actions.suggest(buyer, 3)))
        suggested = [s.candidate.key for s in actions.suggest(buyer, 5)]

        context = services.assistant.context
        context.compile(buyer)
        cached = _timed(lambda: context.compile(buyer))
        cached_floor = _replayed(dsn, buyer.user_id, _statements(services, lambda: context.compile(buyer)))
        budgets = iter(range(100, 100 + SAMPLES + 1))  # a new budget is a new key: a cold compile each time
        cold_context = _timed(lambda: context.compile(buyer, next(budgets)))
        cold_floor = _replayed(dsn, buyer.user_id, _statements(services, lambda: context.compile(buyer, 9_999)))

        first_token = _first_token(settings, services)
    finally:
        services.close()
    load["uptime_after"] = _uptime()
    print(
        json.dumps(
            {
                "scale": SCALE,
                "load": load,
                "table": {
                    "users": USERS + 1,
                    "rows": USERS * PER_USER + HOT_MEMORIES,
                    "fill_s": round(fill_seconds, 1),
                },
                "recall_top10_of_10000": {
                    "cached_vectors": warm,
                    "cached_vectors_floor_same_sql_psycopg": recall_floor,
                    "loaded_each_time": cold,
                    "bare_driver_floor": floor,
                },
                "next_best_actions": {**nba, "floor_same_sql_psycopg": nba_floor, "suggested": suggested},
                "context_compile": {
                    "cached": cached,
                    "cached_floor_same_sql_psycopg": cached_floor,
                    "cold": cold_context,
                    "cold_floor_same_sql_psycopg": cold_floor,
                },
                "first_token_http": first_token,
                "note": "shared 2-core machine: figures are noisy; compare each with its floor from the same run",
            },
            indent=2,
        )
    )


def _uptime() -> str:
    with open("/proc/loadavg") as loadavg:
        return loadavg.read().strip()


def _first_token(settings: Settings, services: Services) -> dict[str, Any]:
    """Time from sending a chat message to its first ``text`` event, through the Litestar host.

    The floor is the same client's GET /health (the host's own round trip, no assistant).
    """
    from datetime import UTC, datetime

    from litestar.testing import TestClient

    from townsquare.hosts.http.app import create_app
    from townsquare.hosts.http.auth import mint_token

    token = mint_token(settings.jwt_secret, "bench-chat", now=datetime.now(UTC))
    headers = {"Authorization": f"Bearer {token}"}
    seconds = []
    with TestClient(create_app(settings, services)) as client:
        conversation = client.post("/api/v1/assistant/conversations", json={}, headers=headers).json()["id"]
        url = f"/api/v1/assistant/conversations/{conversation}/messages"
        for _ in range(100):
            started = time.perf_counter()
            with client.stream("POST", url, json={"content": "hello there"}, headers=headers) as response:
                first: float | None = None
                for line in response.iter_lines():  # read to the end: the reply completes
                    if first is None and line.startswith("event: text"):
                        first = time.perf_counter() - started
                assert first is not None
                seconds.append(first)
        floor = _timed(lambda: client.get("/health"), 100)
    return {**percentiles(seconds), "floor_get_health": floor}


if __name__ == "__main__":
    main()
