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
from litestar import Router
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from townsquare.bootstrap import Services
from townsquare.core.assistant import Turn
from townsquare.core.assistant.actions import ActionKind
from townsquare.core.assistant.chat import DoneEvent, ErrorEvent, TextEvent, ToolEvent, TurnEvent
from townsquare.core.assistant.context import FactKind
from townsquare.core.assistant.models import (
    Conversation,
    Decision,
    Memory,
    MemoryEvent,
    MemoryHistoryEntry,
    Message,
    MessageStatus,
    Role,
    ToolCall,
)
from townsquare.core.assistant.tools import plain
from townsquare.hosts.http.deps import ActorDep, ServicesDep
from townsquare.hosts.http.routes.declare import API, delete, get, patch, post

TAGS = ["assistant"]
STREAM_HEADERS = {"X-Accel-Buffering": "no", "Cache-Control": "no-cache"}
_END = object()

CursorParam = Annotated[str | None, QueryParameter(description="the previous page's next_cursor", required=False)]


# -- bodies ----------------------------------------------------------------------------------


@frozen
class RememberBody:
    """A fact to remember about you.

    Attributes:
        text: the fact, 1..2000 characters; a near-duplicate of one you have updates it.
        expires_at: hide it from this instant on (must be in the future); omitted: kept.
    """

    text: str
    expires_at: datetime | None = None


@frozen
class UpdateMemoryBody:
    """A memory's new text.

    Attributes:
        text: the new text, 1..2000 characters.
        expires_at: a new expiry (in the future); omitted: the expiry stays as it was.
    """

    text: str
    expires_at: datetime | None = None


@frozen
class MemoryOut:
    """A memory.

    Attributes:
        id: its id.
        text: the fact.
        created_at: when it was first remembered.
        updated_at: when its text last changed.
        expires_at: when it stops being shown; null: never.
        version: 1 when added, +1 per update or merge.
    """

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
    """What remembering did.

    Attributes:
        memory: the stored memory.
        created: false when a near-duplicate was updated instead of adding one.
        similarity: that near-duplicate's cosine similarity, when one was found.
    """

    memory: MemoryOut
    created: bool
    similarity: float | None


@frozen
class MemoryPageOut:
    """A page of your memories, newest first.

    Attributes:
        memories: the memories.
        next_cursor: pass as ``cursor`` for the next page; null on the last.
    """

    memories: list[MemoryOut]
    next_cursor: str | None


@frozen
class RecallHitOut:
    """A recalled memory.

    Attributes:
        memory: the memory.
        score: its cosine similarity to the query, -1..1.
    """

    memory: MemoryOut
    score: float


@frozen
class RecallOut:
    """Your memories most similar to the query, best first (exact ranking; ties by id).

    Attributes:
        hits: at most k of them.
    """

    hits: list[RecallHitOut]


@frozen
class HistoryEntryOut:
    """One change to a memory. A forgotten or expired memory's entries keep no text.

    Attributes:
        seq: its place in your history (greater is newer).
        memory_id: which memory.
        event: what happened.
        text: the text after the change (empty once forgotten).
        previous_text: the text before an update or merge.
        at: when.
    """

    seq: int
    memory_id: str
    event: MemoryEvent
    text: str
    previous_text: str | None
    at: datetime

    @classmethod
    def of(cls, entry: MemoryHistoryEntry) -> HistoryEntryOut:
        return cls(entry.seq, entry.memory_id, entry.event, entry.text, entry.previous_text, entry.at)


@frozen
class HistoryOut:
    """A page of memory history, newest first.

    Attributes:
        entries: the entries.
        next_cursor: pass as ``cursor`` for the next page; null on the last.
    """

    entries: list[HistoryEntryOut]
    next_cursor: str | None


@frozen
class FactOut:
    """One fact of your context.

    Attributes:
        source: the area it comes from (earnings, notifications, cart, memories).
        kind: what it is about.
        text: the sentence the model is given.
        relevance: 0..100, higher first.
        data: the figures behind it.
    """

    source: str
    kind: FactKind
    text: str
    relevance: int
    data: dict[str, Any]


@frozen
class ContextOut:
    """Your compiled context: the most relevant facts that fit the budget.

    Attributes:
        facts: the kept facts, most relevant first.
        size: characters of their texts.
        budget: the budget asked for.
        dropped: facts that did not fit.
        marks: each source's high-water mark the context was compiled at.
        compiled_at: when it was compiled.
        cached: whether it came from the cache (no source changed since).
    """

    facts: list[FactOut]
    size: int
    budget: int
    dropped: int
    marks: dict[str, str]
    compiled_at: datetime
    cached: bool


@frozen
class ActionOut:
    """A suggested next action.

    Attributes:
        key: what accept and dismiss name (``kind:subject``).
        kind: the kind of action.
        title: what to do.
        why: the reason, with the figures behind it.
        value: the value at stake in minor units (notional for actions that move no money).
        currency: the value's currency; null for a notional value.
        tool: the chat tool that does it.
        score: log10(1 + value) times the propensity; 1.0 at least.
        propensity: your acceptance rate of this kind over 30 days, with a uniform prior.
    """

    key: str
    kind: ActionKind
    title: str
    why: str
    value: int
    currency: str | None
    tool: str | None
    score: float
    propensity: float


@frozen
class ActionsOut:
    """Your next-best actions, best first (none when nothing reaches the threshold).

    Attributes:
        actions: the actions.
    """

    actions: list[ActionOut]


@frozen
class FeedbackBody:
    """Your answer to a suggested action; a dismissed one stays away for 7 days.

    Attributes:
        key: the action's key.
        decision: accepted or dismissed.
    """

    key: str
    decision: Decision


@frozen
class FeedbackOut:
    """The recorded answer.

    Attributes:
        key: the action's key.
        decision: accepted or dismissed.
        decided_at: when.
    """

    key: str
    decision: Decision
    decided_at: datetime


@frozen
class StartBody:
    """A new conversation.

    Attributes:
        title: its title, at most 200 characters (may be empty).
    """

    title: str = ""


@frozen
class ConversationOut:
    """A conversation.

    Attributes:
        id: its id.
        title: its title.
        created_at: when it was started.
        updated_at: when its last message was sent.
    """

    id: str
    title: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, conversation: Conversation) -> ConversationOut:
        return cls(conversation.id, conversation.title, conversation.created_at, conversation.updated_at)


@frozen
class ConversationPageOut:
    """A page of your conversations, most recent first.

    Attributes:
        conversations: the conversations.
        next_cursor: pass as ``cursor`` for the next page; null on the last.
    """

    conversations: list[ConversationOut]
    next_cursor: str | None


@frozen
class ToolCallOut:
    """A tool call the model asked for.

    Attributes:
        id: the call's id.
        name: the tool.
        arguments_json: the arguments as the model sent them, as JSON text.
    """

    id: str
    name: str
    arguments_json: str


def _call_out(call: ToolCall) -> ToolCallOut:
    arguments = call.arguments if isinstance(call.arguments, str) else json.dumps(plain(call.arguments))
    return ToolCallOut(call.id, call.name, arguments)


@frozen
class MessageOut:
    """A message; tool messages carry the call and its result (the explainability panel's data).

    Attributes:
        id: its id.
        seq: its place in the conversation.
        role: user, assistant or tool.
        content: the text; a tool message's is the result (or error) as JSON text.
        status: complete, or incomplete for a reply that was interrupted.
        created_at: when it was stored.
        tool_calls: what an assistant message asked tools for (a tool message: its call).
        tool_call_id: a tool message's call id.
        tool_name: a tool message's tool.
        tool_ok: a tool message: whether the tool succeeded.
        error: why a reply is incomplete (the model failed, the client went away).
    """

    id: str
    seq: int
    role: Role
    content: str
    status: MessageStatus
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
            role=message.role,
            content=message.content,
            status=message.status,
            created_at=message.created_at,
            tool_calls=[_call_out(c) for c in message.tool_calls],
            tool_call_id=message.tool_call_id,
            tool_name=message.tool_name,
            tool_ok=message.tool_ok,
            error=message.error,
        )


@frozen
class MessagePageOut:
    """A page of a conversation's messages, in order.

    Attributes:
        messages: the messages.
        next_cursor: pass as ``cursor`` for the next page; null on the last.
    """

    messages: list[MessageOut]
    next_cursor: str | None


@frozen
class SendBody:
    """Your message.

    Attributes:
        content: the text, 1..8000 characters.
    """

    content: str


@frozen
class StreamEventOut:
    """The JSON data of one server-sent event of a reply; which fields it has depends on the event.

    Attributes:
        text: ``text`` events: the next piece of the reply.
        name: ``tool`` events: the tool that ran.
        ok: ``tool`` events: whether it succeeded.
        result: ``tool`` events: its result or error, as JSON text.
        code: ``error`` events: what went wrong (model_failed, model_unavailable, ...).
        detail: ``error`` events: the explanation.
        message_id: ``done`` events: the reply's id (``turn``: the user message's).
        status: ``done`` events: complete or incomplete.
    """

    text: str | None = None
    name: str | None = None
    ok: bool | None = None
    result: str | None = None
    code: str | None = None
    detail: str | None = None
    message_id: str | None = None
    status: MessageStatus | None = None


@frozen
class ReplyOut:
    """A whole reply, for clients that do not stream.

    Attributes:
        message_id: the reply's id.
        status: complete, or incomplete when it was cut short.
        text: the reply's text.
        tool_calls: the tools it called, with their results in the conversation's messages.
    """

    message_id: str
    status: MessageStatus
    text: str
    tool_calls: list[ToolCallOut]


@frozen
class ToolOut:
    """A tool the chat may call, run as you with your permissions.

    Attributes:
        name: its name.
        description: what it does.
        parameters_json: the JSON schema of its arguments, as JSON text.
        writes: whether it changes anything.
    """

    name: str
    description: str
    parameters_json: str
    writes: bool


# -- the routes ----------------------------------------------------------------------------


@post(
    "/memories", status_code=HTTP_201_CREATED, summary="Remember a fact (a near-duplicate updates the one it repeats)"
)
async def remember(services: ServicesDep, actor: ActorDep, data: JSONBody[RememberBody]) -> RememberedOut:
    done = await asyncio.to_thread(services.assistant.memory.remember, actor, data.text, expires_at=data.expires_at)
    return RememberedOut(MemoryOut.of(done.memory), done.created, done.similarity)


@get("/memories", summary="Your live memories, newest first")
def memories(
    services: ServicesDep,
    actor: ActorDep,
    cursor: CursorParam = None,
    limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
) -> MemoryPageOut:
    page = services.assistant.memory.memories(actor, cursor=cursor, limit=limit)
    return MemoryPageOut([MemoryOut.of(m) for m in page.memories], page.next_cursor)


@get("/memories/recall", summary="Your k memories most similar to q (exact cosine ranking)")
def recall(
    services: ServicesDep,
    actor: ActorDep,
    q: Annotated[str, QueryParameter(description="what to recall", max_length=2000)],
    k: Annotated[int, QueryParameter(description="how many, 1..100")] = 10,
) -> RecallOut:
    hits = services.assistant.memory.recall(actor, q, k)
    return RecallOut([RecallHitOut(MemoryOut.of(hit.memory), hit.score) for hit in hits])


@get("/memories/history", summary="What happened to your memories, newest first", problems=[404])
def history(
    services: ServicesDep,
    actor: ActorDep,
    memory_id: Annotated[str | None, QueryParameter(required=False)] = None,
    cursor: CursorParam = None,
    limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
) -> HistoryOut:
    page = services.assistant.memory.history(actor, memory_id, cursor=cursor, limit=limit)
    return HistoryOut([HistoryEntryOut.of(e) for e in page.entries], page.next_cursor)


@get("/memories/{memory_id:str}", summary="One of your memories", problems=[404])
def memory(services: ServicesDep, actor: ActorDep, memory_id: FromPath[str]) -> MemoryOut:
    return MemoryOut.of(services.assistant.memory.get(actor, memory_id))


@patch("/memories/{memory_id:str}", summary="Change a memory's text (and expiry)", problems=[404])
async def update(
    services: ServicesDep, actor: ActorDep, memory_id: FromPath[str], data: JSONBody[UpdateMemoryBody]
) -> MemoryOut:
    memory = services.assistant.memory
    updated = await asyncio.to_thread(memory.update, actor, memory_id, data.text, expires_at=data.expires_at)
    return MemoryOut.of(updated)


@delete("/memories/{memory_id:str}", status_code=HTTP_204_NO_CONTENT, summary="Forget a memory", problems=[404])
def forget(services: ServicesDep, actor: ActorDep, memory_id: FromPath[str]) -> None:
    services.assistant.memory.forget(actor, memory_id)


@get("/context", summary="Your compiled context: the most relevant facts within a size budget")
def context(
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


@get("/actions", summary="Your next-best actions, each with its reason and score")
def actions(
    services: ServicesDep, actor: ActorDep, limit: Annotated[int, QueryParameter(ge=1, le=10)] = 3
) -> ActionsOut:
    found = services.assistant.actions.suggest(actor, limit)
    return ActionsOut(
        [
            ActionOut(
                key=s.candidate.key,
                kind=s.candidate.kind,
                title=s.candidate.title,
                why=s.candidate.reason,
                value=s.candidate.value,
                currency=s.candidate.currency,
                tool=s.candidate.tool,
                score=s.score,
                propensity=s.propensity,
            )
            for s in found
        ]
    )


@post("/actions/feedback", summary="Accept or dismiss a suggested action", status_code=200)
def feedback(services: ServicesDep, actor: ActorDep, data: JSONBody[FeedbackBody]) -> FeedbackOut:
    done = services.assistant.actions.decide(actor, data.key, data.decision)
    return FeedbackOut(done.action_key, done.decision, done.decided_at)


@get("/tools", summary="The tools the chat may call (run as you, with your permissions)")
async def tools(services: ServicesDep) -> list[ToolOut]:
    registry = services.assistant.chat.tools
    found = []
    for name in registry.names:
        spec, tool = registry.spec(name), registry.get(name)
        parameters = json.dumps(spec.parameters, sort_keys=True)
        found.append(ToolOut(spec.name, spec.description, parameters, bool(tool and tool.writes)))
    return found


@post("/conversations", status_code=HTTP_201_CREATED, summary="Start a conversation")
def start(services: ServicesDep, actor: ActorDep, data: JSONBody[StartBody]) -> ConversationOut:
    return ConversationOut.of(services.assistant.chat.start(actor, data.title))


@get("/conversations", summary="Your conversations, most recent first")
def conversations(
    services: ServicesDep,
    actor: ActorDep,
    cursor: CursorParam = None,
    limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
) -> ConversationPageOut:
    page = services.assistant.chat.conversations(actor, cursor=cursor, limit=limit)
    return ConversationPageOut([ConversationOut.of(c) for c in page.conversations], page.next_cursor)


@get("/conversations/{conversation_id:str}", summary="One of your conversations", problems=[404])
def conversation(services: ServicesDep, actor: ActorDep, conversation_id: FromPath[str]) -> ConversationOut:
    return ConversationOut.of(services.assistant.chat.conversation(actor, conversation_id))


@get(
    "/conversations/{conversation_id:str}/messages",
    summary="A conversation's messages with every tool call and result",
    problems=[404],
)
def messages(
    services: ServicesDep,
    actor: ActorDep,
    conversation_id: FromPath[str],
    cursor: CursorParam = None,
    limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
) -> MessagePageOut:
    page = services.assistant.chat.messages(actor, conversation_id, cursor=cursor, limit=limit)
    return MessagePageOut([MessageOut.of(m) for m in page.messages], page.next_cursor)


@post(
    "/conversations/{conversation_id:str}/messages",
    summary="Send a message; the reply streams as server-sent events (turn, text, tool, error, done)",
    status_code=200,
    # Litestar lets a handler's media type win over a streaming response's own.
    media_type="text/event-stream",
    responses={
        200: ResponseSpec(
            data_container=StreamEventOut,
            media_type="text/event-stream",
            description=(
                "Server-sent events, each's data a JSON object (the StreamEventOut schema): `turn` "
                "(the stored message and the tools offered), `text` pieces, a `tool` event per call "
                "with its result, `error` when the model fails mid-reply, and `done` with the reply's "
                "status. Sent with `X-Accel-Buffering: no`. A model that is down before the first "
                "piece is a 503 problem instead."
            ),
            generate_examples=False,
        )
    },
    problems=[404],
)
async def send(
    services: ServicesDep, actor: ActorDep, conversation_id: FromPath[str], data: JSONBody[SendBody]
) -> ServerSentEvent:
    """Store your message and an incomplete reply, then stream the reply as the model writes it.

    The reply is marked complete only when the model finished; a disconnect or a model
    failure leaves it incomplete with what was said. Every tool call runs as you.
    """
    turn = await asyncio.to_thread(services.assistant.chat.turn, actor, conversation_id, data.content)
    # The first piece is fetched before the stream starts: a model that is down is a problem.
    first = await asyncio.to_thread(next, turn, _END)
    return ServerSentEvent(_stream(services, turn, first), headers=STREAM_HEADERS)


@post(
    "/conversations/{conversation_id:str}/replies",
    summary="Send a message and get the whole reply as JSON (no stream)",
    status_code=200,
    problems=[404],
)
async def reply(
    services: ServicesDep, actor: ActorDep, conversation_id: FromPath[str], data: JSONBody[SendBody]
) -> ReplyOut:
    """As the streamed send, for clients that cannot read server-sent events."""
    turn = await asyncio.to_thread(services.assistant.chat.turn, actor, conversation_id, data.content)
    events = await asyncio.to_thread(turn.collect)
    done = next(e for e in reversed(events) if isinstance(e, DoneEvent))
    text = "".join(e.text for e in events if isinstance(e, TextEvent))
    calls = [_call_out(e.call) for e in events if isinstance(e, ToolEvent)]
    return ReplyOut(done.message_id, done.status, text, calls)


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
        return "tool", {
            "id": event.call.id,
            "name": event.call.name,
            "arguments": plain(event.call.arguments),
            "ok": event.ok,
            "result": event.content,
        }
    if isinstance(event, ErrorEvent):
        return "error", {"code": event.code, "detail": event.detail}
    return "done", {"message_id": event.message_id, "status": event.status.value}


HANDLERS: list[Any] = [
    remember,
    memories,
    recall,
    history,
    memory,
    update,
    forget,
    context,
    actions,
    feedback,
    tools,
    start,
    conversations,
    conversation,
    messages,
    send,
    reply,
]


def router() -> Router:
    """The assistant's routes under /api/v1/assistant: memory, context, actions, tools and chat."""
    return Router(path=f"{API}/assistant", route_handlers=HANDLERS, tags=TAGS)
