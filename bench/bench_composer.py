"""Composer benchmark: autosaves with 8 writers, entity search over 1,000,000 entities, and the
drain of due scheduled posts through the real worker host; each beside its bare-driver floor.

Run: ``.venv/bin/python bench/bench_composer.py`` (``BENCH_SCALE=0.1`` for a quick run). It drops
and recreates the database ``bench_composer`` on ``BENCH_PG`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``) and prints one JSON document.

Floors: autosave, the same ``UPDATE`` sent by psycopg on 8 autocommit connections (one round
trip, no unit of work); search, the handle-prefix tier's statement alone on one psycopg
connection; drain, as many no-op jobs through the same worker host.
"""

from __future__ import annotations

import json
import random
import string
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import text

from common import SCALE, database_dsn, fresh_database, percentiles, scaled
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.composer import make_content
from townsquare.core.identity import Actor
from townsquare.core.jobs import JobRequest
from townsquare.hosts.worker.broker import setup_broker
from townsquare.hosts.worker.host import WorkerHost, WorkerOptions
from townsquare.settings import PortsMode, Settings

DATABASE = "bench_composer"
WRITERS = 8
NOOP = "bench.noop"
_VOCABULARY = [
    "amber", "basalt", "cedar", "delta", "ember", "fjord", "glaze", "harbor", "indigo", "juniper",
    "kiln", "linen", "maple", "nectar", "oak", "pebble", "quartz", "river", "saffron", "thistle",
    "umber", "velvet", "willow", "xenon", "yarrow", "zephyr", "studio", "market", "bowl", "print",
]  # fmt: skip
# 1,000,000 entities in one statement: handles are a vocabulary word and hex digits, names two
# or three vocabulary words; words, lowercase name and handle as the core would compute them.
_ENTITIES = """
INSERT INTO composer_entities (kind, entity_id, handle, name, name_lower, words, owner_id, visibility)
SELECT kind, 'e' || n, handle, name, name, array_to_tsvector(string_to_array(name, ' ')), 'owner-' || (n %% 5000),
       CASE WHEN n %% 50 = 0 THEN 'private' ELSE 'public' END
FROM (
    SELECT n,
           (ARRAY['creator', 'product', 'event'])[1 + n %% 3] AS kind,
           v[1 + (n * 7) %% 30] || substr(md5(n::text), 1, 6) AS handle,
           v[1 + n %% 30] || ' ' || v[1 + (n / 30) %% 30]
               || CASE WHEN n %% 2 = 0 THEN ' ' || v[1 + (n / 900) %% 30] ELSE '' END AS name
    FROM generate_series(1, %(count)s) AS n, (SELECT CAST(%(vocabulary)s AS text[]) AS v) AS vocabulary
) AS generated
"""
_INDEXES = [
    "CREATE INDEX composer_entities_walk ON composer_entities (handle, kind, entity_id)"
    " INCLUDE (visibility, owner_id, words, name_lower)",
    "CREATE INDEX composer_entities_words ON composer_entities USING gin (words)",
    "CREATE INDEX composer_entities_handle_trgm ON composer_entities USING gin (handle gin_trgm_ops)",
    "CREATE INDEX composer_entities_name_trgm ON composer_entities USING gin (name_lower gin_trgm_ops)",
]
_BARE_SAVE = (
    "UPDATE composer_drafts SET version = version + 1, body = %s, updated_at = now() "
    "WHERE draft_id = %s AND author_id = %s AND version = %s RETURNING version"
)
_BARE_PREFIX = (
    "SELECT kind, entity_id, handle, name FROM composer_entities e WHERE e.handle >= %s AND e.handle < %s "
    "AND e.kind = ANY(%s) AND (e.visibility = 'public' OR e.owner_id = %s) "
    "ORDER BY e.handle, e.kind, e.entity_id LIMIT 10"
)


def owner_execute(url: str, *statements: str, **params: Any) -> float:
    """Run statements as the tables' owner (the login role); returns the seconds taken."""
    started = time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement, params or None)
    return time.perf_counter() - started


def in_threads(count: int, work: Any) -> float:
    """Run ``work(index)`` on ``count`` threads started together; returns the wall seconds."""
    barrier = threading.Barrier(count + 1)

    def run(index: int) -> None:
        barrier.wait()
        work(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def bench_autosave(services: Services, url: str, saves: int) -> dict[str, Any]:
    per_writer = saves // WRITERS
    authors = [Actor(f"writer-{n}") for n in range(WRITERS)]
    drafts = [services.composer.create(author, make_content("Autosave", "")) for author in authors]

    def writer(index: int) -> None:
        author, draft = authors[index], drafts[index]
        version = draft.version
        for n in range(per_writer):
            version = services.composer.save(
                author, draft.draft_id, version, make_content("Autosave", f"text {n}")
            ).version

    seconds = in_threads(WRITERS, writer)
    dsn = database_dsn(DATABASE)
    bare = [psycopg.connect(dsn, autocommit=True) for _ in range(WRITERS)]
    versions = [
        services.composer.get(author, draft.draft_id).version for author, draft in zip(authors, drafts, strict=True)
    ]

    def bare_writer(index: int) -> None:
        conn, draft, version = bare[index], drafts[index], versions[index]
        for n in range(per_writer):
            row = conn.execute(_BARE_SAVE, (f"bare {n}", draft.draft_id, draft.author_id, version)).fetchone()
            assert row is not None
            version = row[0]

    bare_seconds = in_threads(WRITERS, bare_writer)
    for conn in bare:
        conn.close()
    return {
        "writers": WRITERS,
        "saves": per_writer * WRITERS,
        "saves_per_s": round(per_writer * WRITERS / seconds, 1),
        "floor_bare_update_per_s": round(per_writer * WRITERS / bare_seconds, 1),
        "target_per_s": 2000,
    }


def bench_search(services: Services, url: str, entities: int, samples: int) -> dict[str, Any]:
    owner_execute(url, "TRUNCATE composer_entities", *(f"DROP INDEX {i.split()[2]}" for i in _INDEXES))
    generated = owner_execute(url, _ENTITIES, count=entities, vocabulary=_VOCABULARY)
    indexed = owner_execute(url, *_INDEXES, "VACUUM ANALYZE composer_entities")
    searcher = Actor("searcher")
    with services.uow.transaction():
        conn = services.feed._store._db.connection()  # type: ignore[attr-defined]
        conn.execute(
            text(
                "INSERT INTO feed_follows (follower_id, creator_id, followed_at) "
                "SELECT 'searcher', 'e' || (n * 3), now() FROM generate_series(1, 50) AS n"
            )
        )
    rng = random.Random(7)
    alphabet = string.ascii_lowercase + string.digits
    figures: dict[str, Any] = {"entities": entities, "generate_s": round(generated, 1), "index_s": round(indexed, 1)}
    bare = psycopg.connect(database_dsn(DATABASE), autocommit=True)
    for length in (1, 2, 3):
        queries = ["".join(rng.choice(alphabet) for _ in range(length)) for _ in range(samples)]
        for q in queries[:20]:  # warm the caches and plans
            services.entity_search.search(searcher, q)
        timings, hits = [], 0
        for q in queries:
            started = time.perf_counter()
            hits += len(services.entity_search.search(searcher, q))
            timings.append(time.perf_counter() - started)
        floor = []
        for q in queries:
            started = time.perf_counter()
            bare.execute(
                _BARE_PREFIX, (q, q[:-1] + chr(ord(q[-1]) + 1), ["creator", "product", "event"], "searcher")
            ).fetchall()
            floor.append(time.perf_counter() - started)
        figures[f"prefix_{length}"] = {
            **percentiles(timings),
            "mean_hits": round(hits / len(queries), 1),
            "floor_bare_prefix_tier": percentiles(floor),
        }
    bare.close()
    figures["target_p95_ms"] = 20
    return figures


def bench_drain(services: Services, url: str, posts: int) -> dict[str, Any]:
    # Scheduled a minute ago on the worker's (wall) clock: the schedules are made on a clock
    # three minutes behind it, so every post is due as the worker starts.
    now = datetime.now(UTC)
    past = bootstrap(services.settings, clock=ManualClock(now - timedelta(minutes=3)))
    when = (now - timedelta(minutes=1)).replace(tzinfo=None)
    for number in range(posts):
        author = Actor(f"author-{number % 100}")
        draft = past.composer.create(author, make_content(f"post {number}", "scheduled body"))
        past.composer.schedule(author, draft.draft_id, 1, when, "UTC")
    past.close()
    owner_execute(url, "VACUUM ANALYZE composer_drafts, jobs")

    def drained(*remaining: str) -> list[float]:
        """Seconds from the worker's start until each count in turn reaches zero."""
        broker = setup_broker(services.settings, namespace=f"bench-{random.randrange(1 << 30)}")
        host = WorkerHost(services, broker, WorkerOptions(threads=8, queue_name="bench_composer"))
        started = time.perf_counter()
        host.start()
        seconds = []
        try:
            for count in remaining:
                while True:
                    with services.uow.transaction():
                        left = services.feed._store._db.connection().execute(text(count)).scalar()  # type: ignore[attr-defined]
                    if not left:
                        break
                    time.sleep(0.01)
                seconds.append(time.perf_counter() - started)
            return seconds
        finally:
            host.stop()
            broker.close()

    # A publish job takes the other due posts along (ComposerService.publish_scheduled): the
    # posts are all in the feed before the last of their jobs has run (and found nothing to do).
    published, jobs_done = drained(
        "SELECT count(*) FROM composer_drafts WHERE publish_at IS NOT NULL",
        "SELECT count(*) FROM jobs WHERE job_type = 'composer.publish_scheduled' AND status <> 'completed'",
    )
    services.jobs.enqueue_many([JobRequest(job_type=NOOP) for _ in range(posts)])
    (floor,) = drained("SELECT count(*) FROM jobs WHERE job_type = 'bench.noop' AND status <> 'completed'")
    return {
        "posts": posts,
        "posts_per_s": round(posts / published, 1),
        "publish_jobs_done_per_s": round(posts / jobs_done, 1),
        "floor_noop_jobs_per_s": round(posts / floor, 1),
        "broker": "stub (in process)",
        "threads": 8,
        "target_per_s": 1000,
    }


def main() -> None:
    url = fresh_database(DATABASE)
    settings = Settings(ports_mode=PortsMode.POSTGRES, database_url=url, seed_demo_data=False, database_pool_size=10)
    services = bootstrap(settings)
    services.job_handlers.register(NOOP, lambda _context: None)
    figures: dict[str, Any] = {"scale": SCALE}
    figures["autosave"] = bench_autosave(services, url, scaled(16_000))
    figures["search"] = bench_search(services, url, scaled(1_000_000), scaled(300))
    figures["scheduled_drain"] = bench_drain(services, url, scaled(2_000))
    services.close()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
