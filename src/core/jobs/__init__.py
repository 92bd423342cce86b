"""Jobs: a durable queue with retries, leases, a dead-letter queue and periodic schedules.

Other areas use :class:`JobService` (``services.jobs``) to enqueue, and register their
handlers on :class:`JobHandlers` (``services.job_handlers``) in the composition root.
"""

from townsquare.core.jobs.builtin import POISON_TEST_JOB, PRUNE_JOB, register_builtin_jobs
from townsquare.core.jobs.handlers import Handler, HandlerEntry, JobContext, JobHandlers, Schedule
from townsquare.core.jobs.models import (
    CANCELLABLE,
    ClaimedJob,
    DeadLetterFilter,
    FailureUpdate,
    Job,
    JobError,
    JobStats,
    JobStatus,
    Lease,
    NewJob,
    Outcome,
    RescueReport,
    StrandedJob,
    TypeControl,
    TypeCounts,
    ascii_lower,
)
from townsquare.core.jobs.policy import LeasePolicy, RetryPolicy
from townsquare.core.jobs.ports import JobStore, JobWakeups
from townsquare.core.jobs.runner import BackgroundRunner, ClockDrivenRunner, JobRunner, RunReport, execute
from townsquare.core.jobs.service import (
    JobCancelled,
    JobPage,
    JobRequest,
    JobService,
    LeaseLost,
    RecordReport,
    normalize_payload,
)

__all__ = [
    "CANCELLABLE",
    "POISON_TEST_JOB",
    "PRUNE_JOB",
    "BackgroundRunner",
    "ClaimedJob",
    "ClockDrivenRunner",
    "DeadLetterFilter",
    "FailureUpdate",
    "Handler",
    "HandlerEntry",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobError",
    "JobHandlers",
    "JobPage",
    "JobRequest",
    "JobRunner",
    "JobService",
    "JobStats",
    "JobStatus",
    "JobStore",
    "JobWakeups",
    "Lease",
    "LeaseLost",
    "LeasePolicy",
    "NewJob",
    "Outcome",
    "RecordReport",
    "RescueReport",
    "RetryPolicy",
    "RunReport",
    "Schedule",
    "StrandedJob",
    "TypeControl",
    "TypeCounts",
    "ascii_lower",
    "execute",
    "normalize_payload",
    "register_builtin_jobs",
]
