"""OpenAI-compatible HTTP models: ``POST {base}/embeddings`` and streamed ``POST {base}/chat/completions``.

Works with any server speaking that protocol (OpenAI, vLLM, llama.cpp's server, Ollama's
``/v1``, LiteLLM ...). Failures are mapped to two kinds the host turns into problems:
unreachable or too slow (:class:`ModelUnavailable`, 503) and a bad answer
(:class:`ModelFailed`, 502). A stream that ends without ``[DONE]`` or a finish reason is a
failure too, so a cut reply is never taken for a complete one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from townsquare.core.assistant.models import ToolCall
from townsquare.core.assistant.ports import (
    ChatChunk,
    ChatRequest,
    ChatTurn,
    Finished,
    ModelFailed,
    ModelUnavailable,
    TextDelta,
    ToolCallRequest,
)
from townsquare.core.assistant.vectors import unit_vector

_RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


def make_client(base_url: str, api_key: str, *, connect_timeout: float, read_timeout: float) -> httpx.Client:
    """One pooled client per process for the model endpoint."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    return httpx.Client(base_url=base_url.rstrip("/") + "/", headers=headers, timeout=timeout)


class OpenAIEmbedder:
    """Embeddings from ``POST {base}/embeddings``; each is L2-normalised on arrival."""

    def __init__(self, client: httpx.Client, model: str) -> None:
        self._client = client
        self.name = model

    def embed(self, texts: Sequence[str]) -> list[bytes]:
        if not texts:
            return []
        body = _post_json(self._client, "embeddings", {"model": self.name, "input": list(texts)})
        try:
            data = sorted(body["data"], key=lambda each: each["index"])
            vectors = [unit_vector(each["embedding"]) for each in data]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFailed(f"the embedding endpoint's answer is not an embedding list: {exc}") from None
        if len(vectors) != len(texts) or len({len(v) for v in vectors}) != 1:
            raise ModelFailed("the embedding endpoint returned the wrong number or sizes of embeddings")
        return vectors


class OpenAIChatModel:
    """Streamed chat completions with tool calls (``stream: true``, server-sent ``data:`` chunks)."""

    def __init__(self, client: httpx.Client, model: str) -> None:
        self._client = client
        self.name = model

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        payload: dict[str, Any] = {
            "model": self.name,
            "messages": [_turn(turn) for turn in request.turns],
            "stream": True,
        }
        if request.tools:
            payload["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in request.tools
            ]
        try:
            with self._client.stream("POST", "chat/completions", json=payload) as response:
                _check_status(response, read=True)
                yield from _chunks(response.iter_lines())
        except httpx.TimeoutException as exc:
            raise ModelUnavailable(f"the chat model did not answer in time ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise ModelUnavailable(f"the chat model is unreachable ({type(exc).__name__}: {exc})") from None


def _chunks(lines: Iterator[str]) -> Iterator[ChatChunk]:
    calls: dict[int, dict[str, str]] = {}
    finish: str | None = None
    for line in lines:
        if not line.startswith("data:"):
            continue  # comments, event names, blank separators
        data = line[5:].strip()
        if data == "[DONE]":
            if finish is None:
                finish = "stop"
            break
        try:
            chunk = json.loads(data)
            choice = chunk["choices"][0] if chunk.get("choices") else None
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ModelFailed("the chat model sent a chunk that is not JSON of the chat protocol") from None
        if choice is None:
            continue  # e.g. a usage-only chunk
        delta = choice.get("delta") or {}
        if delta.get("content"):
            yield TextDelta(str(delta["content"]))
        for piece in delta.get("tool_calls") or ():
            entry = calls.setdefault(int(piece.get("index", 0)), {"id": "", "name": "", "arguments": ""})
            function = piece.get("function") or {}
            entry["id"] = piece.get("id") or entry["id"]
            entry["name"] += function.get("name") or ""
            entry["arguments"] += function.get("arguments") or ""
        if choice.get("finish_reason"):
            finish = str(choice["finish_reason"])
    if finish is None:
        raise ModelFailed("the chat model's stream ended before it finished")
    for index in sorted(calls):
        entry = calls[index]
        yield ToolCallRequest(
            ToolCall(id=entry["id"] or f"call_{index}", name=entry["name"], arguments=_arguments(entry["arguments"]))
        )
    yield Finished(finish)


def _arguments(raw: str) -> dict[str, Any] | str:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return raw  # kept as sent: the tool registry answers it with an error result
    return value if isinstance(value, dict) else raw


def _turn(turn: ChatTurn) -> dict[str, Any]:
    message: dict[str, Any] = {"role": turn.role, "content": turn.content}
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments),
                },
            }
            for call in turn.tool_calls
        ]
    if turn.tool_call_id is not None:
        message["tool_call_id"] = turn.tool_call_id
    return message


def _post_json(client: httpx.Client, path: str, payload: dict[str, Any]) -> Any:
    try:
        response = client.post(path, json=payload)
    except httpx.TimeoutException as exc:
        raise ModelUnavailable(f"the model endpoint did not answer in time ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise ModelUnavailable(f"the model endpoint is unreachable ({type(exc).__name__}: {exc})") from None
    _check_status(response, read=False)
    try:
        return response.json()
    except ValueError:
        raise ModelFailed("the model endpoint's answer is not JSON") from None


def _check_status(response: httpx.Response, *, read: bool) -> None:
    if response.status_code < 400:
        return
    if read:
        response.read()
    detail = response.text[:200]
    if response.status_code in _RETRYABLE:
        raise ModelUnavailable(f"the model endpoint answered {response.status_code}: {detail}")
    raise ModelFailed(f"the model endpoint answered {response.status_code}: {detail}")
