"""Earnings: the append-only ledger, summaries and tiers."""

from townsquare.core.earnings.models import (
    Correction,
    EarningBalance,
    EarningKind,
    EarningStatus,
    EventType,
    LedgerEvent,
    RecomputeReport,
    Summary,
    TimelineFilter,
    TimelinePage,
    TimelinePosition,
    Totals,
    event_id_for,
)
from townsquare.core.earnings.money import CURRENCIES, MAX_AMOUNT, Money
from townsquare.core.earnings.ports import EarningsLedger
from townsquare.core.earnings.service import LEDGER_WRITER_ROLES, SERVICE_ROLE, EarningsService
from townsquare.core.earnings.tiers import Tier, TierLadder, TierStatus, default_tier_ladder

__all__ = [
    "CURRENCIES",
    "LEDGER_WRITER_ROLES",
    "MAX_AMOUNT",
    "SERVICE_ROLE",
    "Correction",
    "EarningBalance",
    "EarningKind",
    "EarningStatus",
    "EarningsLedger",
    "EarningsService",
    "EventType",
    "LedgerEvent",
    "Money",
    "RecomputeReport",
    "Summary",
    "Tier",
    "TierLadder",
    "TierStatus",
    "TimelineFilter",
    "TimelinePage",
    "TimelinePosition",
    "Totals",
    "default_tier_ladder",
    "event_id_for",
]
