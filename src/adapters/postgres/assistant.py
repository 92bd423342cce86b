"""The assistant's Postgres stores (migration 0012_assistant): named parameters, rows through ``from_row``.

Recall loads a user's embeddings as one aggregated row (ids, the embeddings concatenated,
expiries), which costs a fraction of fetching 10,000 rows one by one; the core ranks them.
The three aggregates of one query see the rows in the same order, so they line up without an
``ORDER BY`` (which sorted 10 MB per load).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from townsquare.adapters.postgres.database import PgDatabase
from townsquare.core.assistant.models import (
    ActionFeedback,
    Conversation,
    Decision,
    Memory,
    MemoryEvent,
    MemoryHistoryEntry,
    MemoryVectors,
    Message,
    MessageStatus,
    Role,
    ToolCall,
)

ASSISTANT_TABLES = (
    "assistant_messages",
    "assistant_conversations",
    "assistant_action_feedback",
    "assistant_memory_history",
    "assistant_memories",
    "assistant_memory_heads",
)
"""Every table of the assistant, children first (for TRUNCATE in benchmarks)."""

_MEMORY = "id, user_id, text, embedding, created_at, updated_at, expires_at, version"


def memory_from_row(row: Row[Any]) -> Memory:
    return Memory(
        id=str(row.id),
        user_id=row.user_id,
        text=row.text,
        embedding=bytes(row.embedding),
        created_at=row.created_at,
        updated_at=row.updated_at,
        expires_at=row.expires_at,
        version=row.version,
    )


def history_from_row(row: Row[Any]) -> MemoryHistoryEntry:
    return MemoryHistoryEntry(
        seq=row.seq,
        memory_id=str(row.memory_id),
        user_id=row.user_id,
        event=MemoryEvent(row.event),
        text=row.text,
        previous_text=row.previous_text,
        at=row.at,
    )


_CLAIM = text(
    "INSERT INTO assistant_memory_heads AS h (user_id, version) VALUES (:user_id, 1) "
    "ON CONFLICT (user_id) DO UPDATE SET version = h.version + 1 RETURNING version"
)
_VERSION = text("SELECT version FROM assistant_memory_heads WHERE user_id = :user_id")
_LIVE_COUNT = text(
    "SELECT count(*) FROM assistant_memories WHERE user_id = :user_id AND (expires_at IS NULL OR expires_at > :now)"
)
_VECTORS = text(
    """
    SELECT array_agg(id::text) AS ids, string_agg(embedding, ''::bytea) AS data, array_agg(expires_at) AS expires
    FROM assistant_memories WHERE user_id = :user_id AND dims = :dims
    """
)
_GET = text(f"SELECT {_MEMORY} FROM assistant_memories WHERE user_id = :user_id AND id = :id")
_GET_MANY = text(f"SELECT {_MEMORY} FROM assistant_memories WHERE user_id = :user_id AND id = ANY(:ids)").bindparams(
    bindparam("ids", type_=ARRAY(UUID(as_uuid=False)))
)
_ADD = text(
    f"""
    INSERT INTO assistant_memories ({_MEMORY}, dims)
    VALUES (:id, :user_id, :text, :embedding, :created_at, :updated_at, :expires_at, :version, :dims)
    """
)
_REPLACE = text(
    """
    UPDATE assistant_memories SET text = :text, embedding = :embedding, dims = :dims, updated_at = :updated_at,
           expires_at = :expires_at, version = :version
    WHERE user_id = :user_id AND id = :id
    """
)
_DELETE = text("DELETE FROM assistant_memories WHERE user_id = :user_id AND id = :id")
_PAGE = text(
    f"""
    SELECT {_MEMORY} FROM assistant_memories
    WHERE user_id = :user_id AND (expires_at IS NULL OR expires_at > :now)
      AND (CAST(:after_at AS timestamptz) IS NULL OR (created_at, id) < (:after_at, CAST(:after_id AS uuid)))
    ORDER BY created_at DESC, id DESC LIMIT :limit
    """
)
_RECORD = text(
    """
    INSERT INTO assistant_memory_history (memory_id, user_id, event, text, previous_text, at)
    VALUES (:memory_id, :user_id, :event, :text, :previous_text, :at)
    """
)
_SCRUB = text(
    "UPDATE assistant_memory_history SET text = '', previous_text = NULL WHERE user_id = :user_id AND memory_id = :id"
)
_HISTORY = text(
    """
    SELECT seq, memory_id, user_id, event, text, previous_text, at FROM assistant_memory_history
    WHERE user_id = :user_id AND (CAST(:memory_id AS uuid) IS NULL OR memory_id = CAST(:memory_id AS uuid))
      AND (CAST(:after AS bigint) IS NULL OR seq < :after)
    ORDER BY seq DESC LIMIT :limit
    """
)
_EXPIRED = text(
    f"SELECT {_MEMORY} FROM assistant_memories WHERE expires_at <= :now ORDER BY expires_at, id LIMIT :limit"
)


class PgUserMemoryStore:
    """Implements :class:`townsquare.core.assistant.ports.MemoryStore` over ``assistant_memories``."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def _run(self, statement: Any, **params: Any) -> Any:
        return self._db.connection().execute(statement, params)

    def claim_user(self, user_id: str) -> int:
        return int(self._run(_CLAIM, user_id=user_id).scalar_one())

    def version(self, user_id: str) -> int:
        return int(self._run(_VERSION, user_id=user_id).scalar() or 0)

    def live_count(self, user_id: str, now: datetime) -> int:
        return int(self._run(_LIVE_COUNT, user_id=user_id, now=now).scalar_one())

    def vectors(self, user_id: str, dims: int) -> MemoryVectors:
        row = self._run(_VECTORS, user_id=user_id, dims=dims).one()
        if row.ids is None:
            return MemoryVectors(ids=(), data=b"", expires_at=(), dims=dims)
        return MemoryVectors(ids=tuple(row.ids), data=bytes(row.data), expires_at=tuple(row.expires), dims=dims)

    def get(self, user_id: str, memory_id: str) -> Memory | None:
        row = self._run(_GET, user_id=user_id, id=memory_id).first()
        return None if row is None else memory_from_row(row)

    def get_many(self, user_id: str, memory_ids: Sequence[str]) -> list[Memory]:
        return [memory_from_row(row) for row in self._run(_GET_MANY, user_id=user_id, ids=list(memory_ids))]

    def add(self, memory: Memory) -> None:
        self._run(_ADD, **_memory_params(memory))

    def replace(self, memory: Memory) -> None:
        self._run(_REPLACE, **_memory_params(memory))

    def delete(self, user_id: str, memory_id: str) -> None:
        self._run(_DELETE, user_id=user_id, id=memory_id)

    def page(self, user_id: str, now: datetime, after: tuple[datetime, str] | None, limit: int) -> list[Memory]:
        after_at, after_id = after if after is not None else (None, None)
        rows = self._run(_PAGE, user_id=user_id, now=now, after_at=after_at, after_id=after_id, limit=limit)
        return [memory_from_row(row) for row in rows]

    def record(self, entry: MemoryHistoryEntry) -> None:
        self._run(
            _RECORD,
            memory_id=entry.memory_id,
            user_id=entry.user_id,
            event=entry.event.value,
            text=entry.text,
            previous_text=entry.previous_text,
            at=entry.at,
        )

    def scrub_history(self, user_id: str, memory_id: str) -> None:
        self._run(_SCRUB, user_id=user_id, id=memory_id)

    def history(self, user_id: str, memory_id: str | None, after: int | None, limit: int) -> list[MemoryHistoryEntry]:
        rows = self._run(_HISTORY, user_id=user_id, memory_id=memory_id, after=after, limit=limit)
        return [history_from_row(row) for row in rows]

    def expired(self, now: datetime, limit: int) -> list[Memory]:
        return [memory_from_row(row) for row in self._run(_EXPIRED, now=now, limit=limit)]


def _memory_params(memory: Memory) -> dict[str, Any]:
    return {
        "id": memory.id,
        "user_id": memory.user_id,
        "text": memory.text,
        "embedding": memory.embedding,
        "dims": len(memory.embedding) // 4,
        "created_at": memory.created_at,
        "updated_at": memory.updated_at,
        "expires_at": memory.expires_at,
        "version": memory.version,
    }


# -- conversations ---------------------------------------------------------------------------

_CONVERSATION = "id, user_id, title, created_at, updated_at"
_MESSAGE = (
    "id, conversation_id, user_id, seq, role, content, status, created_at, tool_calls, tool_call_id, tool_name, "
    "tool_ok, error"
)


def conversation_from_row(row: Row[Any]) -> Conversation:
    return Conversation(
        id=str(row.id), user_id=row.user_id, title=row.title, created_at=row.created_at, updated_at=row.updated_at
    )


def message_from_row(row: Row[Any]) -> Message:
    return Message(
        id=str(row.id),
        conversation_id=str(row.conversation_id),
        user_id=row.user_id,
        seq=row.seq,
        role=Role(row.role),
        content=row.content,
        status=MessageStatus(row.status),
        created_at=row.created_at,
        tool_calls=tuple(ToolCall(id=c["id"], name=c["name"], arguments=c["arguments"]) for c in row.tool_calls),
        tool_call_id=row.tool_call_id,
        tool_name=row.tool_name,
        tool_ok=row.tool_ok,
        error=row.error,
    )


def _calls_json(calls: Sequence[ToolCall]) -> str:
    return json.dumps(
        [
            {
                "id": c.id,
                "name": c.name,
                "arguments": c.arguments if isinstance(c.arguments, str) else dict(c.arguments),
            }
            for c in calls
        ]
    )


_ADD_CONVERSATION = text(
    f"INSERT INTO assistant_conversations ({_CONVERSATION}) VALUES (:id, :user_id, :title, :created_at, :updated_at)"
)
_CONVERSATION_GET = text(f"SELECT {_CONVERSATION} FROM assistant_conversations WHERE user_id = :user_id AND id = :id")
_CONVERSATION_LOCK = text(
    f"SELECT {_CONVERSATION} FROM assistant_conversations WHERE user_id = :user_id AND id = :id FOR UPDATE"
)
_CONVERSATIONS = text(
    f"""
    SELECT {_CONVERSATION} FROM assistant_conversations
    WHERE user_id = :user_id
      AND (CAST(:after_at AS timestamptz) IS NULL OR (updated_at, id) < (:after_at, CAST(:after_id AS uuid)))
    ORDER BY updated_at DESC, id DESC LIMIT :limit
    """
)
_TOUCH = text("UPDATE assistant_conversations SET updated_at = :at WHERE user_id = :user_id AND id = :id")
_LAST_SEQ = text("SELECT coalesce(max(seq), 0) FROM assistant_messages WHERE conversation_id = :id")
_ADD_MESSAGE = text(
    f"""
    INSERT INTO assistant_messages ({_MESSAGE})
    VALUES (:id, :conversation_id, :user_id, :seq, :role, :content, :status, :created_at, CAST(:tool_calls AS jsonb),
            :tool_call_id, :tool_name, :tool_ok, :error)
    """
)
_FINISH = text(
    """
    UPDATE assistant_messages SET content = :content, status = :status, tool_calls = CAST(:tool_calls AS jsonb),
           error = :error
    WHERE id = :id
    """
)
_MESSAGES = text(
    f"""
    SELECT {_MESSAGE} FROM assistant_messages
    WHERE user_id = :user_id AND conversation_id = :id AND seq > :after ORDER BY seq LIMIT :limit
    """
)
_RECENT = text(
    f"""
    SELECT * FROM (
        SELECT {_MESSAGE} FROM assistant_messages WHERE user_id = :user_id AND conversation_id = :id
        ORDER BY seq DESC LIMIT :limit
    ) recent ORDER BY seq
    """
)
_TURNS_SINCE = text(
    "SELECT count(*) FROM assistant_messages WHERE user_id = :user_id AND role = 'user' AND created_at > :since"
)


class PgConversationStore:
    """Implements :class:`townsquare.core.assistant.ports.ConversationStore`."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def _run(self, statement: Any, **params: Any) -> Any:
        return self._db.connection().execute(statement, params)

    def add_conversation(self, conversation: Conversation) -> None:
        self._run(
            _ADD_CONVERSATION,
            id=conversation.id,
            user_id=conversation.user_id,
            title=conversation.title,
            created_at=conversation.created_at,
            updated_at=conversation.updated_at,
        )

    def conversation(self, user_id: str, conversation_id: str) -> Conversation | None:
        row = self._run(_CONVERSATION_GET, user_id=user_id, id=conversation_id).first()
        return None if row is None else conversation_from_row(row)

    def lock_conversation(self, user_id: str, conversation_id: str) -> Conversation | None:
        row = self._run(_CONVERSATION_LOCK, user_id=user_id, id=conversation_id).first()
        return None if row is None else conversation_from_row(row)

    def conversations(self, user_id: str, after: tuple[datetime, str] | None, limit: int) -> list[Conversation]:
        after_at, after_id = after if after is not None else (None, None)
        rows = self._run(_CONVERSATIONS, user_id=user_id, after_at=after_at, after_id=after_id, limit=limit)
        return [conversation_from_row(row) for row in rows]

    def touch(self, user_id: str, conversation_id: str, at: datetime) -> None:
        self._run(_TOUCH, user_id=user_id, id=conversation_id, at=at)

    def last_seq(self, conversation_id: str) -> int:
        return int(self._run(_LAST_SEQ, id=conversation_id).scalar_one())

    def add_message(self, message: Message) -> None:
        self._run(
            _ADD_MESSAGE,
            id=message.id,
            conversation_id=message.conversation_id,
            user_id=message.user_id,
            seq=message.seq,
            role=message.role.value,
            content=message.content,
            status=message.status.value,
            created_at=message.created_at,
            tool_calls=_calls_json(message.tool_calls),
            tool_call_id=message.tool_call_id,
            tool_name=message.tool_name,
            tool_ok=message.tool_ok,
            error=message.error,
        )

    def finish_message(
        self,
        message_id: str,
        *,
        content: str,
        status: MessageStatus,
        tool_calls: Sequence[ToolCall],
        error: str | None,
    ) -> None:
        self._run(
            _FINISH,
            id=message_id,
            content=content,
            status=status.value,
            tool_calls=_calls_json(tool_calls),
            error=error,
        )

    def messages(self, user_id: str, conversation_id: str, after_seq: int, limit: int) -> list[Message]:
        rows = self._run(_MESSAGES, user_id=user_id, id=conversation_id, after=after_seq, limit=limit)
        return [message_from_row(row) for row in rows]

    def recent_messages(self, user_id: str, conversation_id: str, limit: int) -> list[Message]:
        return [message_from_row(row) for row in self._run(_RECENT, user_id=user_id, id=conversation_id, limit=limit)]

    def user_messages_since(self, user_id: str, since: datetime) -> int:
        return int(self._run(_TURNS_SINCE, user_id=user_id, since=since).scalar_one())


# -- action feedback -------------------------------------------------------------------------

_ADD_FEEDBACK = text(
    """
    INSERT INTO assistant_action_feedback (user_id, action_key, kind, decision, decided_at)
    VALUES (:user_id, :action_key, :kind, :decision, :decided_at)
    ON CONFLICT (user_id, decided_at, action_key) DO UPDATE SET decision = excluded.decision
    """
)
_FEEDBACK_SINCE = text(
    """
    SELECT user_id, action_key, kind, decision, decided_at FROM assistant_action_feedback
    WHERE user_id = :user_id AND decided_at >= :since ORDER BY decided_at DESC
    """
)


def feedback_from_row(row: Row[Any]) -> ActionFeedback:
    return ActionFeedback(
        user_id=row.user_id,
        action_key=row.action_key,
        kind=row.kind,
        decision=Decision(row.decision),
        decided_at=row.decided_at,
    )


class PgActionFeedbackStore:
    """Implements :class:`townsquare.core.assistant.ports.ActionFeedbackStore`."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    def add(self, feedback: ActionFeedback) -> None:
        self._db.connection().execute(
            _ADD_FEEDBACK,
            {
                "user_id": feedback.user_id,
                "action_key": feedback.action_key,
                "kind": feedback.kind,
                "decision": feedback.decision.value,
                "decided_at": feedback.decided_at,
            },
        )

    def since(self, user_id: str, since: datetime) -> list[ActionFeedback]:
        rows = self._db.connection().execute(_FEEDBACK_SINCE, {"user_id": user_id, "since": since})
        return [feedback_from_row(row) for row in rows]
