"""The assistant's ports: the models it talks to, where it keeps memories, conversations and
action feedback, and where compiled contexts are cached.

Stores only store, load and make atomic; recall ranking, near-duplicate merging, expiry,
tool permissions and action scoring live in the core.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from attrs import frozen

from townsquare.core.assistant.models import (
    ActionFeedback,
    Conversation,
    Memory,
    MemoryHistoryEntry,
    MemoryVectors,
    Message,
    MessageStatus,
    ToolCall,
)
from townsquare.core.errors import DomainError

# -- models ----------------------------------------------------------------------------------


class ModelUnavailable(DomainError):
    """The model endpoint could not be reached or did not answer in time (the host answers 503)."""

    code = "model_unavailable"


class ModelFailed(DomainError):
    """The model endpoint answered with an error or something that is not its protocol (502)."""

    code = "model_failed"


class TooManyTurns(DomainError):
    """The user sent more chat messages than the per-minute limit allows (429, Retry-After)."""

    code = "too_many_turns"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Embedder(Protocol):
    """Turns texts into unit-length embeddings of one fixed size.

    Attributes:
        name: which model (shown in docs and stored nowhere: a change of model means re-embedding).
    """

    name: str

    def embed(self, texts: Sequence[str]) -> list[bytes]:
        """One float32 unit embedding per text, in order.

        Raises:
            ModelUnavailable: the endpoint is down or too slow.
            ModelFailed: the endpoint answered with an error.
        """
        ...


@frozen
class ToolSpec:
    """A tool offered to the model: its name, what it does, and its arguments' JSON schema."""

    name: str
    description: str
    parameters: dict[str, Any]


@frozen
class ChatTurn:
    """One message sent to the model."""

    role: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@frozen
class ChatRequest:
    turns: tuple[ChatTurn, ...]
    tools: tuple[ToolSpec, ...] = ()


@frozen
class TextDelta:
    """A piece of the reply's text."""

    text: str


@frozen
class ToolCallRequest:
    """The model asks for a tool call (adapters assemble streamed argument pieces into one)."""

    call: ToolCall


@frozen
class Finished:
    """The model ended its turn (``stop``, ``tool_calls``, ``length`` ...)."""

    reason: str


ChatChunk = TextDelta | ToolCallRequest | Finished


class ChatModel(Protocol):
    """A chat model that streams its reply and may ask for tool calls."""

    name: str

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        """The reply, piece by piece, ending with :class:`Finished`.

        Raises:
            ModelUnavailable: the endpoint is down or too slow (before or during the stream).
            ModelFailed: the endpoint answered with an error or broke its protocol.
        """
        ...


# -- stores ----------------------------------------------------------------------------------


class MemoryStore(Protocol):
    """Memories, their history, and a per-user version that changes with every write.

    Every method runs inside the caller's ``uow.transaction()``.
    """

    def claim_user(self, user_id: str) -> int:
        """Serialize the user's memory writes until the transaction ends and bump their version.

        Returns:
            the new version (every write to a user's memories is preceded by this call).
        """
        ...

    def version(self, user_id: str) -> int:
        """The user's memory version (0 before any write)."""
        ...

    def live_count(self, user_id: str, now: datetime) -> int:
        """How many of the user's memories have not expired at ``now``."""
        ...

    def vectors(self, user_id: str, dims: int) -> MemoryVectors:
        """Every stored memory of the user with ``dims``-sized embeddings (expired ones too)."""
        ...

    def get(self, user_id: str, memory_id: str) -> Memory | None: ...

    def get_many(self, user_id: str, memory_ids: Sequence[str]) -> list[Memory]:
        """The user's memories among ``memory_ids`` (in any order)."""
        ...

    def add(self, memory: Memory) -> None: ...

    def replace(self, memory: Memory) -> None:
        """Store ``memory``'s text, embedding, expiry, times and version over the one with its id."""
        ...

    def delete(self, user_id: str, memory_id: str) -> None: ...

    def page(self, user_id: str, now: datetime, after: tuple[datetime, str] | None, limit: int) -> list[Memory]:
        """Live memories, newest first (``created_at`` then id, descending), after ``after``."""
        ...

    def record(self, entry: MemoryHistoryEntry) -> None:
        """Append a history entry (its ``seq`` is assigned by the store)."""
        ...

    def scrub_history(self, user_id: str, memory_id: str) -> None:
        """Blank the texts of a memory's history entries (it was forgotten or expired)."""
        ...

    def history(self, user_id: str, memory_id: str | None, after: int | None, limit: int) -> list[MemoryHistoryEntry]:
        """History entries, newest first (``seq`` descending), optionally of one memory."""
        ...

    def expired(self, now: datetime, limit: int) -> list[Memory]:
        """Up to ``limit`` memories of any user that expired at or before ``now`` (system role)."""
        ...


class ConversationStore(Protocol):
    """Conversations and their messages. Every method runs inside ``uow.transaction()``."""

    def add_conversation(self, conversation: Conversation) -> None: ...

    def conversation(self, user_id: str, conversation_id: str) -> Conversation | None: ...

    def lock_conversation(self, user_id: str, conversation_id: str) -> Conversation | None:
        """Load and lock the conversation until the transaction ends (one turn at a time)."""
        ...

    def conversations(self, user_id: str, after: tuple[datetime, str] | None, limit: int) -> list[Conversation]:
        """Newest-updated first (``updated_at`` then id, descending), after ``after``."""
        ...

    def touch(self, user_id: str, conversation_id: str, at: datetime) -> None: ...

    def last_seq(self, conversation_id: str) -> int: ...

    def add_message(self, message: Message) -> None: ...

    def finish_message(
        self,
        message_id: str,
        *,
        content: str,
        status: MessageStatus,
        tool_calls: Sequence[ToolCall],
        error: str | None,
    ) -> None:
        """Store a reply's final text, status, tool calls and error."""
        ...

    def messages(self, user_id: str, conversation_id: str, after_seq: int, limit: int) -> list[Message]:
        """Messages in ``seq`` order, after ``after_seq``."""
        ...

    def recent_messages(self, user_id: str, conversation_id: str, limit: int) -> list[Message]:
        """The last ``limit`` messages, in ``seq`` order."""
        ...

    def user_messages_since(self, user_id: str, since: datetime) -> int:
        """How many user messages the user sent after ``since`` (for the turn rate limit)."""
        ...


class ActionFeedbackStore(Protocol):
    """Accepted and dismissed suggestions. Every method runs inside ``uow.transaction()``."""

    def add(self, feedback: ActionFeedback) -> None: ...

    def since(self, user_id: str, since: datetime) -> list[ActionFeedback]:
        """The user's feedback decided at or after ``since``, newest first."""
        ...


class ContextCache(Protocol):
    """Compiled contexts by key (the user and every source's high-water mark)."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> None: ...
