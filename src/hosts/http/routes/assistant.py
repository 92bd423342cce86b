"""Assistant endpoints: memories, context, next-best actions, conversations with streamed replies.

Everything here is the caller's own: no route takes another user's id. A reply streams as
server-sent events (``X-Accel-Buffering: no`` so proxies pass each event on at once); the
model is asked for its first piece before the stream starts, so a model that is down or too
slow is a 503 (a bad answer a 502) problem instead of a broken stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from attrs import frozen
from litestar import Controller, MediaType, Response, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from townsquare.bootstrap import Services
from townsquare.core.assistant import Turn
from townsquare.core.assistant.chat import DoneEvent, ErrorEvent, TextEvent, ToolEvent, TurnEvent
from townsquare.core.assistant.models import Conversation, Memory, MemoryHistoryEntry, Message
from townsquare.core.assistant.tools import plain
from townsquare.hosts.http.deps import ActorDep, ServicesDep

TAGS = ["assistant"]
STREAM_HEADERS = {"X-Accel-Buffering": "no", "Cache-Control": "no-cache"}
_END = object()

CursorParam = Annotated[str | None, QueryParameter(description="the previous page's next_cursor", required=False)]


# -- bodies ----------------------------------------------------------------------------------


@frozen
class RememberBody:
    """A fact to remember; ``expires_at`` hides it from then on."""

    text: str
    expires_at: datetime | None = None


@frozen
class UpdateMemoryBody:
    text: str
    expires_at: datetime | None = None


@frozen
class MemoryOut:
    id: str
    text: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    version: int

    @classmethod
    def of(cls, memory: Memory) -> MemoryOut:
        return cls(memory.id, memory.text, memory.created_at, memory.updated_at, memory.expires_at, memory.version)


@frozen
class RememberedOut:
    memory: MemoryOut
    created: bool
    similarity: float | None


@frozen
class MemoryPageOut:
    memories: list[MemoryOut]
    next_cursor: str | None


@frozen
class RecallHitOut:
    memory: MemoryOut
    score: float


@frozen
class RecallOut:
    hits: list[RecallHitOut]


@frozen
class HistoryEntryOut:
    seq: int
    memory_id: str
    event: str
    text: str
    previous_text: str | None
    at: datetime

    @classmethod
    def of(cls, entry: MemoryHistoryEntry) -> HistoryEntryOut:
        return cls(entry.seq, entry.memory_id, entry.event.value, entry.text, entry.previous_text, entry.at)


@frozen
class HistoryOut:
    entries: list[HistoryEntryOut]
    next_cursor: str | None


@frozen
class FactOut:
    source: str
    kind: str
    text: str
    relevance: int
    data: dict[str, Any]


@frozen
class ContextOut:
    facts: list[FactOut]
    size: int
    budget: int
    dropped: int
    marks: dict[str, str]
    compiled_at: datetime
    cached: bool


@frozen
class ActionOut:
    key: str
    kind: str
    title: str
    reason: str
    value: int
    currency: str | None
    tool: str | None
    score: float
    propensity: float


@frozen
class ActionsOut:
    actions: list[ActionOut]


@frozen
class FeedbackBody:
    """``decision`` is ``accepted`` or ``dismissed`` (a dismissed action stays away for 7 days)."""

    key: str
    decision: str


@frozen
class FeedbackOut:
    key: str
    decision: str
    decided_at: datetime


@frozen
class StartBody:
    title: str = ""


@frozen
class ConversationOut:
    id: str
    title: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, conversation: Conversation) -> ConversationOut:
        return cls(conversation.id, conversation.title, conversation.created_at, conversation.updated_at)


@frozen
class ConversationPageOut:
    conversations: list[ConversationOut]
    next_cursor: str | None


@frozen
class ToolCallOut:
    id: str
    name: str
    arguments: Any


@frozen
class MessageOut:
    """A message; tool messages carry the call and its result (the explainability panel's data)."""

    id: str
    seq: int
    role: str
    content: str
    status: str
    created_at: datetime
    tool_calls: list[ToolCallOut]
    tool_call_id: str | None
    tool_name: str | None
    tool_ok: bool | None
    error: str | None

    @classmethod
    def of(cls, message: Message) -> MessageOut:
        return cls(
            id=message.id,
            seq=message.seq,
            role=message.role.value,
            content=message.content,
            status=message.status.value,
            created_at=message.created_at,
            tool_calls=[ToolCallOut(c.id, c.name, plain(c.arguments)) for c in message.tool_calls],
            tool_call_id=message.tool_call_id,
            tool_name=message.tool_name,
            tool_ok=message.tool_ok,
            error=message.error,
        )


@frozen
class MessagePageOut:
    messages: list[MessageOut]
    next_cursor: str | None


@frozen
class SendBody:
    """The user's message; ``stream`` false answers with the whole reply as JSON instead of events."""

    content: str
    stream: bool = True


@frozen
class ReplyOut:
    message_id: str
    status: str
    text: str
    events: list[dict[str, Any]]


@frozen
class ToolOut:
    name: str
    description: str
    parameters: dict[str, Any]
    writes: bool


# -- the controllers -------------------------------------------------------------------------


class MemoryController(Controller):
    path = "/api/v1/assistant/memories"
    tags = TAGS

    @post(status_code=HTTP_201_CREATED, summary="Remember a fact (a near-duplicate updates the one it repeats)")
    async def remember(self, services: ServicesDep, actor: ActorDep, data: JSONBody[RememberBody]) -> RememberedOut:
        done = await asyncio.to_thread(services.assistant.memory.remember, actor, data.text, expires_at=data.expires_at)
        return RememberedOut(MemoryOut.of(done.memory), done.created, done.similarity)

    @get(summary="Your live memories, newest first", sync_to_thread=True)
    def memories(
        self,
        services: ServicesDep,
        actor: ActorDep,
        cursor: CursorParam = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
    ) -> MemoryPageOut:
        page = services.assistant.memory.memories(actor, cursor=cursor, limit=limit)
        return MemoryPageOut([MemoryOut.of(m) for m in page.memories], page.next_cursor)

    @get("/recall", summary="Your k memories most similar to q (exact cosine ranking)", sync_to_thread=True)
    def recall(
        self,
        services: ServicesDep,
        actor: ActorDep,
        q: Annotated[str, QueryParameter(description="what to recall", max_length=2000)],
        k: Annotated[int, QueryParameter(description="how many, 1..100")] = 10,
    ) -> RecallOut:
        hits = services.assistant.memory.recall(actor, q, k)
        return RecallOut([RecallHitOut(MemoryOut.of(hit.memory), hit.score) for hit in hits])

    @get("/history", summary="What happened to your memories, newest first", sync_to_thread=True)
    def history(
        self,
        services: ServicesDep,
        actor: ActorDep,
        memory_id: Annotated[str | None, QueryParameter(required=False)] = None,
        cursor: CursorParam = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
    ) -> HistoryOut:
        page = services.assistant.memory.history(actor, memory_id, cursor=cursor, limit=limit)
        return HistoryOut([HistoryEntryOut.of(e) for e in page.entries], page.next_cursor)

    @get("/{memory_id:str}", summary="One of your memories", sync_to_thread=True)
    def memory(self, services: ServicesDep, actor: ActorDep, memory_id: FromPath[str]) -> MemoryOut:
        return MemoryOut.of(services.assistant.memory.get(actor, memory_id))

    @patch("/{memory_id:str}", summary="Change a memory's text (and expiry)")
    async def update(
        self, services: ServicesDep, actor: ActorDep, memory_id: FromPath[str], data: JSONBody[UpdateMemoryBody]
    ) -> MemoryOut:
        memory = services.assistant.memory
        updated = await asyncio.to_thread(memory.update, actor, memory_id, data.text, expires_at=data.expires_at)
        return MemoryOut.of(updated)

    @delete("/{memory_id:str}", status_code=HTTP_204_NO_CONTENT, summary="Forget a memory", sync_to_thread=True)
    def forget(self, services: ServicesDep, actor: ActorDep, memory_id: FromPath[str]) -> None:
        services.assistant.memory.forget(actor, memory_id)


class InsightController(Controller):
    path = "/api/v1/assistant"
    tags = TAGS

    @get("/context", summary="Your compiled context: the most relevant facts within a size budget", sync_to_thread=True)
    def context(
        self,
        services: ServicesDep,
        actor: ActorDep,
        budget: Annotated[int, QueryParameter(description="characters, 100..32000")] = 4000,
    ) -> ContextOut:
        compiled = services.assistant.context.compile(actor, budget)
        return ContextOut(
            facts=[FactOut(f.source, f.kind, f.text, f.relevance, dict(f.data)) for f in compiled.facts],
            size=compiled.size,
            budget=compiled.budget,
            dropped=compiled.dropped,
            marks=dict(compiled.marks),
            compiled_at=compiled.compiled_at,
            cached=compiled.cached,
        )

    @get("/actions", summary="Your next-best actions, each with its reason and score", sync_to_thread=True)
    def actions(
        self, services: ServicesDep, actor: ActorDep, limit: Annotated[int, QueryParameter(ge=1, le=10)] = 3
    ) -> ActionsOut:
        found = services.assistant.actions.suggest(actor, limit)
        return ActionsOut(
            [
                ActionOut(
                    key=s.candidate.key,
                    kind=s.candidate.kind,
                    title=s.candidate.title,
                    reason=s.candidate.reason,
                    value=s.candidate.value,
                    currency=s.candidate.currency,
                    tool=s.candidate.tool,
                    score=s.score,
                    propensity=s.propensity,
                )
                for s in found
            ]
        )

    @post("/actions/feedback", summary="Accept or dismiss a suggested action", sync_to_thread=True, status_code=200)
    def feedback(self, services: ServicesDep, actor: ActorDep, data: JSONBody[FeedbackBody]) -> FeedbackOut:
        done = services.assistant.actions.decide(actor, data.key, data.decision)
        return FeedbackOut(done.action_key, done.decision.value, done.decided_at)

    @get("/tools", summary="The tools the chat may call (run as you, with your permissions)", sync_to_thread=False)
    def tools(self, services: ServicesDep) -> list[ToolOut]:
        registry = services.assistant.chat.tools
        found = []
        for name in registry.names:
            spec, tool = registry.spec(name), registry.get(name)
            found.append(ToolOut(spec.name, spec.description, spec.parameters, bool(tool and tool.writes)))
        return found


class ConversationController(Controller):
    path = "/api/v1/assistant/conversations"
    tags = TAGS

    @post(status_code=HTTP_201_CREATED, summary="Start a conversation", sync_to_thread=True)
    def start(self, services: ServicesDep, actor: ActorDep, data: JSONBody[StartBody]) -> ConversationOut:
        return ConversationOut.of(services.assistant.chat.start(actor, data.title))

    @get(summary="Your conversations, most recent first", sync_to_thread=True)
    def conversations(
        self,
        services: ServicesDep,
        actor: ActorDep,
        cursor: CursorParam = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> ConversationPageOut:
        page = services.assistant.chat.conversations(actor, cursor=cursor, limit=limit)
        return ConversationPageOut([ConversationOut.of(c) for c in page.conversations], page.next_cursor)

    @get("/{conversation_id:str}", summary="One of your conversations", sync_to_thread=True)
    def conversation(self, services: ServicesDep, actor: ActorDep, conversation_id: FromPath[str]) -> ConversationOut:
        return ConversationOut.of(services.assistant.chat.conversation(actor, conversation_id))

    @get(
        "/{conversation_id:str}/messages",
        summary="A conversation's messages with every tool call and result",
        sync_to_thread=True,
    )
    def messages(
        self,
        services: ServicesDep,
        actor: ActorDep,
        conversation_id: FromPath[str],
        cursor: CursorParam = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
    ) -> MessagePageOut:
        page = services.assistant.chat.messages(actor, conversation_id, cursor=cursor, limit=limit)
        return MessagePageOut([MessageOut.of(m) for m in page.messages], page.next_cursor)

    @post(
        "/{conversation_id:str}/messages",
        summary="Send a message; the reply streams as server-sent events (text, tool, error, done)",
        status_code=200,
        # Litestar lets a handler's media type win over a streaming response's own, so the
        # handler says event-stream and the JSON answer says JSON itself.
        media_type="text/event-stream",
    )
    async def send(
        self, services: ServicesDep, actor: ActorDep, conversation_id: FromPath[str], data: JSONBody[SendBody]
    ) -> ServerSentEvent | Response[ReplyOut]:
        turn = await asyncio.to_thread(services.assistant.chat.turn, actor, conversation_id, data.content)
        if not data.stream:
            events = await asyncio.to_thread(turn.collect)
            done = next(e for e in reversed(events) if isinstance(e, DoneEvent))
            text = "".join(e.text for e in events if isinstance(e, TextEvent))
            reply = ReplyOut(done.message_id, done.status.value, text, [_event_body(e)[1] for e in events])
            return Response(reply, media_type=MediaType.JSON)
        # The first piece is fetched before the stream starts: a model that is down is a problem.
        first = await asyncio.to_thread(next, turn, _END)
        return ServerSentEvent(_stream(services, turn, first), headers=STREAM_HEADERS)


async def _stream(services: Services, turn: Turn, first: object) -> AsyncIterator[ServerSentEventMessage]:
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[object] | None = None
    try:
        start = {"message_id": turn.user_message.id, "reply_id": turn.reply_id, "tools": turn.offered}
        yield ServerSentEventMessage(event="turn", data=json.dumps(start))
        event = first
        while event is not _END:
            assert isinstance(event, TextEvent | ToolEvent | ErrorEvent | DoneEvent)
            kind, body = _event_body(event)
            yield ServerSentEventMessage(event=kind, data=json.dumps(body, ensure_ascii=False))
            pending = loop.run_in_executor(None, next, turn, _END)
            event = await pending
            pending = None
    finally:
        # A client that went away cancels this generator: let the model call in flight end,
        # then close the turn, which stores the reply as incomplete.
        if pending is not None:
            with contextlib.suppress(BaseException):
                await pending
        await loop.run_in_executor(None, turn.close)


def _event_body(event: TurnEvent) -> tuple[str, dict[str, Any]]:
    if isinstance(event, TextEvent):
        return "text", {"text": event.text}
    if isinstance(event, ToolEvent):
        try:
            result = json.loads(event.content)
        except ValueError:
            result = event.content
        return "tool", {
            "id": event.call.id,
            "name": event.call.name,
            "arguments": plain(event.call.arguments),
            "ok": event.ok,
            "result": result,
        }
    if isinstance(event, ErrorEvent):
        return "error", {"code": event.code, "detail": event.detail}
    return "done", {"message_id": event.message_id, "status": event.status.value}


ROUTES: list[Any] = [MemoryController, InsightController, ConversationController]
