"""Reports: a producer's stats (from the ledger, daily in their time zone), reconciliation lists,
bulk refunds and cancellations as jobs, and exports."""

from townsquare.core.reports.bulk import (
    BulkAction,
    BulkCandidate,
    BulkFailure,
    BulkKind,
    BulkPreview,
    BulkProgress,
    BulkReport,
)
from townsquare.core.reports.models import (
    MAX_DAYS,
    CapacityUse,
    DayRange,
    DayStats,
    FigureRow,
    LedgerLine,
    MoneyTotals,
    ProducerStats,
    RegistrationFilter,
    make_range,
)
from townsquare.core.reports.ports import BulkActionStore, ReportStore, WaitlistDemand
from townsquare.core.reports.service import BULK_ACTION, ReportService

__all__ = [
    "BULK_ACTION",
    "MAX_DAYS",
    "BulkAction",
    "BulkActionStore",
    "BulkCandidate",
    "BulkFailure",
    "BulkKind",
    "BulkPreview",
    "BulkProgress",
    "BulkReport",
    "CapacityUse",
    "DayRange",
    "DayStats",
    "FigureRow",
    "LedgerLine",
    "MoneyTotals",
    "ProducerStats",
    "RegistrationFilter",
    "ReportService",
    "ReportStore",
    "WaitlistDemand",
    "make_range",
]
