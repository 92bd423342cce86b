"""Assistant benchmark: recall over one user's 10,000 memories in a table of many users, next-best
actions, context compiles (cached and cold), and the first streamed token through the HTTP host.

Run: ``.venv/bin/python bench/bench_assistant.py`` (``BENCH_SCALE=0.1`` fills 1,000 background
users instead of 10,000; the hot user always has 10,000 memories). It drops and recreates the
database ``bench_assistant`` on ``BENCH_PG`` and prints one JSON document. Embeddings of the
background rows are random unit vectors (256 float32, the local embedder's size) written with
COPY; the hot user's memories go in the same way, so recall ranks 10,000 rows.
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

from common import SCALE, database_dsn, database_url, fresh_database, percentiles, scaled
from townsquare.adapters.models.local import HashedNgramEmbedder
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.assistant.memory import VectorCache
from townsquare.core.clock import ManualClock
from townsquare.core.feed.models import Draft
from townsquare.core.identity import Actor
from townsquare.settings import MOCK_EPOCH, PortsMode, Settings

SENDER = Actor("test-sender", roles=["service"])

DATABASE = "bench_assistant"
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


def main() -> None:
    started = time.perf_counter()
    if os.environ.get("BENCH_REUSE"):  # a filled database from an earlier run
        url = database_url(DATABASE)
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
    try:
        memory = services.assistant.memory
        warm = _timed(lambda: memory.recall(hot, "memory of the hot user", 10))
        cold_memory = type(memory)(
            memory._store, memory._embedder, services.uow, clock, services.cursors, cache=VectorCache(0)
        )
        cold = _timed(lambda: cold_memory.recall(hot, "memory of the hot user", 10), 100)
        floor = _floor(database_dsn(DATABASE))

        # Next-best actions for a user with pending earnings, a stale cart and unread notifications.
        buyer, shop = Actor("bench-buyer"), Actor("bench-shop", roles=["service"])
        services.earnings.record(
            shop, creator_id=buyer.user_id, kind="sale", amount=9_000, currency="USD", idempotency_key="bench-1"
        )
        services.feed.publish(
            Actor("bench-maker"),
            Draft(item_id="bench-mug", kind="product", title="Mug", price_cents=2_500, currency="USD"),
        )
        services.feed.add_to_cart(buyer, "bench-mug")
        for index in range(12):
            services.notifications.send(
                SENDER, buyer.user_id, "inapp", "system", title=f"n{index}", idempotency_key=f"n{index}"
            )
        clock.advance(timedelta(days=2))
        actions = _timed(lambda: services.assistant.actions.suggest(buyer, 3))
        suggested = [s.candidate.key for s in services.assistant.actions.suggest(buyer, 3)]

        context = services.assistant.context
        context.compile(buyer)
        cached = _timed(lambda: context.compile(buyer))
        budgets = iter(range(100, 100 + SAMPLES))  # a new budget is a new key: a cold compile each time
        cold_context = _timed(lambda: context.compile(buyer, next(budgets)))

        first_token = _first_token(settings, services)
    finally:
        services.close()
    print(
        json.dumps(
            {
                "scale": SCALE,
                "table": {
                    "users": USERS + 1,
                    "rows": USERS * PER_USER + HOT_MEMORIES,
                    "fill_s": round(fill_seconds, 1),
                },
                "recall_top10_of_10000": {"cached_vectors": warm, "loaded_each_time": cold, "bare_driver_floor": floor},
                "next_best_actions": {**actions, "suggested": suggested},
                "context_compile": {"cached": cached, "cold": cold_context},
                "first_token_http": first_token,
                "note": "shared 2-core machine: figures are noisy",
            },
            indent=2,
        )
    )


def _first_token(settings: Settings, services: Services) -> dict[str, float]:
    """Time from sending a chat message to its first ``text`` event, through the Litestar host."""
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
    return percentiles(seconds)


if __name__ == "__main__":
    main()
