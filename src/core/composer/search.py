"""Entity search for the composer's picker: creators, products and events by handle prefix and words.

The ranking is one rule, here, for both adapters: matches come in tiers, and within a tier in
handle order (then kind, then id), so a page is a deterministic prefix of the same order on
memory and Postgres:

0. the exact handle (``@ember`` or ``ember``);
1. creators the searcher follows whose handle starts with the query or whose name matches its words;
2. any entity whose handle starts with the query;
3. any entity whose name has a word starting with each query word;
4. for queries of 3 characters or more, any entity whose handle or name contains the query.

Tiers 2-4 are the text rank: a handle prefix says more than a word of the name, which says
more than a fragment. Words, handles and the lowercase name are computed here and stored, so
Postgres matches exactly what this module would (no second tokenizer to disagree with).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from enum import StrEnum

import regex
from attrs import frozen

from townsquare.core.errors import InvalidInput
from townsquare.core.identity import check_user_id

MAX_QUERY_CODE_POINTS = 200
MAX_QUERY_WORDS = 8
MAX_WORD = 64
CONTAINS_MIN = 3
DEFAULT_SEARCH_LIMIT = 10
MAX_SEARCH_LIMIT = 50
_HANDLE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,49}$")
_HANDLE_QUERY = re.compile(r"^[a-z0-9_.-]{1,50}$")
_WORD = regex.compile(r"[^\W_]+")


class EntityKind(StrEnum):
    """What the picker finds."""

    CREATOR = "creator"
    PRODUCT = "product"
    EVENT = "event"


class Visibility(StrEnum):
    """Who finds an entity: everyone, or only its owner (an unpublished product or event)."""

    PUBLIC = "public"
    PRIVATE = "private"


def words_of(text: str) -> tuple[str, ...]:
    """The distinct lowercase words (runs of letters and digits) of ``text``, in order."""
    found = (word[:MAX_WORD] for word in _WORD.findall(text.lower()))
    return tuple(dict.fromkeys(found))


@frozen
class Entity:
    """A searchable thing, written by whoever publishes it.

    Attributes:
        kind: creator, product or event.
        entity_id: its id in its own port (a creator's is their user id).
        handle: a lowercase handle or slug (``ember-ceramics``).
        name: its display name.
        owner_id: who may change it (and see it while private).
        visibility: public, or private to its owner.
        name_lower: the lowercase name (what "contains" compares with).
        words: the name's words (what word prefixes compare with).
    """

    kind: EntityKind
    entity_id: str
    handle: str
    name: str
    owner_id: str
    visibility: Visibility
    name_lower: str
    words: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str, str]:
        """Its place within a tier: handle, then kind, then id."""
        return (self.handle, self.kind.value, self.entity_id)


def make_entity(
    kind: str, entity_id: str, handle: str, name: str, owner_id: str, *, visibility: str = Visibility.PUBLIC
) -> Entity:
    """Build an :class:`Entity` from input.

    Raises:
        InvalidInput: naming the first field at fault.
    """
    if kind not in EntityKind.__members__.values():
        raise InvalidInput("kind must be one of 'creator', 'product', 'event'", field="kind")
    if visibility not in Visibility.__members__.values():
        raise InvalidInput("visibility must be 'public' or 'private'", field="visibility")
    check_user_id(entity_id, "entity_id")
    check_user_id(owner_id, "owner_id")
    if not isinstance(handle, str) or not _HANDLE.match(handle):
        raise InvalidInput(
            "handle must be 1..50 of a-z, 0-9, '_', '.', '-' (starting with a letter or digit)", field="handle"
        )
    from townsquare.core.composer.models import check_text

    check_text(name, "name", max_graphemes=100, max_code_points=200)
    if not name.strip():
        raise InvalidInput("name must not be blank", field="name")
    return Entity(
        kind=EntityKind(kind),
        entity_id=entity_id,
        handle=handle,
        name=name,
        owner_id=owner_id,
        visibility=Visibility(visibility),
        name_lower=name.lower(),
        words=words_of(name),
    )


@frozen
class SearchQuery:
    """A parsed query: what each tier compares with.

    Attributes:
        searcher: who searches (sees public entities and their own).
        handle: the query as a handle (lowercase, without a leading ``@``), or ``None`` when
            it holds characters no handle has.
        words: the query's words (at most 8).
        text: the lowercase, trimmed query (what "contains" looks for).
        kinds: which kinds to find.
        limit: how many hits.
    """

    searcher: str
    handle: str | None
    words: tuple[str, ...]
    text: str
    kinds: tuple[EntityKind, ...]
    limit: int

    @property
    def contains_text(self) -> str | None:
        """The fragment tier 4 looks for, when the query is long enough."""
        return self.text if len(self.text) >= CONTAINS_MIN else None


def parse_query(
    searcher: str, q: object, kinds: Sequence[str] | None = None, limit: object = DEFAULT_SEARCH_LIMIT
) -> SearchQuery:
    """Parse client input into a :class:`SearchQuery`.

    Any Unicode is fine; tsquery operators and LIKE wildcards are plain characters here (the
    words are letters and digits only, and the adapters escape the rest).

    Raises:
        InvalidInput: a query over 200 code points, NUL or a lone surrogate (``q``), an
            unknown kind (``kinds``) or a limit out of 1..50 (``limit``).
    """
    if not isinstance(q, str):
        raise InvalidInput("q must be a string", field="q")
    if len(q) > MAX_QUERY_CODE_POINTS:
        raise InvalidInput(f"q must be at most {MAX_QUERY_CODE_POINTS} characters", field="q")
    if "\x00" in q:
        raise InvalidInput("q must not contain NUL characters", field="q")
    try:
        q.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("q is not valid Unicode (a lone surrogate)", field="q") from None
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_SEARCH_LIMIT}", field="limit")
    chosen: tuple[EntityKind, ...] = tuple(EntityKind)
    if kinds:
        if any(kind not in EntityKind.__members__.values() for kind in kinds):
            raise InvalidInput("kinds may hold 'creator', 'product' and 'event'", field="kinds")
        chosen = tuple(kind for kind in EntityKind if kind.value in kinds)
    text = q.strip().lower()
    handle = text.removeprefix("@")
    return SearchQuery(
        searcher=searcher,
        handle=handle if _HANDLE_QUERY.match(handle) else None,
        words=words_of(text)[:MAX_QUERY_WORDS],
        text=text,
        kinds=chosen,
        limit=limit,
    )


# -- the tiers' predicates (the memory adapter filters with these; SQL says the same) --------


def visible(entity: Entity, query: SearchQuery) -> bool:
    return entity.kind in query.kinds and (entity.visibility is Visibility.PUBLIC or entity.owner_id == query.searcher)


def is_exact(entity: Entity, query: SearchQuery) -> bool:
    return query.handle is not None and entity.handle == query.handle


def has_handle_prefix(entity: Entity, query: SearchQuery) -> bool:
    return query.handle is not None and entity.handle.startswith(query.handle)


def has_word_prefixes(entity: Entity, query: SearchQuery) -> bool:
    return bool(query.words) and all(any(word.startswith(term) for word in entity.words) for term in query.words)


def contains(entity: Entity, query: SearchQuery) -> bool:
    fragment = query.contains_text
    return fragment is not None and (fragment in entity.handle or fragment in entity.name_lower)


def followed_match(entity: Entity, query: SearchQuery) -> bool:
    return entity.kind is EntityKind.CREATOR and (has_handle_prefix(entity, query) or has_word_prefixes(entity, query))


Tier = Callable[[int], Sequence[Entity]]


def rank(query: SearchQuery, tiers: Sequence[Tier]) -> list[Entity]:
    """The first ``query.limit`` entities of the tiers in order, each entity once.

    Each tier is asked for ``limit`` entities in its own order: at most the hits so far are
    ones a higher tier found (skipped here), so that is enough to fill the page.
    """
    hits: list[Entity] = []
    seen: set[tuple[str, str]] = set()
    for tier in tiers:
        if len(hits) >= query.limit:
            break
        for entity in tier(query.limit):
            identity = (entity.kind.value, entity.entity_id)
            if identity in seen:
                continue
            seen.add(identity)
            hits.append(entity)
            if len(hits) >= query.limit:
                break
    return hits
