"""Assistant domain models: memories and their history, conversations and messages, actions.

Embeddings travel as ``bytes`` of little-endian float32, L2-normalised (see
:mod:`townsquare.core.assistant.vectors`): frozen, hashable, and the same bytes in both
adapters, so both rank the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from attrs import field, frozen

from townsquare.core.errors import InvalidInput

MAX_MEMORY_CHARS = 2000
"""A memory is a fact about the user, not a document: longer text is refused (400)."""
MAX_MESSAGE_CHARS = 8000
"""The longest user message a chat turn accepts."""


class MemoryEvent(StrEnum):
    """What happened to a memory, as its history shows."""

    ADDED = "added"
    UPDATED = "updated"
    MERGED = "merged"  # a near-duplicate was remembered: the existing memory took its text
    FORGOTTEN = "forgotten"
    EXPIRED = "expired"  # pruned by the periodic job after its expiry


@frozen
class Memory:
    """Something the assistant remembers about one user.

    Attributes:
        id: a uuid.
        user_id: whose memory it is; recall never crosses users.
        text: the fact, 1..2000 characters.
        embedding: the text's embedding (float32 bytes, unit length).
        created_at: when it was first remembered.
        updated_at: when its text last changed.
        expires_at: after this instant it is hidden at once and pruned later; None: kept.
        version: 1 when added, +1 per update or merge.
    """

    id: str
    user_id: str
    text: str
    embedding: bytes = field(repr=False)
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    version: int = 1

    def is_live(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


@frozen
class MemoryHistoryEntry:
    """One change to a memory (kept after the memory is forgotten)."""

    seq: int
    memory_id: str
    user_id: str
    event: MemoryEvent
    text: str
    previous_text: str | None
    at: datetime


@frozen
class RecallHit:
    """A recalled memory and its cosine similarity to the query (-1..1)."""

    memory: Memory
    score: float


@frozen
class Remembered:
    """What ``remember`` did.

    Attributes:
        memory: the stored memory (new, or the near-duplicate that took the new text).
        created: False when an existing memory was updated instead of adding one.
        similarity: the near-duplicate's similarity, when one was found.
    """

    memory: Memory
    created: bool
    similarity: float | None = None


@frozen
class MemoryVectors:
    """A user's stored embeddings, for exact recall.

    Attributes:
        ids: memory ids, in the order of ``data``'s rows.
        data: ``len(ids)`` embeddings of ``dims`` float32 each, concatenated.
        expires_at: each memory's expiry (None: never), for hiding expired ones at once.
        dims: the embedding size.
    """

    ids: tuple[str, ...]
    data: bytes = field(repr=False)
    expires_at: tuple[datetime | None, ...]
    dims: int


def check_memory_text(text: object, name: str = "text") -> str:
    """The memory text, stripped, or :class:`InvalidInput` naming ``name``."""
    if not isinstance(text, str):
        raise InvalidInput(f"{name} must be a string", field=name)
    stripped = text.strip()
    if not stripped:
        raise InvalidInput(f"{name} must not be empty", field=name)
    if len(stripped) > MAX_MEMORY_CHARS:
        raise InvalidInput(f"{name} must be at most {MAX_MEMORY_CHARS} characters, got {len(stripped)}", field=name)
    if "\x00" in stripped:
        raise InvalidInput(f"{name} must not contain NUL characters", field=name)
    return stripped


# -- conversations ---------------------------------------------------------------------------


class Role(StrEnum):
    """Who wrote a message: the user, the assistant, or a tool's result."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


class MessageStatus(StrEnum):
    """A reply is ``incomplete`` until it has been streamed to its end: an interrupted one stays so."""

    COMPLETE = "complete"
    INCOMPLETE = "incomplete"


@frozen
class Conversation:
    id: str
    user_id: str
    title: str
    created_at: datetime
    updated_at: datetime


@frozen
class ToolCall:
    """A tool call the model asked for, as stored and shown (the explainability data).

    Attributes:
        id: the model's call id (or ours, for models that give none).
        name: the tool.
        arguments: the arguments as the model sent them (a JSON object, or the raw text
            when it was not one).
    """

    id: str
    name: str
    arguments: Mapping[str, Any] | str


@frozen
class Message:
    """One message of a conversation.

    Attributes:
        id: a uuid.
        conversation_id: its conversation.
        user_id: the conversation's owner.
        seq: its place in the conversation (1, 2, ...).
        role: user, assistant or tool.
        content: the text (a tool message: the result or error as JSON text).
        status: complete, or incomplete for a reply that was interrupted.
        created_at: when it was stored.
        tool_calls: what an assistant message asked tools for.
        tool_call_id, tool_name: a tool message's call.
        tool_ok: a tool message: whether the tool succeeded.
        error: why a reply is incomplete (model down, client gone), when known.
    """

    id: str
    conversation_id: str
    user_id: str
    seq: int
    role: Role
    content: str
    status: MessageStatus
    created_at: datetime
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    tool_name: str | None = None
    tool_ok: bool | None = None
    error: str | None = None


# -- next-best actions ---------------------------------------------------------------------


class Decision(StrEnum):
    """A user's answer to a suggested action."""

    ACCEPTED = "accepted"
    DISMISSED = "dismissed"


@frozen
class ActionFeedback:
    """A user's answer to a suggested action."""

    user_id: str
    action_key: str
    kind: str
    decision: Decision
    decided_at: datetime
