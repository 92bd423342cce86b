"""Deterministic local models: no network, nothing installed, the same output every run.

These are what memory mode, the tests and any deployment without ``ASSISTANT_MODEL_URL`` use.
They are not language models:

* :class:`HashedNgramEmbedder` is a *lexical* embedder: words and character trigrams hashed
  into a fixed number of signed buckets, L2-normalised. Texts that share words and spellings
  score high; synonyms, paraphrases and other languages do not.
* :class:`ScriptedChatModel` picks tools by keyword rules over the last user message, and
  replies with fixed sentences that quote the tool results. It understands nothing.
"""

from __future__ import annotations

import json
import re
import unicodedata
import zlib
from collections.abc import Iterator, Sequence

from attrs import frozen

from townsquare.core.assistant.models import ToolCall
from townsquare.core.assistant.ports import (
    ChatChunk,
    ChatRequest,
    ChatTurn,
    Finished,
    TextDelta,
    ToolCallRequest,
)
from townsquare.core.assistant.vectors import unit_vector

DEFAULT_DIMS = 256
_WORD = re.compile(r"\w+", re.UNICODE)


class HashedNgramEmbedder:
    """Words and character trigrams hashed into ``dims`` signed buckets, L2-normalised.

    Hashing is CRC-32 (stable across processes and Python versions, unlike ``hash()``); the
    bucket's sign comes from a second CRC, so colliding features tend to cancel rather than
    pile up. A text with no word characters embeds as the zero vector (similar to nothing).
    """

    def __init__(self, dims: int = DEFAULT_DIMS) -> None:
        if dims < 8:
            raise ValueError("dims must be at least 8")
        self.dims = dims
        self.name = f"local-hashed-ngrams-{dims}"

    def embed(self, texts: Sequence[str]) -> list[bytes]:
        return [self._embed_one(text) for text in texts]

    def _embed_one(self, text: str) -> bytes:
        buckets = [0.0] * self.dims
        normalised = unicodedata.normalize("NFKC", text).casefold()
        for word in _WORD.findall(normalised):
            self._add(buckets, "w:" + word, 1.0)
            padded = f" {word} "
            for start in range(len(padded) - 2):
                self._add(buckets, padded[start : start + 3], 0.5)
        return unit_vector(buckets)

    def _add(self, buckets: list[float], feature: str, weight: float) -> None:
        raw = feature.encode()
        index = zlib.crc32(raw) % self.dims
        sign = 1.0 if zlib.crc32(raw, 0x9E3779B9) & 1 else -1.0
        buckets[index] += sign * weight


@frozen
class Rule:
    """Call ``tool`` when the last user message matches ``pattern``; each named group that matched is an argument."""

    pattern: re.Pattern[str]
    tool: str


def _rule(pattern: str, tool: str) -> Rule:
    return Rule(re.compile(pattern, re.IGNORECASE | re.DOTALL), tool)


_DRAFT_ID = r"(?P<draft_id>[A-Za-z0-9][A-Za-z0-9_-]{0,63})"
_EVENT_ID = r"(?P<event_id>[A-Za-z0-9][A-Za-z0-9_-]{0,63})"
_WHEN = r"(?:\s+(?:at|for|on)\s+(?P<local_time>\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d)?))?"
_ZONE = r"(?:\s+in\s+(?P<time_zone>UTC|[A-Za-z_]+/[A-Za-z_+-]+(?:/[A-Za-z_+-]+)?))?"


# Most specific first: the first rule whose tool is offered this turn wins.
RULES: tuple[Rule, ...] = (
    _rule(r"\bremember(?: that)?\s+(?P<text>.+)", "memory_remember"),
    _rule(r"\b(?:what do you (?:know|remember) about|recall)\s+(?P<query>.+)", "memory_recall"),
    _rule(r"\b(?:unschedule|cancel the schedule of)\b.*?\bdraft\s+" + _DRAFT_ID, "composer_cancel_schedule"),
    _rule(r"\bschedule\b.*?\bdraft\s+" + _DRAFT_ID + _WHEN + _ZONE, "composer_schedule"),
    _rule(r"\bpublish\b.*?\bdraft\s+" + _DRAFT_ID + r"\s*[.!?]?\s*$", "composer_publish"),
    _rule(r"\bdraft\b[^:]*:\s*(?P<text>.+)", "composer_draft"),
    _rule(r"\bpublish\b[^:]*:\s*(?P<title>.+)", "feed_publish_post"),
    _rule(r"\b(?:my drafts|list (?:my )?drafts|drafts)\b", "composer_drafts"),
    _rule(r"\bwhat if\b", "earnings_what_if"),
    _rule(r"\b(?:missed|opportunit\w*|left on the table)\b", "earnings_opportunities"),
    _rule(r"\bmark (?:all|everything)\b.*\bread\b", "notifications_mark_all_read"),
    _rule(r"\b(?:unread|notification counts?|how many notifications)\b", "notifications_counts"),
    _rule(r"\b(?:inbox|notifications)\b", "notifications_inbox"),
    _rule(r"\bdigest\b", "notifications_digest_preview"),
    _rule(r"\btier\b", "earnings_tier"),
    _rule(r"\b(?:earn\w*|money|revenue|payout)\b", "earnings_summary"),
    _rule(r"\b(?:ledger|timeline|transactions)\b", "earnings_timeline"),
    _rule(r"\bcart\b", "cart_list"),
    _rule(
        r"\b(?:tickets? left|availability|sold out)\b.*?\bevent\s+(?P<event_id>[A-Za-z0-9][A-Za-z0-9_-]{0,63})",
        "events_availability",
    ),
    _rule(
        r"\braise the quota of\s+(?P<type_id>[A-Za-z0-9][A-Za-z0-9_-]{0,63})\s+(?:of|for)\s+event\s+"
        + _EVENT_ID
        + r"\s+to\s+(?P<quota>\d{1,9})\b",
        "events_raise_quota",
    ),
    _rule(r"\b(?:stats|statistics|sales report)\b.*?\bevent\s+" + _EVENT_ID, "reports_event_stats"),
    _rule(r"\b(?:stats|statistics|sales report)\b", "reports_stats"),
    _rule(r"\b(?:waitlist demand|people waiting|who is waiting|sold out)\b", "events_waitlist_demand"),
    _rule(r"\b(?:my waitlists?|my places?|in line)\b", "events_waitlist_mine"),
    _rule(r"\bregistrations?\b", "events_registrations"),
    _rule(r"\bmy events\b", "events_mine"),
    _rule(r"\b(?:suggest\w*|what should i do|next best|recommend\w*)\b", "assistant_next_actions"),
    _rule(r"\bfollow(?:ing)?\b", "feed_following"),
    _rule(r"\bfeed\b", "feed_home"),
)


class ScriptedChatModel:
    """Picks at most one tool per user message by :data:`RULES`, then reports what it returned.

    Streams its sentences word by word, so hosts see a real stream. Deterministic: the same
    conversation gets the same reply.
    """

    name = "local-scripted"

    def __init__(self, rules: Sequence[Rule] = RULES) -> None:
        self._rules = tuple(rules)

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        last = request.turns[-1] if request.turns else ChatTurn(role="user", content="")
        if last.role == "tool":
            yield from _words(self._report(request.turns))
            yield Finished("stop")
            return
        offered = {tool.name for tool in request.tools}
        user_text = last.content if last.role == "user" else ""
        for rule in self._rules:
            match = rule.pattern.search(user_text)
            if match is None or rule.tool not in offered:
                continue
            arguments: dict[str, object] = {
                name: _argument(name, value) for name, value in match.groupdict().items() if value is not None
            }
            call_id = f"call_{zlib.crc32(f'{len(request.turns)}:{rule.tool}'.encode()):08x}"
            yield ToolCallRequest(ToolCall(id=call_id, name=rule.tool, arguments=arguments))
            yield Finished("tool_calls")
            return
        yield from _words(
            "I can look up your feed, notifications, earnings, tier, cart and memories, "
            "remember things for you, and suggest what to do next. Ask me about one of those."
        )
        yield Finished("stop")

    def _report(self, turns: Sequence[ChatTurn]) -> str:
        results: list[str] = []
        for turn in reversed(turns):
            if turn.role != "tool":
                break
            results.append(f"{turn.name}: {_brief(turn.content)}")
        return "Here is what I found. " + " ".join(reversed(results))


def _argument(name: str, value: str) -> str:
    # A one-line argument's final '.', '?' or '!' ends the user's sentence; more lines are a text as written.
    value = value.strip()
    if "\n" not in value:
        value = value.rstrip(".?!")
    return value.replace(" ", "T") if name == "local_time" else value


def _words(text: str) -> Iterator[TextDelta]:
    words = text.split(" ")
    for index, word in enumerate(words):
        yield TextDelta(word if index == 0 else " " + word)


def _brief(content: str, limit: int = 600) -> str:
    try:
        compact = json.dumps(json.loads(content), separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        compact = content
    return compact if len(compact) <= limit else compact[: limit - 1] + "…"
