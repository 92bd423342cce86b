"""Deterministic demo data for mock mode and local runs: the same users and content every time.

Each area contributes a ``seed`` function; :func:`seed_demo_data` runs them in order.
"""

from __future__ import annotations

from collections.abc import Callable

from townsquare.bootstrap import Services

DEMO_USERS = {name: name for name in ("alice", "bob", "carol", "admin")}
"""Demo user ids by name: each demo user's id is their name.

So ``townsquare token alice`` mints a token whose ``sub`` is ``alice``, and an admin send with
``"user_id": "bob"`` reaches demo bob. (User ids are any 1-200 printable characters: a name
that is not a demo user is simply another user, with an empty inbox.)
"""

Seeder = Callable[[Services], None]


def seeders() -> list[Seeder]:
    """The seed functions of every area, in dependency order."""
    from townsquare.demo import assistant, composer, earnings, events, feed, jobs, notifications, reports

    # The assistant last but for reports: its conversations call the other areas' operations as
    # tools (the reports demo comes after, so its seeded conversation reads as it did).
    return [
        feed.seed,
        earnings.seed,
        jobs.seed,
        notifications.seed,
        composer.seed,
        events.seed,
        assistant.seed,
        reports.seed,
    ]


def seed_demo_data(services: Services) -> None:
    """Load the demo data (idempotent: seeding twice adds nothing)."""
    for seed in seeders():
        seed(services)
