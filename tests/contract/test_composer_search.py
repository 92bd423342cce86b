"""The composer's entity search, on both adapters: ranking tiers, visibility, and hostile queries."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from townsquare.bootstrap import Services
from townsquare.core.composer import make_entity
from townsquare.core.errors import Forbidden, InvalidInput, NotFound
from townsquare.core.identity import Actor

ALICE = Actor("alice")
ADMIN = Actor("root", roles=["admin"])


def index(services: Services) -> None:
    put = services.entity_search.put
    put(ADMIN, make_entity("creator", "u-ember", "ember", "Ember Ceramics", "u-ember"))
    put(ADMIN, make_entity("creator", "u-emberly", "emberly", "Emberly Studio", "u-emberly"))
    put(ADMIN, make_entity("creator", "u-zed", "zed-makes", "Ember and Ash", "u-zed"))
    put(ADMIN, make_entity("product", "p-1", "celadon-bowl", "Celadon bowl by Ember", "u-ember"))
    put(ADMIN, make_entity("event", "e-1", "kiln-open-day", "Kiln open day, ember glazes", "u-ember"))
    put(ADMIN, make_entity("product", "p-2", "embers-secret", "Unreleased ember mug", "u-ember", visibility="private"))
    put(ADMIN, make_entity("creator", "u-glow", "glow", "Glow (formerly remember-me)", "u-glow"))


def handles(services: Services, actor: Actor, q: str, **kwargs: object) -> list[str]:
    return [entity.handle for entity in services.entity_search.search(actor, q, **kwargs)]  # type: ignore[arg-type]


def test_ranking_exact_handle_then_followed_creators_then_text_rank(services: Services) -> None:
    # Given entities and alice following zed
    index(services)
    services.feed.follow(ALICE, "u-zed")
    # When alice searches "ember"
    found = handles(services, ALICE, "ember")
    # Then the exact handle, the followed creator (name matches), handle prefixes, name words, fragments
    assert found == ["ember", "zed-makes", "emberly", "celadon-bowl", "kiln-open-day", "glow"]
    # And "@ember" is the same query as a handle; a prefix finds handles first
    assert handles(services, ALICE, "@EMBER")[0] == "ember"
    assert handles(services, ALICE, "emb") == ["zed-makes", "ember", "emberly", "celadon-bowl", "kiln-open-day", "glow"]
    assert handles(services, ALICE, "emb", limit=2) == ["zed-makes", "ember"]


def test_words_match_by_prefix_in_any_order(services: Services) -> None:
    index(services)
    assert handles(services, ALICE, "bowl cela") == ["celadon-bowl"]
    assert handles(services, ALICE, "open kiln", kinds=["event"]) == ["kiln-open-day"]
    assert handles(services, ALICE, "kiln", kinds=["product"]) == []


def test_private_entities_are_found_by_their_owner_only(services: Services) -> None:
    index(services)
    assert "embers-secret" not in handles(services, ALICE, "embers")
    assert handles(services, Actor("u-ember"), "embers") == ["embers-secret"]


def test_only_owners_or_admins_index_and_remove(services: Services) -> None:
    index(services)
    with pytest.raises(Forbidden):
        services.entity_search.put(ALICE, make_entity("product", "p-1", "mine", "Mine now", "u-ember"))
    with pytest.raises(Forbidden):
        services.entity_search.put(ALICE, make_entity("product", "p-1", "mine", "Mine now", "alice"))
    with pytest.raises(InvalidInput) as caught:
        services.entity_search.put(ALICE, make_entity("creator", "someone", "me", "Me", "alice"))
    assert caught.value.field == "entity_id"
    with pytest.raises(NotFound):
        services.entity_search.remove(ALICE, "product", "p-2")  # private and not hers
    with pytest.raises(Forbidden):
        services.entity_search.remove(ALICE, "product", "p-1")
    services.entity_search.remove(Actor("u-ember"), "product", "p-1")
    assert "celadon-bowl" not in handles(services, ALICE, "celadon")


def test_bad_queries_are_400s_naming_the_field(services: Services) -> None:
    for kwargs, field in [
        ({"q": "x" * 10_240}, "q"),
        ({"q": "nul\x00"}, "q"),
        ({"q": "\udcff"}, "q"),
        ({"q": "a", "limit": 0}, "limit"),
        ({"q": "a", "kinds": ["people"]}, "kinds"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            services.entity_search.search(ALICE, **kwargs)  # type: ignore[arg-type]
        assert caught.value.field == field
    assert services.entity_search.search(ALICE, "   ") == []


HOSTILE = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "a & b",
            "!a | b:*",
            "'",
            "''",
            "\\",
            "%",
            "_",
            "a:* & !",
            "(((",
            "<->",
            "ember' OR 1=1 --",
            "\u0301\u0301",
            "👩‍👩‍👧",
            "ǅ",
            "İstanbul",
            "\ufeff",
            "\u202e",
            "e" * 200,
        ]
    ),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=250),
)


def test_any_query_is_an_answer_or_a_400_never_an_error(services: Services) -> None:
    index(services)

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(q=HOSTILE)
    def hostile(q: str) -> None:
        try:
            found = services.entity_search.search(ALICE, q)
        except InvalidInput as refused:
            assert refused.field == "q"
            return
        assert len(found) <= 10

    hostile()


@pytest.mark.postgres
def test_memory_and_postgres_rank_alike(pg_url: str) -> None:
    from sqlalchemy import create_engine, text
    from tests.conftest import memory_settings, postgres_settings

    from townsquare.bootstrap import bootstrap

    memory = bootstrap(memory_settings())
    postgres = bootstrap(postgres_settings(pg_url))
    engine = create_engine(pg_url)
    syllables = st.sampled_from(["em", "ber", "ka", "lo", "a", "é", "_", "-", "9"])
    words = st.lists(syllables, min_size=1, max_size=3).map("".join)
    handle = st.lists(st.sampled_from(["em", "ber", "ka", "lo", "a", "9", "_", "-"]), min_size=1, max_size=4).map(
        lambda parts: "a" + "".join(parts)
    )
    entity = st.tuples(
        st.sampled_from(["creator", "product", "event"]),
        st.integers(0, 15),
        handle,
        st.lists(words, min_size=1, max_size=3).map(" ".join),
        st.sampled_from(["public", "private"]),
    )

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(
        entities=st.lists(entity, min_size=1, max_size=12, unique_by=lambda e: (e[0], e[1])),
        follows=st.sets(st.integers(0, 15), max_size=4),
        queries=st.lists(st.one_of(words, handle, words.map(lambda w: w + " " + w[:1])), min_size=1, max_size=5),
        limit=st.integers(1, 6),
    )
    def same(entities: list[tuple[str, int, str, str, str]], follows: set[int], queries: list[str], limit: int) -> None:
        memory.reset()
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE composer_entities, feed_follows"))
        for services in (memory, postgres):
            for kind, number, handle_, name, visibility in entities:
                owner = f"u{number}" if kind == "creator" else ("alice" if number % 2 else f"u{number}")
                services.entity_search.put(
                    ADMIN, make_entity(kind, f"u{number}", handle_, name, owner, visibility=visibility)
                )
            for number in follows:
                services.feed.follow(ALICE, f"u{number}")
        for q in queries:
            assert [e.key for e in memory.entity_search.search(ALICE, q, limit=limit)] == [
                e.key for e in postgres.entity_search.search(ALICE, q, limit=limit)
            ], q

    try:
        same()
    finally:
        memory.close()
        postgres.close()
        engine.dispose()


def test_word_and_fragment_tiers_rank_alike_past_the_first_entities_in_handle_order(services: Services) -> None:
    # Postgres walks the first WALK entities in handle order before asking the GIN index (a
    # rare word); this puts the matches before, across and beyond that boundary, on both
    # adapters: the answer is the tier's first matches in handle order whichever path ran.
    from townsquare.adapters.postgres.composer import WALK

    def name(n: int) -> str:
        words = ["filler"]
        if n >= WALK + 100:
            words.append("zircon")  # 3 matches, all beyond the walk
        if n >= WALK + 50:
            words.append("umbra")  # 53 matches beyond it
        if n % 1_000 == 7:
            words.append("umbra")  # and a few inside it
        if n % 500 == 3:
            words.append("quill")  # 10 or more inside it
        return " ".join(words)

    total = WALK + 103
    with services.uow.transaction():  # one commit for the lot (each put joins it)
        for n in range(total):
            visibility = "private" if n % 1_000 == 8 else "public"
            services.entity_search.put(
                ADMIN, make_entity("product", f"p{n}", f"h{n:05d}", name(n), "u-owner", visibility=visibility)
            )

    def having(word: str) -> list[str]:
        return [f"h{n:05d}" for n in range(total) if word in name(n).split()][:10]

    assert handles(services, ALICE, "zirc") == having("zircon")
    assert handles(services, ALICE, "umbra") == having("umbra")
    assert handles(services, ALICE, "quill") == having("quill")
    # The fragment tier (3 characters or more, not a word prefix) takes the same paths.
    assert handles(services, ALICE, "ircon") == having("zircon")
    # A private entity inside the walk is not counted for someone else, and found by its owner.
    assert handles(services, Actor("u-owner"), "fill", limit=50)[:10] == [f"h{n:05d}" for n in range(10)]
