"""The OpenAI-compatible adapters against a local HTTP server speaking that protocol.

The server streams chat completions as server-sent ``data:`` chunks ending in ``[DONE]``,
with tool calls split into argument deltas the way OpenAI sends them; it can also answer
with an error status, stall past the client's timeout, or cut the stream short.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import numpy as np
import pytest

from townsquare.adapters.models.openai import OpenAIChatModel, OpenAIEmbedder, make_client
from townsquare.core.assistant.models import ToolCall
from townsquare.core.assistant.ports import (
    ChatRequest,
    ChatTurn,
    Finished,
    ModelFailed,
    ModelUnavailable,
    TextDelta,
    ToolCallRequest,
    ToolSpec,
)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


class Handler(BaseHTTPRequestHandler):
    mode: ClassVar[str] = "text"
    requests: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *_args: object) -> None:
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Handler.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        if Handler.mode == "slow":
            time.sleep(1.5)
        if Handler.mode == "error":
            self._json(500, {"error": {"message": "overloaded"}})
            return
        if Handler.mode == "bad_request":
            self._json(400, {"error": {"message": "no such model"}})
            return
        if self.path.endswith("/embeddings"):
            data = [{"index": i, "embedding": [float(len(t)), 1.0, 0.0]} for i, t in enumerate(body["input"])]
            self._json(200, {"data": list(reversed(data))})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if Handler.mode == "tools":
            pieces = [
                _chunk({"role": "assistant", "content": None}),
                _chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "memory_recall", "arguments": ""},
                            }
                        ]
                    }
                ),
                _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"query": "te'}}]}),
                _chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'a", "k": 3}'}}]}),
                _chunk(
                    {
                        "tool_calls": [
                            {
                                "index": 1,
                                "id": "call_2",
                                "type": "function",
                                "function": {"name": "notifications_counts", "arguments": "{}"},
                            }
                        ]
                    }
                ),
                _chunk({}, "tool_calls"),
                b"data: [DONE]\n\n",
            ]
        elif Handler.mode == "cut":
            pieces = [_chunk({"content": "Hel"}), _chunk({"content": "lo"})]
        else:
            pieces = [
                b": keep-alive\n\n",
                _chunk({"role": "assistant", "content": "Hel"}),
                _chunk({"content": "lo!"}),
                _chunk({}, "stop"),
                b"data: [DONE]\n\n",
            ]
        for piece in pieces:
            self.wfile.write(piece)
            self.wfile.flush()

    def _json(self, status: int, body: object) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def server() -> Iterator[str]:
    Handler.mode, Handler.requests = "text", []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def _client(base: str, timeout: float = 5.0) -> Any:
    return make_client(base, "sk-test", connect_timeout=1.0, read_timeout=timeout)


REQUEST = ChatRequest(
    turns=(ChatTurn(role="system", content="be brief"), ChatTurn(role="user", content="hi")),
    tools=(ToolSpec("memory_recall", "Recall.", {"type": "object", "properties": {"query": {"type": "string"}}}),),
)


def test_chat_streams_text_chunks_until_done(server: str) -> None:
    chunks = list(OpenAIChatModel(_client(server), "m1").stream(REQUEST))
    assert chunks == [TextDelta("Hel"), TextDelta("lo!"), Finished("stop")]
    sent = Handler.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sk-test"
    assert sent["body"]["stream"] is True and sent["body"]["model"] == "m1"
    assert sent["body"]["tools"][0]["function"]["name"] == "memory_recall"


def test_tool_call_deltas_are_assembled_into_calls(server: str) -> None:
    Handler.mode = "tools"
    chunks = list(OpenAIChatModel(_client(server), "m1").stream(REQUEST))
    assert chunks == [
        ToolCallRequest(ToolCall(id="call_1", name="memory_recall", arguments={"query": "tea", "k": 3})),
        ToolCallRequest(ToolCall(id="call_2", name="notifications_counts", arguments={})),
        Finished("tool_calls"),
    ]


def test_tool_turns_are_sent_in_the_protocols_shape(server: str) -> None:
    call = ToolCall(id="call_9", name="memory_recall", arguments={"query": "x"})
    request = ChatRequest(
        turns=(
            ChatTurn(role="user", content="q"),
            ChatTurn(role="assistant", content="", tool_calls=(call,)),
            ChatTurn(role="tool", content='{"result":[]}', tool_call_id="call_9", name="memory_recall"),
        )
    )
    list(OpenAIChatModel(_client(server), "m1").stream(request))
    messages = Handler.requests[0]["body"]["messages"]
    assert messages[1]["tool_calls"][0] == {
        "id": "call_9",
        "type": "function",
        "function": {"name": "memory_recall", "arguments": '{"query": "x"}'},
    }
    assert messages[2] == {"role": "tool", "content": '{"result":[]}', "tool_call_id": "call_9"}


def test_a_stream_cut_short_is_a_failure_not_a_reply(server: str) -> None:
    Handler.mode = "cut"
    stream = OpenAIChatModel(_client(server), "m1").stream(REQUEST)
    assert next(stream) == TextDelta("Hel")
    assert next(stream) == TextDelta("lo")
    with pytest.raises(ModelFailed):
        next(stream)


@pytest.mark.parametrize(("mode", "error"), [("error", ModelUnavailable), ("bad_request", ModelFailed)])
def test_error_statuses_map_to_unavailable_or_failed(server: str, mode: str, error: type[Exception]) -> None:
    Handler.mode = mode
    with pytest.raises(error):
        list(OpenAIChatModel(_client(server), "m1").stream(REQUEST))
    with pytest.raises(error):
        OpenAIEmbedder(_client(server), "e1").embed(["x"])


def test_a_slow_endpoint_times_out_as_unavailable(server: str) -> None:
    Handler.mode = "slow"
    with pytest.raises(ModelUnavailable, match="in time"):
        list(OpenAIChatModel(_client(server, timeout=0.3), "m1").stream(REQUEST))
    with pytest.raises(ModelUnavailable, match="in time"):
        OpenAIEmbedder(_client(server, timeout=0.3), "e1").embed(["x"])


def test_an_endpoint_that_is_down_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(ModelUnavailable, match="unreachable"):
        list(OpenAIChatModel(_client(base), "m1").stream(REQUEST))
    with pytest.raises(ModelUnavailable):
        OpenAIEmbedder(_client(base), "e1").embed(["x"])


def test_embeddings_come_back_in_input_order_and_unit_length(server: str) -> None:
    vectors = OpenAIEmbedder(_client(server), "e1").embed(["a", "abcd"])
    first, second = (np.frombuffer(v, dtype="<f4") for v in vectors)
    assert np.linalg.norm(first) == pytest.approx(1.0, abs=1e-6)
    assert first[0] == pytest.approx(first[1], abs=1e-6)  # [1, 1, 0] normalised: "a" has length 1
    assert second[0] == pytest.approx(4 * second[1], abs=1e-5)
    assert Handler.requests[0]["body"] == {"model": "e1", "input": ["a", "abcd"]}


def test_a_reply_the_model_cuts_short_is_stored_incomplete(server: str) -> None:
    from tests.conftest import EPOCH, memory_settings
    from townsquare.bootstrap import bootstrap
    from townsquare.core.assistant.chat import DoneEvent, ErrorEvent, TextEvent
    from townsquare.core.assistant.models import MessageStatus
    from townsquare.core.clock import ManualClock
    from townsquare.core.identity import Actor

    # Given the assistant wired to the OpenAI-compatible server, which cuts its stream short
    services = bootstrap(memory_settings(assistant_model_url=server), clock=ManualClock(EPOCH))
    Handler.mode = "cut"
    alice = Actor("alice")
    try:
        conversation = services.assistant.chat.start(alice)
        # When alice sends a message
        events = services.assistant.chat.turn(alice, conversation.id, "hi").collect()
        # Then she saw the text so far and an error, and the reply is stored incomplete
        assert [e.text for e in events if isinstance(e, TextEvent)] == ["Hel", "lo"]
        assert any(isinstance(e, ErrorEvent) and e.code == "model_failed" for e in events)
        assert isinstance(events[-1], DoneEvent) and events[-1].status is MessageStatus.INCOMPLETE
        reply = services.assistant.chat.messages(alice, conversation.id).messages[1]
        assert (reply.status, reply.content) == (MessageStatus.INCOMPLETE, "Hello")
        assert reply.error is not None and "ended before it finished" in reply.error
    finally:
        services.close()
