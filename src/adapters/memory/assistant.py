"""The assistant's memory adapters: memories, conversations and action feedback in process (mock mode)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from attrs import evolve

from townsquare.adapters.memory.database import MemoryDatabase
from townsquare.core.assistant.models import (
    ActionFeedback,
    Conversation,
    Memory,
    MemoryHistoryEntry,
    MemoryVectors,
    Message,
    MessageStatus,
    Role,
    ToolCall,
)


class MemoryUserMemoryStore:
    """Implements :class:`townsquare.core.assistant.ports.MemoryStore` in process memory.

    Memories of a user are kept in insertion order, which is the order ``vectors`` returns
    (ranking does not depend on it: ties break by id).
    """

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._memories: dict[str, dict[str, Memory]] = defaultdict(dict)
        self._versions: dict[str, int] = {}
        self._history: list[MemoryHistoryEntry] = []
        self._seq = itertools.count(1)
        db.on_reset(self._reset)

    def _reset(self) -> None:
        self._memories.clear()
        self._versions.clear()
        self._history.clear()

    def claim_user(self, user_id: str) -> int:
        before = self._versions.get(user_id)
        self._versions[user_id] = (before or 0) + 1

        def undo() -> None:
            if before is None:
                self._versions.pop(user_id, None)
            else:
                self._versions[user_id] = before

        self._db.record_undo(undo)
        return self._versions[user_id]

    def version(self, user_id: str) -> int:
        return self._versions.get(user_id, 0)

    def live_count(self, user_id: str, now: datetime) -> int:
        return sum(1 for memory in self._memories.get(user_id, {}).values() if memory.is_live(now))

    def vectors(self, user_id: str, dims: int) -> MemoryVectors:
        kept = [m for m in self._memories.get(user_id, {}).values() if len(m.embedding) == dims * 4]
        return MemoryVectors(
            ids=tuple(m.id for m in kept),
            data=b"".join(m.embedding for m in kept),
            expires_at=tuple(m.expires_at for m in kept),
            dims=dims,
        )

    def get(self, user_id: str, memory_id: str) -> Memory | None:
        return self._memories.get(user_id, {}).get(memory_id)

    def get_many(self, user_id: str, memory_ids: Sequence[str]) -> list[Memory]:
        own = self._memories.get(user_id, {})
        return [own[i] for i in memory_ids if i in own]

    def add(self, memory: Memory) -> None:
        self._memories[memory.user_id][memory.id] = memory
        own = self._memories[memory.user_id]

        def undo() -> None:
            own.pop(memory.id, None)

        self._db.record_undo(undo)

    def replace(self, memory: Memory) -> None:
        own = self._memories[memory.user_id]
        before = own[memory.id]
        own[memory.id] = memory

        def undo() -> None:
            own[memory.id] = before

        self._db.record_undo(undo)

    def delete(self, user_id: str, memory_id: str) -> None:
        own = self._memories.get(user_id, {})
        before = own.pop(memory_id, None)
        if before is not None:
            self._db.record_undo(lambda: own.__setitem__(memory_id, before))

    def page(self, user_id: str, now: datetime, after: tuple[datetime, str] | None, limit: int) -> list[Memory]:
        live = [m for m in self._memories.get(user_id, {}).values() if m.is_live(now)]
        if after is not None:
            live = [m for m in live if (m.created_at, m.id) < after]
        live.sort(key=lambda m: (m.created_at, m.id), reverse=True)
        return live[:limit]

    def record(self, entry: MemoryHistoryEntry) -> None:
        stored = evolve(entry, seq=next(self._seq))
        self._history.append(stored)
        self._db.record_undo(lambda: self._history.remove(stored))

    def scrub_history(self, user_id: str, memory_id: str) -> None:
        before = list(self._history)
        self._history[:] = [
            evolve(e, text="", previous_text=None) if (e.user_id, e.memory_id) == (user_id, memory_id) else e
            for e in self._history
        ]

        def undo() -> None:
            self._history[:] = before

        self._db.record_undo(undo)

    def history(self, user_id: str, memory_id: str | None, after: int | None, limit: int) -> list[MemoryHistoryEntry]:
        found = [
            e
            for e in reversed(self._history)
            if e.user_id == user_id
            and (memory_id is None or e.memory_id == memory_id)
            and (after is None or e.seq < after)
        ]
        return found[:limit]

    def expired(self, now: datetime, limit: int) -> list[Memory]:
        found = [
            m
            for own in self._memories.values()
            for m in own.values()
            if m.expires_at is not None and m.expires_at <= now
        ]
        found.sort(key=lambda m: (m.expires_at or now, m.id))
        return found[:limit]


class MemoryConversationStore:
    """Implements :class:`townsquare.core.assistant.ports.ConversationStore` in process memory."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._conversations: dict[str, Conversation] = {}
        self._messages: dict[str, list[Message]] = defaultdict(list)
        self._by_id: dict[str, Message] = {}
        db.on_reset(self._reset)

    def _reset(self) -> None:
        self._conversations.clear()
        self._messages.clear()
        self._by_id.clear()

    def add_conversation(self, conversation: Conversation) -> None:
        self._conversations[conversation.id] = conversation

        def undo() -> None:
            self._conversations.pop(conversation.id, None)

        self._db.record_undo(undo)

    def conversation(self, user_id: str, conversation_id: str) -> Conversation | None:
        found = self._conversations.get(conversation_id)
        return found if found is not None and found.user_id == user_id else None

    def lock_conversation(self, user_id: str, conversation_id: str) -> Conversation | None:
        return self.conversation(user_id, conversation_id)  # transactions are serial

    def conversations(self, user_id: str, after: tuple[datetime, str] | None, limit: int) -> list[Conversation]:
        own = [c for c in self._conversations.values() if c.user_id == user_id]
        if after is not None:
            own = [c for c in own if (c.updated_at, c.id) < after]
        own.sort(key=lambda c: (c.updated_at, c.id), reverse=True)
        return own[:limit]

    def touch(self, user_id: str, conversation_id: str, at: datetime) -> None:
        before = self._conversations[conversation_id]
        self._conversations[conversation_id] = evolve(before, updated_at=at)
        self._db.record_undo(lambda: self._conversations.__setitem__(conversation_id, before))

    def last_seq(self, conversation_id: str) -> int:
        messages = self._messages.get(conversation_id)
        return messages[-1].seq if messages else 0

    def add_message(self, message: Message) -> None:
        self._messages[message.conversation_id].append(message)
        self._by_id[message.id] = message

        def undo() -> None:
            self._messages[message.conversation_id].remove(message)
            self._by_id.pop(message.id, None)

        self._db.record_undo(undo)

    def finish_message(
        self,
        message_id: str,
        *,
        content: str,
        status: MessageStatus,
        tool_calls: Sequence[ToolCall],
        error: str | None,
    ) -> None:
        before = self._by_id[message_id]
        after = evolve(before, content=content, status=status, tool_calls=tuple(tool_calls), error=error)
        thread = self._messages[before.conversation_id]
        index = thread.index(before)
        thread[index] = after
        self._by_id[message_id] = after

        def undo() -> None:
            thread[thread.index(after)] = before
            self._by_id[message_id] = before

        self._db.record_undo(undo)

    def messages(self, user_id: str, conversation_id: str, after_seq: int, limit: int) -> list[Message]:
        return [m for m in self._messages.get(conversation_id, []) if m.user_id == user_id and m.seq > after_seq][
            :limit
        ]

    def recent_messages(self, user_id: str, conversation_id: str, limit: int) -> list[Message]:
        own = [m for m in self._messages.get(conversation_id, []) if m.user_id == user_id]
        return own[-limit:]

    def user_messages_since(self, user_id: str, since: datetime) -> int:
        return sum(
            1
            for thread in self._messages.values()
            for m in thread
            if m.user_id == user_id and m.role is Role.USER and m.created_at > since
        )


class MemoryActionFeedbackStore:
    """Implements :class:`townsquare.core.assistant.ports.ActionFeedbackStore` in process memory."""

    def __init__(self, db: MemoryDatabase) -> None:
        self._db = db
        self._feedback: list[ActionFeedback] = []
        db.on_reset(self._feedback.clear)

    def add(self, feedback: ActionFeedback) -> None:
        before = list(self._feedback)
        # One answer per action and instant: a repeat replaces it (as the Postgres key does).
        self._feedback[:] = [
            f
            for f in self._feedback
            if (f.user_id, f.decided_at, f.action_key) != (feedback.user_id, feedback.decided_at, feedback.action_key)
        ]
        self._feedback.append(feedback)

        def undo() -> None:
            self._feedback[:] = before

        self._db.record_undo(undo)

    def since(self, user_id: str, since: datetime) -> list[ActionFeedback]:
        found = [f for f in self._feedback if f.user_id == user_id and f.decided_at >= since]
        return sorted(found, key=lambda f: f.decided_at, reverse=True)
