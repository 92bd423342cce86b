"""Real races on Postgres: concurrent autosaves on one version, due posts published in batches by
eight threads at once, and scheduled posts drained by worker processes while one of them is
killed with SIGKILL mid-publish."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.conftest import postgres_settings
from tests.integration.test_jobs_worker import ROOT, wait_for
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.clock import ManualClock
from townsquare.core.composer import DraftConflict, make_content
from townsquare.core.feed import FeedItem
from townsquare.core.identity import Actor, system_actor
from townsquare.core.jobs import JobStatus
from townsquare.hosts.worker.host import WorkerOptions
from townsquare.hosts.worker.main import run_worker

OPERATOR = system_actor("tests")


pytestmark = pytest.mark.postgres


def run_together(target: Callable[[int], None], count: int, timeout: float) -> list[threading.Thread]:
    """Run ``target(0..count-1)`` in as many threads at once and wait for them (up to ``timeout`` each)."""
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return threads


def every_feed_item(services: Services) -> list[FeedItem]:
    """Every item in a reader's home feed, page after page."""
    page = services.feed.home(Actor("reader"), limit=100)
    items = list(page.items)
    while page.next_cursor is not None:
        page = services.feed.home(Actor("reader"), cursor=page.next_cursor, limit=100)
        items.extend(page.items)
    return items


def test_twenty_concurrent_autosaves_on_one_version_exactly_one_wins(pg_url: str) -> None:
    # Given a draft at version 1 and twenty writers that all read version 1
    services = bootstrap(attrs.evolve(postgres_settings(pg_url), database_pool_size=20))
    alice = Actor("alice")
    draft = services.composer.create(alice, make_content("Race", "v1"))
    barrier = threading.Barrier(20)
    won: list[int] = []
    lost: list[int] = []

    def writer(number: int) -> None:
        content = make_content("Race", f"writer {number}")
        barrier.wait()
        try:
            services.composer.save(alice, draft.draft_id, 1, content)
            won.append(number)
        except DraftConflict as conflict:
            assert conflict.current.version == 2
            lost.append(number)

    # When they all save at once
    try:
        run_together(writer, 20, timeout=60)
        # Then exactly one save won, the others were told of version 2, and it holds the winner's text
        assert len(won) == 1 and len(lost) == 19
        final = services.composer.get(alice, draft.draft_id)
        assert final.version == 2 and final.content.body == f"writer {won[0]}"
    finally:
        services.close()


def test_eight_threads_publishing_due_posts_in_batches_publish_each_exactly_once(pg_url: str) -> None:
    # Given 300 posts of 10 authors, all due
    services = bootstrap(attrs.evolve(postgres_settings(pg_url), database_pool_size=10))
    now = datetime.now(UTC)
    past = bootstrap(postgres_settings(pg_url), clock=ManualClock(now - timedelta(minutes=3)))
    when = (now - timedelta(minutes=1)).replace(tzinfo=None)
    scheduled = {}
    for number in range(300):
        author = Actor(f"author-{number % 10}")
        created = past.composer.create(author, make_content(f"post {number}", "due"))
        scheduled[created.draft_id] = past.composer.schedule(author, created.draft_id, 1, when, "UTC").version
    past.close()
    order = list(scheduled)
    barrier = threading.Barrier(8)
    returned: list[str] = []
    failures: list[BaseException] = []

    def worker(number: int) -> None:
        barrier.wait()
        try:  # each thread runs its share of the jobs, in an order the others don't share
            for draft_id in order[number::8]:
                item = services.composer.publish_scheduled(draft_id, scheduled[draft_id])
                if item is not None:
                    returned.append(item.item_id)
        except BaseException as error:
            failures.append(error)

    # When eight threads run the posts' jobs at once, each job taking due posts along in a batch
    try:
        threads = run_together(worker, 8, timeout=120)
        # Then nothing failed or waited forever, and every post is in the feed exactly once
        assert not failures and not any(thread.is_alive() for thread in threads)
        assert len(returned) == len(set(returned))
        items = every_feed_item(services)
        assert sorted(item.item_id for item in items) == sorted(f"post:{draft_id}" for draft_id in scheduled)
        # And the batches did the work: far fewer jobs published than there were posts
        assert len(returned) < len(scheduled)
        assert all(not services.composer.list_mine(Actor(f"author-{n}"), limit=1).drafts for n in range(10))
    finally:
        services.close()


def publishing_worker(url: str, published: str, slow: bool) -> None:
    """Child process: the real ``run_worker`` (2 s lease); appends "pid draft_id" to ``published``
    for each draft a scheduled publish committed, its own and the due ones its batch took along.
    ``slow`` holds each batch's transaction open a moment (its drafts locked, nothing committed)
    and marks ``published.inflight`` first, so a SIGKILL lands mid-publish."""

    def setup(services: Services) -> None:
        composer = services.composer
        publish = composer.publish_scheduled
        publish_batch = services.feed.publish_batch
        batched = threading.local()

        def recording_batch(actor: Actor, posts: Any) -> list[FeedItem]:
            items = publish_batch(actor, posts)
            if slow:
                with open(published + ".inflight", "a") as file:
                    file.write(f"{os.getpid()}\n")
                time.sleep(1.0)  # inside the publish transaction, the batch's drafts locked
            batched.items = items
            return items

        def recording(draft_id: str, version: int) -> object:
            batched.items = []
            item = publish(draft_id, version)
            if item is not None:  # committed: record the draft and the batch it took along
                drafts = [draft_id, *(taken.item_id.removeprefix("post:") for taken in batched.items)]
                with open(published, "a") as file:  # one short append: atomic between processes
                    file.write("".join(f"{os.getpid()} {published_id}\n" for published_id in drafts))
            return item

        services.feed.publish_batch = recording_batch  # type: ignore[method-assign]
        composer.publish_scheduled = recording  # type: ignore[method-assign]
        with open(published + ".ready", "a") as file:
            file.write(f"{os.getpid()}\n")

    options = WorkerOptions(
        threads=4,
        claim_batch=20,
        poll_interval=0.05,
        schedule_interval=0.2,
        lease=timedelta(seconds=2),
        worker_timeout=timedelta(seconds=3),
    )
    run_worker(attrs.evolve(postgres_settings(url), log_json=False), options=options, setup=setup)


def test_scheduled_posts_drained_by_three_workers_one_killed_publish_exactly_once(pg_url: str, tmp_path: Path) -> None:
    # Given 240 drafts of 8 authors, scheduled a minute ago on the workers' (wall) clock
    now = datetime.now(UTC)
    services = bootstrap(postgres_settings(pg_url), clock=ManualClock(now - timedelta(minutes=3)))
    when = (now - timedelta(minutes=1)).replace(tzinfo=None)
    scheduled = {}
    for number in range(240):
        author = Actor(f"author-{number % 8}")
        draft = services.composer.create(author, make_content(f"post {number}", "scheduled"))
        scheduled[draft.draft_id] = services.composer.schedule(author, draft.draft_id, 1, when, "UTC").version
    published = tmp_path / "published"
    ready = tmp_path / "published.ready"

    def completed() -> int:
        counts = {entry.job_type: entry.counts for entry in services.jobs.stats(OPERATOR).by_type}
        return counts["composer.publish_scheduled"][JobStatus.COMPLETED]

    def start(slow: bool) -> subprocess.Popen[bytes]:
        code = (
            "from tests.integration.test_composer_races import publishing_worker; "
            f"publishing_worker({pg_url!r}, {str(published)!r}, {slow!r})"
        )
        return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.DEVNULL)

    # When three workers drain them, and the slow one is killed with SIGKILL mid-way
    victim = start(slow=True)
    wait_for(lambda: ready.exists() and len(ready.read_text().split()) == 1, 60, "the first worker")
    inflight = tmp_path / "published.inflight"
    wait_for(inflight.exists, 60, "the first worker's first batch")
    others = [start(slow=False) for _ in range(2)]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    try:
        wait_for(
            lambda: all(not services.composer.list_mine(Actor(f"author-{n}"), limit=1).drafts for n in range(8)),
            90,
            "every draft to publish",
        )
        # The killed worker's jobs are offered again after its lease and worker timeout; they
        # find their drafts published and complete without publishing.
        wait_for(lambda: completed() == 240, 90, "every publish job to complete")
    finally:
        for child in others:
            child.send_signal(signal.SIGTERM)
        for child in others:
            child.wait(timeout=30)
    # Then every draft was published exactly once: each post id once in the feed, no publish twice
    lines = [line.split() for line in published.read_text().splitlines()]
    recorded = [draft_id for _pid, draft_id in lines]
    assert len(recorded) == len(set(recorded))
    assert set(recorded) <= set(scheduled)
    items = every_feed_item(services)
    assert sorted(item.item_id for item in items) == sorted(f"post:{draft_id}" for draft_id in scheduled)
    # And the killed worker's claimed jobs were taken over after their lease (none lost, none dead)
    assert completed() == 240
    assert {int(pid) for pid, _ in lines} - {victim.pid}, "the survivors published too"
    rescued = []
    jobs = services.jobs.list_jobs(OPERATOR, JobStatus.COMPLETED, limit=200, job_type="composer.publish_scheduled")
    while True:
        rescued += [job for job in jobs.jobs if job.attempts > 1]
        if jobs.next_cursor is None:
            break
        jobs = services.jobs.list_jobs(
            OPERATOR, JobStatus.COMPLETED, limit=200, cursor=jobs.next_cursor, job_type="composer.publish_scheduled"
        )
    assert rescued and all(job.errors[0].message.startswith("lease expired") for job in rescued)
    services.close()
