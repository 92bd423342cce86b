"""Composer domain models: a draft's content and its limits, the draft itself, and its schedule.

Text limits count grapheme clusters (what a reader sees as one character: an emoji with its
skin tone, a letter with its combining accents), via the ``regex`` module's ``\\X``. Each text
also has a code-point bound, the feed's storage limit, which only text made of very long
clusters (family emoji, stacked accents) can reach.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import regex
from attrs import frozen

from townsquare.core.errors import Conflict, InvalidInput
from townsquare.core.identity import check_user_id

TITLE_MAX_GRAPHEMES = 100
TITLE_MAX_CODE_POINTS = 200
"""The feed's title limit (``feed.models.Draft``)."""
BODY_MAX_GRAPHEMES = 2_000
BODY_MAX_CODE_POINTS = 5_000
"""The feed's body limit."""
MAX_ATTACHMENTS = 10
MAX_MENTIONS = 20
DRAFT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MEDIA_KEY_PATTERN = re.compile(r"^[0-9a-f]{64}$")
_GRAPHEME = regex.compile(r"\X")


def grapheme_count(text: str) -> int:
    """How many user-perceived characters (extended grapheme clusters) ``text`` holds."""
    return sum(1 for _ in _GRAPHEME.finditer(text))


def check_text(value: object, field: str, *, max_graphemes: int, max_code_points: int) -> str:
    """Return ``value`` when it is storable text within both limits, else raise naming ``field``.

    Refuses NUL (Postgres cannot store it) and lone surrogates (not UTF-8), so both adapters
    refuse the same text.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL characters", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{field} is not valid Unicode (a lone surrogate)", field=field) from None
    if len(value) > max_code_points:
        raise InvalidInput(f"{field} must be at most {max_code_points} code points (storage limit)", field=field)
    if len(value) > max_graphemes and grapheme_count(value) > max_graphemes:
        raise InvalidInput(f"{field} must be at most {max_graphemes} characters", field=field)
    return value


def check_draft_id(value: object, field: str = "draft_id") -> str:
    """Return ``value`` when it is a well-formed draft id, else raise :class:`InvalidInput`."""
    if not isinstance(value, str) or not DRAFT_ID_PATTERN.match(value):
        raise InvalidInput(
            f"{field} must be 1..64 letters, digits, '_' or '-' (starting with a letter or digit)", field=field
        )
    return value


def check_version(value: object, field: str = "version") -> int:
    """Return ``value`` when it can be a draft version (a positive integer)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**62:
        raise InvalidInput(f"{field} must be the positive integer version the change is based on", field=field)
    return value


@frozen
class DraftContent:
    """What the author writes: validated by :func:`make_content`.

    Attributes:
        title: a headline (may be blank in a draft; publishing needs one).
        body: Markdown text.
        attachments: media keys (content hashes) of the author's uploads, in order.
        mentions: user ids of mentioned creators, in order, without repeats.
    """

    title: str = ""
    body: str = ""
    attachments: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()


def make_content(
    title: object = "", body: object = "", attachments: Iterable[object] = (), mentions: Iterable[object] = ()
) -> DraftContent:
    """Build :class:`DraftContent` from client input.

    Raises:
        InvalidInput: naming the first field at fault.
    """
    checked_title = check_text(title, "title", max_graphemes=TITLE_MAX_GRAPHEMES, max_code_points=TITLE_MAX_CODE_POINTS)
    checked_body = check_text(body, "body", max_graphemes=BODY_MAX_GRAPHEMES, max_code_points=BODY_MAX_CODE_POINTS)
    keys = _unique(attachments, "attachments", MAX_ATTACHMENTS)
    for key in keys:
        if not MEDIA_KEY_PATTERN.match(key):
            raise InvalidInput("attachments must be media keys (64 lowercase hex digits)", field="attachments")
    users = _unique(mentions, "mentions", MAX_MENTIONS)
    for user in users:
        check_user_id(user, "mentions")
    return DraftContent(checked_title, checked_body, keys, users)


def _unique(values: Iterable[object], field: str, limit: int) -> tuple[str, ...]:
    if isinstance(values, str | bytes):
        raise InvalidInput(f"{field} must be a list of strings", field=field)
    items = list(values)
    if len(items) > limit:
        raise InvalidInput(f"{field} may hold at most {limit} entries", field=field)
    if not all(isinstance(item, str) for item in items):
        raise InvalidInput(f"{field} must be a list of strings", field=field)
    seen = tuple(dict.fromkeys(str(item) for item in items))
    if len(seen) != len(items):
        raise InvalidInput(f"{field} must not repeat an entry", field=field)
    return seen


@frozen
class Schedule:
    """When a draft publishes itself.

    Attributes:
        publish_at: the instant (UTC) the local time resolved to.
        local_time: the wall-clock time the author chose, as they wrote it (no offset).
        time_zone: the IANA zone it is in.
        version: the draft version the schedule was set at; the publish job carries it, so a
            job of an older schedule (rescheduled, cancelled) finds nothing to do.
    """

    publish_at: datetime
    local_time: datetime
    time_zone: str
    version: int


@frozen
class Draft:
    """A post being written. Only its author sees or changes it.

    Attributes:
        draft_id: its id (the client's, or one the service made).
        author_id: who writes it.
        version: 1 when created, one more on every change; a change names the version it saw.
        content: title, body, attachments and mentions.
        created_at: when it was created (its place in the author's list).
        updated_at: when it last changed.
        schedule: when it publishes itself, if scheduled.
    """

    draft_id: str
    author_id: str
    version: int
    content: DraftContent
    created_at: datetime
    updated_at: datetime
    schedule: Schedule | None = None

    @property
    def feed_item_id(self) -> str:
        """The id its post gets in the feed: publishing twice can never make two posts."""
        return f"post:{self.draft_id}"

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Draft:
        """Build a draft from a stored row (the columns of the ``composer_drafts`` table)."""
        schedule = None
        if row["publish_at"] is not None:
            schedule = Schedule(
                publish_at=row["publish_at"],
                local_time=row["schedule_local"],
                time_zone=row["schedule_zone"],
                version=row["schedule_version"],
            )
        return cls(
            draft_id=row["draft_id"],
            author_id=row["author_id"],
            version=row["version"],
            content=DraftContent(row["title"], row["body"], tuple(row["attachments"]), tuple(row["mentions"])),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            schedule=schedule,
        )


@frozen
class DraftPage:
    """One page of the author's drafts, newest first, and the next page's cursor (``None``: the end)."""

    drafts: tuple[Draft, ...]
    next_cursor: str | None


class DraftConflict(Conflict):
    """A change was based on a version that is no longer current; nothing was written.

    Attributes:
        current: the draft as it is now (its version and text), so the client can merge.
    """

    code = "stale_version"

    def __init__(self, current: Draft) -> None:
        super().__init__(
            f"the draft is at version {current.version}; the change was based on an older one",
            field="version",
        )
        self.current = current
