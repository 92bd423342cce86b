"""The assistant's periodic work: pruning memories whose expiry has passed."""

from __future__ import annotations

from datetime import timedelta

from townsquare.core.assistant.memory import MemoryService
from townsquare.core.jobs.handlers import JobContext, JobHandlers

PRUNE_MEMORIES_JOB = "assistant.prune_memories"


def register_assistant_jobs(
    handlers: JobHandlers, memory: MemoryService, *, every: timedelta = timedelta(minutes=10)
) -> None:
    """Register and schedule ``assistant.prune_memories`` (idempotent: pruning twice deletes nothing more)."""

    def prune(context: JobContext) -> dict[str, object]:
        total = 0
        while True:
            pruned = memory.prune_expired(limit=500)
            total += pruned
            if pruned < 500:
                return {"pruned": total}
            context.heartbeat()

    handlers.register(PRUNE_MEMORIES_JOB, prune, description="delete assistant memories past their expiry")
    handlers.schedule(PRUNE_MEMORIES_JOB, every)
