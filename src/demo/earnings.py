"""Demo earnings: a few months of alice's sales, tips and subscriptions, and a little for bob.

Every event has a fixed idempotency key, so seeding again replays the same events and adds
nothing. Amounts are chosen so alice is Silver and part of the way to Gold.
"""

from __future__ import annotations

from townsquare.bootstrap import Services
from townsquare.core.identity import Actor

SEEDER = Actor("demo-seeder", roles=["service"])

# (key, kind, amount in cents, currency, captured cents or None, refunded cents, voided)
_ALICE = [
    ("alice-sale-1", "sale", 249_00, "USD", 249_00, 0, False),
    ("alice-sale-2", "sale", 1_299_00, "USD", 1_299_00, 150_00, False),
    ("alice-tip-1", "tip", 5_00, "USD", 5_00, 0, False),
    ("alice-sub-1", "subscription", 9_99, "USD", 9_99, 0, False),
    ("alice-ticket-1", "ticket", 450_00, "USD", 300_00, 0, False),
    ("alice-sale-3", "sale", 89_00, "USD", None, 0, True),
    ("alice-sale-4", "sale", 175_00, "USD", None, 0, False),
    ("alice-sale-eu-1", "sale", 320_00, "EUR", 320_00, 20_00, False),
]
_BOB = [
    ("bob-tip-1", "tip", 3_00, "USD", 3_00, 0, False),
    ("bob-sale-1", "sale", 60_00, "USD", None, 0, False),
]


def seed(services: Services) -> None:
    """Record the demo ledger (idempotent)."""
    from townsquare.demo import DEMO_USERS

    for creator, rows in ((DEMO_USERS["alice"], _ALICE), (DEMO_USERS["bob"], _BOB)):
        for key, kind, amount, currency, captured, refunded, voided in rows:
            earning = services.earnings.record(
                SEEDER, creator_id=creator, kind=kind, amount=amount, currency=currency, idempotency_key=key
            )
            if captured:
                services.earnings.capture(
                    SEEDER, earning.id, currency=currency, amount=captured, idempotency_key=f"{key}:capture"
                )
            if refunded:
                services.earnings.refund(
                    SEEDER,
                    earning.id,
                    currency=currency,
                    amount=refunded,
                    reason="customer returned the item",
                    idempotency_key=f"{key}:refund",
                )
            if voided:
                services.earnings.void(SEEDER, earning.id, idempotency_key=f"{key}:void")
