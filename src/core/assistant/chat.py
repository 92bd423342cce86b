"""Chat: conversations whose replies stream, with tool calls over the project's own operations.

A turn stores the user's message and an *incomplete* reply first, in one transaction; the
reply becomes complete only when the model has finished streaming it. A reply cut short
(the client went away, the model failed or timed out, the process died) therefore stays
stored as incomplete, with what was said so far. Every tool call and its result is stored
(the explainability data) as it happens.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator, Sequence
from datetime import datetime, timedelta

from attrs import frozen

from townsquare.core.assistant.context import CompiledContext, ContextCompiler
from townsquare.core.assistant.memory import MemoryService
from townsquare.core.assistant.models import (
    MAX_MESSAGE_CHARS,
    Conversation,
    Message,
    MessageStatus,
    RecallHit,
    Role,
    ToolCall,
)
from townsquare.core.assistant.ports import (
    ChatModel,
    ChatRequest,
    ChatTurn,
    ConversationStore,
    ModelFailed,
    ModelUnavailable,
    TextDelta,
    ToolCallRequest,
    TooManyTurns,
)
from townsquare.core.assistant.speed import beside, settle
from townsquare.core.assistant.tools import ToolContext, ToolRegistry, ToolResult
from townsquare.core.clock import Clock
from townsquare.core.cursor import CursorCodec
from townsquare.core.errors import InvalidInput, NotFound
from townsquare.core.identity import Actor
from townsquare.core.ids import IdSource, RandomIds
from townsquare.core.uow import UnitOfWork

DEFAULT_TURNS_PER_MINUTE = 20
MAX_TOOL_STEPS = 4
"""Model calls per turn: after this many rounds of tool calls the reply ends incomplete."""
HISTORY_MESSAGES = 20
RECALLED_MEMORIES = 3
TOOLS_PER_TURN = 8
MAX_TITLE = 200
MAX_PAGE = 100


@frozen
class TextEvent:
    text: str


@frozen
class ToolEvent:
    call: ToolCall
    ok: bool
    content: str


@frozen
class ErrorEvent:
    code: str
    detail: str


@frozen
class DoneEvent:
    message_id: str
    status: MessageStatus


TurnEvent = TextEvent | ToolEvent | ErrorEvent | DoneEvent


@frozen
class ConversationPage:
    conversations: list[Conversation]
    next_cursor: str | None


@frozen
class MessagePage:
    messages: list[Message]
    next_cursor: str | None


class _Outcome:
    """How a reply is ending: its text so far, tool calls, status and error."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: list[ToolCall] = []
        self.status = MessageStatus.INCOMPLETE
        self.error: str | None = "the reply was interrupted"
        self.started = False


class Turn:
    """One reply being produced. Iterate it for its events; closing it early marks the reply incomplete.

    The first ``next()`` reaches the model: when the model is down, that call raises
    :class:`ModelUnavailable` or :class:`ModelFailed` (the reply is stored incomplete), so a
    host can answer with a 503 or 502 before it starts streaming. Later failures arrive as an
    :class:`ErrorEvent`.

    Attributes:
        user_message: the stored user message.
        reply_id: the id of the reply being written.
        offered: the tools offered in this turn.
    """

    def __init__(
        self,
        chat: ChatService,
        *,
        actor: Actor,
        conversation_id: str,
        user_message: Message,
        reply_id: str,
        prompt: list[ChatTurn],
        offered: list[str],
    ) -> None:
        self._chat = chat
        self._actor = actor
        self._conversation_id = conversation_id
        self.user_message = user_message
        self.reply_id = reply_id
        self._prompt = prompt
        self.offered = offered
        self._events: Generator[TurnEvent, None, None] = self._run()

    def __iter__(self) -> Iterator[TurnEvent]:
        return self._events

    def __next__(self) -> TurnEvent:
        return next(self._events)

    def close(self) -> None:
        """Stop producing the reply (the client went away): it is stored incomplete."""
        self._events.close()

    def _run(self) -> Generator[TurnEvent, None, None]:
        outcome = _Outcome()
        try:
            yield from self._steps(outcome)
        except GeneratorExit:
            outcome.error = "the client went away before the reply ended"
            raise
        finally:
            self._chat.finish(
                self._actor,
                self.reply_id,
                content="".join(outcome.text),
                status=outcome.status,
                calls=outcome.calls,
                error=outcome.error,
            )
        yield DoneEvent(self.reply_id, outcome.status)

    def _steps(self, outcome: _Outcome) -> Iterator[TurnEvent]:
        chat = self._chat
        turns = list(self._prompt)
        specs = tuple(chat.tools.spec(name) for name in self.offered)
        for _step in range(MAX_TOOL_STEPS):
            requested: list[ToolCall] = []
            step_text: list[str] = []
            try:
                for chunk in chat.model.stream(ChatRequest(tuple(turns), specs)):
                    if isinstance(chunk, TextDelta):
                        step_text.append(chunk.text)
                        outcome.text.append(chunk.text)
                        outcome.started = True
                        yield TextEvent(chunk.text)
                    elif isinstance(chunk, ToolCallRequest):
                        requested.append(chunk.call)
            except (ModelUnavailable, ModelFailed) as failure:
                outcome.error = failure.detail
                if not outcome.started:
                    raise
                yield ErrorEvent(failure.code, failure.detail)
                return
            if not requested:
                outcome.status, outcome.error = MessageStatus.COMPLETE, None
                return
            turns.append(ChatTurn(role="assistant", content="".join(step_text), tool_calls=tuple(requested)))
            for call in requested:
                result = chat.run_tool(self._actor, self._conversation_id, call, self.offered)
                outcome.calls.append(call)
                outcome.started = True
                yield ToolEvent(call, result.ok, result.content)
                turns.append(ChatTurn(role="tool", content=result.content, tool_call_id=call.id, name=call.name))
        outcome.error = f"the model was still calling tools after {MAX_TOOL_STEPS} rounds"
        yield ErrorEvent("too_many_tool_rounds", outcome.error)

    def collect(self) -> list[TurnEvent]:
        """Run the turn to its end and return every event (for non-streaming callers)."""
        return list(self)


class ChatService:
    """Conversations, and turns that stream a reply and call tools as the user.

    Args:
        store: conversations and messages.
        model: the chat model.
        tools: the tool registry.
        memory: recalls the user's memories relevant to each message.
        context: compiles the user's context for the system prompt.
        uow: opens transactions.
        clock: message times and the rate-limit window.
        cursors: signs page cursors.
        turns_per_minute: per-user limit on chat messages.
        ids: where new conversation and message ids come from.
    """

    def __init__(
        self,
        store: ConversationStore,
        model: ChatModel,
        tools: ToolRegistry,
        *,
        memory: MemoryService,
        context: ContextCompiler,
        uow: UnitOfWork,
        clock: Clock,
        cursors: CursorCodec,
        turns_per_minute: int = DEFAULT_TURNS_PER_MINUTE,
        ids: IdSource | None = None,
    ) -> None:
        self._store = store
        self.model = model
        self.tools = tools
        self._memory = memory
        self._context = context
        self._uow = uow
        self._clock = clock
        self._cursors = cursors
        self._turns_per_minute = turns_per_minute
        self._ids = ids if ids is not None else RandomIds()

    # -- conversations -------------------------------------------------------------------

    def start(self, actor: Actor, title: str = "") -> Conversation:
        """Open a new conversation of the actor."""
        if not isinstance(title, str) or len(title) > MAX_TITLE:
            raise InvalidInput(f"title must be a string of at most {MAX_TITLE} characters", field="title")
        now = self._clock.now()
        conversation = Conversation(
            id=self._ids.new_id(), user_id=actor.user_id, title=title.strip(), created_at=now, updated_at=now
        )
        with self._uow.transaction(actor=actor.user_id):
            self._store.add_conversation(conversation)
        return conversation

    def conversation(self, actor: Actor, conversation_id: str) -> Conversation:
        with self._uow.transaction(actor=actor.user_id):
            return self._own(actor, conversation_id)

    def conversations(self, actor: Actor, *, cursor: str | None = None, limit: int = 20) -> ConversationPage:
        _check_limit(limit)
        scope = f"assistant:conversations:{actor.user_id}"
        after = None
        if cursor is not None:
            position = self._cursors.decode(scope, cursor)
            after = (datetime.fromisoformat(position["at"]), str(position["id"]))
        with self._uow.transaction(actor=actor.user_id):
            rows = self._store.conversations(actor.user_id, after, limit + 1)
        page, more = rows[:limit], len(rows) > limit
        last = page[-1] if page else None
        next_cursor = (
            self._cursors.encode(scope, {"at": last.updated_at.isoformat(), "id": last.id}) if more and last else None
        )
        return ConversationPage(page, next_cursor)

    def messages(
        self, actor: Actor, conversation_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> MessagePage:
        """The conversation's messages in order, tool calls and results included."""
        _check_limit(limit)
        scope = f"assistant:messages:{actor.user_id}:{conversation_id}"
        after = 0 if cursor is None else int(self._cursors.decode(scope, cursor)["seq"])
        with self._uow.transaction(actor=actor.user_id):
            self._own(actor, conversation_id)
            rows = self._store.messages(actor.user_id, conversation_id, after, limit + 1)
        page, more = rows[:limit], len(rows) > limit
        return MessagePage(page, self._cursors.encode(scope, {"seq": page[-1].seq}) if more else None)

    # -- turns ---------------------------------------------------------------------------

    def turn(self, actor: Actor, conversation_id: str, text: str) -> Turn:
        """Store the actor's message and an incomplete reply; the returned turn streams the reply.

        Raises:
            InvalidInput: an empty or too long message.
            NotFound: not the actor's conversation.
            TooManyTurns: over the per-minute limit (nothing is stored).
        """
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("content must not be empty", field="content")
        if len(text) > MAX_MESSAGE_CHARS:
            raise InvalidInput(f"content must be at most {MAX_MESSAGE_CHARS} characters", field="content")
        now = self._clock.now()
        # The prompt's reads (the context's sources, the recall) run beside the transaction
        # that stores the message: neither waits for the other (speed.py). Inside a caller's
        # unit of work they run first, in this thread (another could wait for its locks).
        reads = beside(lambda: self._reads(actor, text), inline=self._uow.in_unit())
        try:
            with self._uow.transaction(actor=actor.user_id):
                self._own(actor, conversation_id, lock=True)
                sent = self._store.user_messages_since(actor.user_id, now - timedelta(minutes=1))
                if sent >= self._turns_per_minute:
                    raise TooManyTurns(
                        f"at most {self._turns_per_minute} chat messages a minute; wait a little", retry_after=60
                    )
                history = self._store.recent_messages(actor.user_id, conversation_id, HISTORY_MESSAGES)
                seq = self._store.last_seq(conversation_id)
                user_message = self._message(
                    actor,
                    conversation_id,
                    seq=seq + 1,
                    role=Role.USER,
                    content=text,
                    status=MessageStatus.COMPLETE,
                    at=now,
                )
                reply = self._message(
                    actor,
                    conversation_id,
                    seq=seq + 2,
                    role=Role.ASSISTANT,
                    content="",
                    status=MessageStatus.INCOMPLETE,
                    at=now,
                )
                self._store.add_message(user_message)
                self._store.add_message(reply)
                self._store.touch(actor.user_id, conversation_id, now)
        except BaseException:
            settle(reads)  # its answer is not needed; its own failure is not this one
            raise
        offered = self.tools.select(text, TOOLS_PER_TURN)
        try:
            context, recalled = reads.result()
        except (ModelUnavailable, ModelFailed) as failure:
            # Recall embeds the message: with the embedder down the reply ends before it began.
            self.finish(actor, reply.id, content="", status=MessageStatus.INCOMPLETE, calls=(), error=failure.detail)
            raise
        prompt = self._prompt(actor, history, text, context, recalled)
        return Turn(
            self,
            actor=actor,
            conversation_id=conversation_id,
            user_message=user_message,
            reply_id=reply.id,
            prompt=prompt,
            offered=offered,
        )

    def run_tool(self, actor: Actor, conversation_id: str, call: ToolCall, offered: Sequence[str]) -> ToolResult:
        """Run one tool call as the actor and store the call's result."""
        result = self.tools.run(ToolContext(actor, conversation_id, call.id), call, offered)
        now = self._clock.now()
        with self._uow.transaction(actor=actor.user_id):
            seq = self._store.last_seq(conversation_id)
            self._store.add_message(
                Message(
                    id=self._ids.new_id(),
                    conversation_id=conversation_id,
                    user_id=actor.user_id,
                    seq=seq + 1,
                    role=Role.TOOL,
                    content=result.content,
                    status=MessageStatus.COMPLETE,
                    created_at=now,
                    tool_calls=(call,),
                    tool_call_id=call.id,
                    tool_name=call.name,
                    tool_ok=result.ok,
                )
            )
        return result

    def finish(
        self,
        actor: Actor,
        reply_id: str,
        *,
        content: str,
        status: MessageStatus,
        calls: Sequence[ToolCall],
        error: str | None,
    ) -> None:
        """Store the reply as it ended."""
        with self._uow.transaction(actor=actor.user_id):
            self._store.finish_message(reply_id, content=content, status=status, tool_calls=calls, error=error)

    # -- helpers -------------------------------------------------------------------------

    def _reads(self, actor: Actor, text: str) -> tuple[CompiledContext, list[RecallHit]]:
        """What the prompt needs from the stores: the compiled context and the recalled memories.

        The message is embedded first (a slow embedder holds no transaction open), then the
        context's sources and the recall read in one transaction as the user (speed.py).
        """
        embedding = self._memory.embed_query(text[:2000])
        with self._uow.transaction(actor=actor.user_id):
            context = self._context.compile(actor)
            recalled = self._memory.recall_embedding(actor, embedding, RECALLED_MEMORIES)
        return context, recalled

    def _prompt(
        self,
        actor: Actor,
        history: Sequence[Message],
        text: str,
        context: CompiledContext,
        recalled: Sequence[RecallHit],
    ) -> list[ChatTurn]:
        system = (
            f"You are the townsquare assistant of user {actor.user_id}. Use the tools offered to look things up "
            "or act; they run with this user's permissions only. Amounts are integer minor units.\n"
            f"What you know about the user:\n{context.as_text() or '- nothing yet'}"
        )
        if recalled:
            system += "\nMemories that may be relevant:\n" + "\n".join(f"- {hit.memory.text}" for hit in recalled)
        turns = [ChatTurn(role="system", content=system)]
        for message in history:
            if message.role is Role.USER or (message.role is Role.ASSISTANT and message.content):
                turns.append(ChatTurn(role=message.role.value, content=message.content))
        turns.append(ChatTurn(role="user", content=text))
        return turns

    def _message(
        self,
        actor: Actor,
        conversation_id: str,
        *,
        seq: int,
        role: Role,
        content: str,
        status: MessageStatus,
        at: datetime,
    ) -> Message:
        return Message(
            id=self._ids.new_id(),
            conversation_id=conversation_id,
            user_id=actor.user_id,
            seq=seq,
            role=role,
            content=content,
            status=status,
            created_at=at,
        )

    def _own(self, actor: Actor, conversation_id: str, *, lock: bool = False) -> Conversation:
        try:
            wanted = str(uuid.UUID(conversation_id))
        except (ValueError, TypeError, AttributeError):
            raise NotFound(f"no conversation {conversation_id!r}", field="conversation_id") from None
        found = (
            self._store.lock_conversation(actor.user_id, wanted)
            if lock
            else self._store.conversation(actor.user_id, wanted)
        )
        if found is None:
            raise NotFound(f"no conversation {conversation_id!r}", field="conversation_id")
        return found


def _check_limit(limit: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_PAGE}, got {limit!r}", field="limit")
