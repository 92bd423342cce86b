"""Deterministic demo data for mock mode and local runs: the same users and content every time.

Each area contributes a ``seed`` function; :func:`seed_demo_data` runs them in order.
"""

from __future__ import annotations

from collections.abc import Callable

from townsquare.bootstrap import Services

DEMO_USERS = {
    "alice": "00000000-0000-4000-8000-00000000a11c",
    "bob": "00000000-0000-4000-8000-000000000b0b",
    "carol": "00000000-0000-4000-8000-0000000ca201",
    "admin": "00000000-0000-4000-8000-0000000ad111",
}
"""Demo user ids by name; ``townsquare token alice`` mints a token for one of them."""

Seeder = Callable[[Services], None]


def seeders() -> list[Seeder]:
    """The seed functions of every area, in dependency order."""
    from townsquare.demo import earnings, feed, jobs, notifications

    return [feed.seed, earnings.seed, jobs.seed, notifications.seed]


def seed_demo_data(services: Services) -> None:
    """Load the demo data (idempotent: seeding twice adds nothing)."""
    for seed in seeders():
        seed(services)
