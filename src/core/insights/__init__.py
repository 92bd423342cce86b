"""Creator insights: missed opportunities and what-if projections over the ledger and commerce signals."""

from townsquare.core.insights.opportunities import (
    Assumptions,
    Opportunity,
    OpportunityKind,
    Projection,
    Signals,
    missed_opportunities,
    project,
    round_half_up,
)
from townsquare.core.insights.service import STALE_CART, InsightsService

__all__ = [
    "STALE_CART",
    "Assumptions",
    "InsightsService",
    "Opportunity",
    "OpportunityKind",
    "Projection",
    "Signals",
    "missed_opportunities",
    "project",
    "round_half_up",
]
