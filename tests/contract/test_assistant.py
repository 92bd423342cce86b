"""Assistant contract: memory, recall, context, next-best actions and chat behave the same on both adapters."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from tests.conftest import EPOCH, memory_settings

from townsquare.adapters.models.local import HashedNgramEmbedder
from townsquare.bootstrap import Services, bootstrap
from townsquare.core.assistant.chat import DoneEvent, TextEvent, ToolEvent
from townsquare.core.assistant.memory import MAX_K
from townsquare.core.assistant.models import MemoryEvent, MessageStatus, Role, ToolCall
from townsquare.core.assistant.vectors import similarity
from townsquare.core.clock import ManualClock
from townsquare.core.composer import make_content
from townsquare.core.errors import InvalidCursor, InvalidInput, NotFound
from townsquare.core.feed.models import Draft
from townsquare.core.identity import Actor

SENDER = Actor("test-sender", roles=["service"])

ALICE, BOB = Actor("alice"), Actor("bob")
SHOP = Actor("shop", roles=["service"])


# -- memory ----------------------------------------------------------------------------------


def test_remember_and_recall_rank_by_similarity(services: Services) -> None:
    memory = services.assistant.memory
    # Given three memories of alice
    tea = memory.remember(ALICE, "I drink green tea every morning").memory
    memory.remember(ALICE, "My dog is called Rex")
    memory.remember(ALICE, "I live in Lisbon near the river")
    # When she recalls by a related query
    hits = memory.recall(ALICE, "green tea", 2)
    # Then the tea memory comes first, with its cosine score
    assert next(hit.memory.id for hit in hits) == tea.id
    assert len(hits) == 2
    assert hits[0].score >= hits[1].score
    embedder = HashedNgramEmbedder()
    (query,) = embedder.embed(["green tea"])
    assert hits[0].score == pytest.approx(similarity(query, tea.embedding), abs=1e-6)


def test_a_near_duplicate_updates_the_existing_memory(services: Services) -> None:
    memory = services.assistant.memory
    # Given a memory
    first = memory.remember(ALICE, "I prefer email over push notifications")
    # When nearly the same text is remembered
    second = memory.remember(ALICE, "I prefer email over push notifications.")
    # Then the same memory took the new text, and there is still one memory
    assert first.created and not second.created
    assert second.memory.id == first.memory.id
    assert second.memory.text.endswith(".") and second.memory.version == 2
    assert second.similarity is not None and second.similarity >= 0.92
    assert [m.id for m in memory.memories(ALICE).memories] == [first.memory.id]
    events = [e.event for e in memory.history(ALICE, first.memory.id).entries]
    assert events == [MemoryEvent.MERGED, MemoryEvent.ADDED]


def test_recall_never_crosses_users(services: Services) -> None:
    memory = services.assistant.memory
    # Given the same fact remembered by alice and bob
    mine = memory.remember(ALICE, "my favourite colour is teal").memory
    bobs = memory.remember(BOB, "my favourite colour is teal").memory
    # When each recalls it, reads, updates or forgets the other's
    # Then each sees only their own
    assert [hit.memory.id for hit in memory.recall(ALICE, "favourite colour", 10)] == [mine.id]
    assert [hit.memory.id for hit in memory.recall(BOB, "favourite colour", 10)] == [bobs.id]
    with pytest.raises(NotFound):
        memory.get(ALICE, bobs.id)
    with pytest.raises(NotFound):
        memory.update(ALICE, bobs.id, "changed")
    with pytest.raises(NotFound):
        memory.forget(ALICE, bobs.id)
    assert memory.get(BOB, bobs.id).text == "my favourite colour is teal"
    assert [e.memory_id for e in memory.history(ALICE).entries] == [mine.id]


def test_update_forget_and_history(services: Services) -> None:
    memory = services.assistant.memory
    # Given a memory that is updated and then forgotten
    kept = memory.remember(ALICE, "I sell ceramics").memory
    updated = memory.update(ALICE, kept.id, "I sell ceramics and prints")
    memory.forget(ALICE, kept.id)
    # Then it is gone from reads and recall, forgetting twice is a 404,
    with pytest.raises(NotFound):
        memory.get(ALICE, kept.id)
    with pytest.raises(NotFound):
        memory.forget(ALICE, kept.id)
    assert memory.recall(ALICE, "ceramics", 5) == []
    # and its history keeps the events in order but none of the texts
    entries = memory.history(ALICE, kept.id).entries
    assert updated.version == 2
    assert [e.event for e in entries] == [MemoryEvent.FORGOTTEN, MemoryEvent.UPDATED, MemoryEvent.ADDED]
    assert all(e.text == "" and e.previous_text is None for e in entries)


def test_expired_memories_are_hidden_at_once_and_pruned_later(services: Services, clock: ManualClock) -> None:
    memory = services.assistant.memory
    # Given a memory that expires in an hour and one that never does
    short = memory.remember(ALICE, "I am travelling this week", expires_at=clock.now() + timedelta(hours=1)).memory
    memory.remember(ALICE, "I am vegetarian")
    # When the clock passes the expiry
    clock.advance(timedelta(hours=1))
    # Then it is hidden from recall, reads and lists before any pruning
    assert short.id not in [hit.memory.id for hit in memory.recall(ALICE, "travelling this week", 10)]
    with pytest.raises(NotFound):
        memory.get(ALICE, short.id)
    assert [m.text for m in memory.memories(ALICE).memories] == ["I am vegetarian"]
    # and the periodic job deletes it once (a second run finds nothing)
    assert memory.prune_expired() == 1
    assert memory.prune_expired() == 0
    assert memory.history(ALICE, short.id).entries[0].event is MemoryEvent.EXPIRED


def test_bad_memories_and_ks_are_refused_and_change_nothing(services: Services) -> None:
    memory = services.assistant.memory
    # Given an empty, a blank, a 1 MB and a NUL-holding memory
    for text in ("", "   ", "x" * 1_000_000, "a\x00b"):
        # Then each is refused naming the text, and nothing is stored or recorded
        with pytest.raises(InvalidInput) as refused:
            memory.remember(ALICE, text)
        assert refused.value.field == "text"
    assert memory.memories(ALICE).memories == []
    assert memory.history(ALICE).entries == []
    # and a recall with k of 0, -1, 101, 10,000 or a bool is refused naming k
    memory.remember(ALICE, "anything")
    for k in (0, -1, MAX_K + 1, 10_000, True):
        with pytest.raises(InvalidInput) as refused:
            memory.recall(ALICE, "anything", k)
        assert refused.value.field == "k"


def test_an_expiry_in_the_past_is_refused(services: Services, clock: ManualClock) -> None:
    with pytest.raises(InvalidInput) as refused:
        services.assistant.memory.remember(ALICE, "old news", expires_at=clock.now())
    assert refused.value.field == "expires_at"


def test_memory_pages_follow_cursors_and_refuse_foreign_ones(services: Services, clock: ManualClock) -> None:
    memory = services.assistant.memory
    texts = ["alpha beta", "gamma delta", "epsilon zeta", "eta theta", "iota kappa"]
    for text in texts:
        memory.remember(ALICE, text)
        clock.advance(timedelta(seconds=1))
    first = memory.memories(ALICE, limit=2)
    assert first.next_cursor is not None
    second = memory.memories(ALICE, cursor=first.next_cursor, limit=2)
    assert second.next_cursor is not None
    third = memory.memories(ALICE, cursor=second.next_cursor, limit=2)
    seen = [m.text for m in first.memories + second.memories + third.memories]
    assert seen == list(reversed(texts)) and third.next_cursor is None
    with pytest.raises(InvalidCursor):
        memory.memories(BOB, cursor=first.next_cursor)


# -- context ---------------------------------------------------------------------------------


def test_the_context_is_cached_until_a_source_changes(services: Services) -> None:
    context = services.assistant.context
    # Given a compiled context
    first = context.compile(ALICE)
    again = context.compile(ALICE)
    assert not first.cached and again.cached and again.facts == first.facts
    # When a source changes (a new earning, a memory, a cart item)
    services.earnings.record(SHOP, creator_id="alice", kind="sale", amount=1500, currency="USD", idempotency_key="k1")
    after_earning = context.compile(ALICE)
    services.assistant.memory.remember(ALICE, "I run a ceramics shop")
    after_memory = context.compile(ALICE)
    # Then each change misses the cache and shows the new fact
    assert not after_earning.cached and any("pending 1500" in f.text for f in after_earning.facts)
    assert not after_memory.cached and any("ceramics" in f.text for f in after_memory.facts)


def test_the_context_keeps_the_most_relevant_facts_within_its_budget(services: Services) -> None:
    for index in range(30):
        services.assistant.memory.remember(ALICE, f"fact number {index} about pottery glazes and kilns {index * 7}")
    services.earnings.record(SHOP, creator_id="alice", kind="sale", amount=900, currency="EUR", idempotency_key="e1")
    compiled = services.assistant.context.compile(ALICE, budget=200)
    assert compiled.size <= 200 and compiled.dropped > 0
    relevances = [fact.relevance for fact in compiled.facts]
    assert relevances == sorted(relevances, reverse=True)
    assert compiled.facts[0].kind == "earnings"  # pending money is the most relevant fact
    with pytest.raises(InvalidInput):
        services.assistant.context.compile(ALICE, budget=10)


# -- next-best actions -------------------------------------------------------------------------


def test_actions_come_with_reasons_and_a_dismissed_one_stays_away(services: Services, clock: ManualClock) -> None:
    actions = services.assistant.actions
    # Given pending earnings and a product left in the cart for two days
    services.earnings.record(SHOP, creator_id="alice", kind="sale", amount=25_000, currency="USD", idempotency_key="a")
    services.feed.publish(BOB, Draft(item_id="mug", kind="product", title="Mug", price_cents=3_000, currency="USD"))
    services.feed.add_to_cart(ALICE, "mug")
    clock.advance(timedelta(days=2))
    # When alice asks for her next-best actions
    found = actions.suggest(ALICE, 5)
    keys = [s.candidate.key for s in found]
    # Then both show, best value first, each with a reason
    assert keys == ["capture_pending:USD", "cart_follow_up:mug"]
    assert all(s.candidate.reason for s in found)
    # When she dismisses one, it stays away for the cooldown, then returns
    actions.decide(ALICE, "cart_follow_up:mug", "dismissed")
    assert [s.candidate.key for s in actions.suggest(ALICE, 5)] == ["capture_pending:USD"]
    clock.advance(timedelta(days=8))
    assert "cart_follow_up:mug" in [s.candidate.key for s in actions.suggest(ALICE, 5)]
    # and bob, with nothing at stake, is shown nothing (below the threshold)
    assert actions.suggest(BOB, 5) == []


def test_dismissals_lower_the_propensity_of_that_kind(services: Services, clock: ManualClock) -> None:
    actions = services.assistant.actions
    services.earnings.record(SHOP, creator_id="alice", kind="sale", amount=100_000, currency="USD", idempotency_key="b")
    before = actions.suggest(ALICE)[0]
    for currency in ("EUR", "GBP", "JPY"):
        actions.decide(ALICE, f"capture_pending:{currency}", "dismissed")
        clock.advance(timedelta(seconds=1))
    after = actions.suggest(ALICE)[0]
    assert after.candidate.key == before.candidate.key
    assert after.propensity < before.propensity and after.score < before.score


def test_bad_feedback_is_refused(services: Services) -> None:
    for key, decision, field in (("nope", "accepted", "key"), ("a:b", "maybe", "decision")):
        with pytest.raises(InvalidInput) as refused:
            services.assistant.actions.decide(ALICE, key, decision)
        assert refused.value.field == field


# -- chat ------------------------------------------------------------------------------------


def test_a_scripted_conversation_uses_tools_and_stores_every_call(services: Services) -> None:
    chat = services.assistant.chat
    services.earnings.record(SHOP, creator_id="alice", kind="sale", amount=4200, currency="USD", idempotency_key="c")
    conversation = chat.start(ALICE, "money")
    # When alice asks about her earnings, then asks to remember something
    events = chat.turn(ALICE, conversation.id, "How much did I earn?").collect()
    tools = [e for e in events if isinstance(e, ToolEvent)]
    assert [t.call.name for t in tools] == ["earnings_summary"] and tools[0].ok
    assert json.loads(tools[0].content)["result"][0]["pending"] == 4200
    assert "4200" in "".join(e.text for e in events if isinstance(e, TextEvent))
    assert isinstance(events[-1], DoneEvent) and events[-1].status is MessageStatus.COMPLETE
    chat.turn(ALICE, conversation.id, "Remember that I ship on Fridays").collect()
    # Then the memory exists, and the stored conversation shows each call and result
    assert [hit.memory.text for hit in services.assistant.memory.recall(ALICE, "ship Fridays", 1)] == [
        "I ship on Fridays"
    ]
    messages = chat.messages(ALICE, conversation.id).messages
    assert [m.role for m in messages] == [Role.USER, Role.ASSISTANT, Role.TOOL] * 2
    assert [m.tool_name for m in messages if m.role is Role.TOOL] == ["earnings_summary", "memory_remember"]
    assert all(m.status is MessageStatus.COMPLETE for m in messages)
    assert messages[1].tool_calls[0].name == "earnings_summary"
    with pytest.raises(NotFound):
        chat.messages(BOB, conversation.id)


def test_a_conversation_publishes_a_post_through_a_tool(services: Services) -> None:
    chat = services.assistant.chat
    conversation = chat.start(ALICE)
    events = chat.turn(ALICE, conversation.id, "Please publish: Studio open day on Saturday").collect()
    (tool,) = [e for e in events if isinstance(e, ToolEvent)]
    item_id = json.loads(tool.content)["result"]["item_id"]
    item = services.feed.item(item_id)
    assert (item.creator_id, item.title) == ("alice", "Studio open day on Saturday")


def test_a_scripted_conversation_drafts_and_schedules_a_post_through_tools(
    services: Services, clock: ManualClock
) -> None:
    chat = services.assistant.chat
    conversation = chat.start(ALICE, "launch")
    # When alice asks for a draft, then to schedule it at a local time in Lisbon
    events = chat.turn(ALICE, conversation.id, "Draft this: Spring drop\nTwelve new prints, signed.").collect()
    (drafted,) = [e for e in events if isinstance(e, ToolEvent)]
    assert drafted.call.name == "composer_draft" and drafted.ok
    draft_id = json.loads(drafted.content)["result"]["draft_id"]
    draft = services.composer.get(ALICE, draft_id)
    assert (draft.content.title, draft.content.body) == ("Spring drop", "Twelve new prints, signed.")
    local = (clock.now() + timedelta(days=3)).strftime("%Y-%m-%dT10:30")
    events = chat.turn(ALICE, conversation.id, f"Schedule draft {draft_id} at {local} in Europe/Lisbon").collect()
    (scheduled,) = [e for e in events if isinstance(e, ToolEvent)]
    assert scheduled.call.name == "composer_schedule" and scheduled.ok, scheduled.content
    # Then the draft is scheduled at that wall-clock time in that zone, and the conversation shows both calls
    schedule = services.composer.get(ALICE, draft_id).schedule
    assert schedule is not None
    assert (schedule.local_time.isoformat(timespec="minutes"), schedule.time_zone) == (local, "Europe/Lisbon")
    assert [m.tool_name for m in chat.messages(ALICE, conversation.id).messages if m.role is Role.TOOL] == [
        "composer_draft",
        "composer_schedule",
    ]
    # And a retried draft call creates nothing new; bob cannot schedule alice's draft through his own chat
    assert [d.draft_id for d in services.composer.list_mine(ALICE).drafts] == [draft_id]
    bobs = chat.start(BOB)
    refused = chat.run_tool(
        BOB, bobs.id, ToolCall(id="b1", name="composer_schedule", arguments={"draft_id": draft_id}), chat.tools.names
    )
    assert not refused.ok and json.loads(refused.content)["error"] == "not_found"


def test_a_schedule_without_a_time_is_tomorrow_at_nine_in_the_users_zone(services: Services) -> None:
    chat = services.assistant.chat
    conversation = chat.start(ALICE)
    draft = services.composer.create(ALICE, make_content("Morning note"))
    result = chat.run_tool(
        ALICE,
        conversation.id,
        ToolCall(id="s1", name="composer_schedule", arguments={"draft_id": draft.draft_id, "time_zone": "Asia/Tokyo"}),
        chat.tools.names,
    )
    assert result.ok, result.content
    schedule = services.composer.get(ALICE, draft.draft_id).schedule
    assert schedule is not None and (schedule.local_time.hour, schedule.local_time.minute) == (9, 0)
    bad = chat.run_tool(
        ALICE,
        conversation.id,
        ToolCall(id="s2", name="composer_schedule", arguments={"draft_id": draft.draft_id, "local_time": "soon"}),
        chat.tools.names,
    )
    assert not bad.ok and json.loads(bad.content)["field"] == "local_time"


def test_tools_run_with_the_users_own_permissions(services: Services) -> None:
    chat, registry = services.assistant.chat, services.assistant.chat.tools
    # Given bob's notification
    sent = services.notifications.send(SENDER, "bob", "inapp", "system", title="Bob's")
    assert sent.notification_id is not None
    conversation = chat.start(ALICE)
    # When alice's tool call names bob's notification
    result = chat.run_tool(
        ALICE,
        conversation.id,
        ToolCall(id="c1", name="notifications_mark_read", arguments={"ids": [sent.notification_id]}),
        registry.names,
    )
    # Then it is refused as her own HTTP call would be, and bob's stays unread
    assert not result.ok and json.loads(result.content)["error"] == "not_found"
    assert services.notifications.counts(Actor("bob")).total == 1


def test_tool_arguments_that_fail_validation_are_an_error_result(services: Services) -> None:
    chat = services.assistant.chat
    conversation = chat.start(ALICE)
    cases: list[tuple[object, str | None]] = [
        ({"query": "x", "k": "many"}, "k"),  # a wrong type
        ({"k": 3}, "query"),  # a missing argument
        ({"query": "x", "extra": 1}, "extra"),  # an unknown one
        ("[1,", None),  # not a JSON object at all
        ({"query": "x", "k": 0}, "k"),  # refused by the service itself
    ]
    for index, (arguments, field) in enumerate(cases):
        call = ToolCall(id=f"c{index}", name="memory_recall", arguments=arguments)  # type: ignore[arg-type]
        result = chat.run_tool(ALICE, conversation.id, call, chat.tools.names)
        body = json.loads(result.content)
        assert not result.ok and body["error"] == "invalid_arguments", arguments
        assert body.get("field") == field, arguments
    stored = chat.messages(ALICE, conversation.id).messages
    assert [(m.tool_name, m.tool_ok) for m in stored] == [("memory_recall", False)] * len(cases)


def test_a_tool_not_offered_this_turn_does_not_run(services: Services) -> None:
    chat = services.assistant.chat
    conversation = chat.start(ALICE)
    call = ToolCall(id="c3", name="feed_publish_post", arguments={"title": "sneaky"})
    result = chat.run_tool(ALICE, conversation.id, call, ["notifications_counts"])
    assert not result.ok and json.loads(result.content)["error"] == "unknown_tool"


def test_a_reply_closed_early_is_stored_incomplete(services: Services) -> None:
    chat = services.assistant.chat
    conversation = chat.start(ALICE)
    turn = chat.turn(ALICE, conversation.id, "hello there")
    first = next(turn)
    assert isinstance(first, TextEvent)
    turn.close()  # the client went away
    reply = chat.messages(ALICE, conversation.id).messages[1]
    assert reply.status is MessageStatus.INCOMPLETE and reply.content == first.text
    assert reply.error is not None and "went away" in reply.error


def test_turns_are_rate_limited_per_user(services: Services, clock: ManualClock) -> None:
    from townsquare.core.assistant.ports import TooManyTurns

    chat = services.assistant.chat
    conversation = chat.start(ALICE)
    for _ in range(services.settings.assistant_turns_per_minute):
        chat.turn(ALICE, conversation.id, "hi").collect()
    with pytest.raises(TooManyTurns):
        chat.turn(ALICE, conversation.id, "one more")
    other = chat.start(BOB)
    chat.turn(BOB, other.id, "hi").collect()  # bob has his own allowance
    clock.advance(timedelta(minutes=1))
    chat.turn(ALICE, conversation.id, "again").collect()


def test_bad_messages_are_refused(services: Services) -> None:
    chat = services.assistant.chat
    conversation = chat.start(ALICE)
    for text in ("", "  ", "x" * 9000):
        with pytest.raises(InvalidInput):
            chat.turn(ALICE, conversation.id, text)
    with pytest.raises(NotFound):
        chat.turn(BOB, conversation.id, "not yours")
    assert chat.messages(ALICE, conversation.id).messages == []


def test_mock_mode_repeats_ids_after_a_reset_and_forgets_what_it_cached() -> None:
    services = bootstrap(memory_settings(), clock=ManualClock(EPOCH))
    memory = services.assistant.memory
    # Given a memory, recalled (its vectors cached at version 1) and compiled into a context
    first = memory.remember(ALICE, "I glaze bowls in blue").memory
    assert [hit.memory.text for hit in memory.recall(ALICE, "blue bowls", 1)] == ["I glaze bowls in blue"]
    services.assistant.context.compile(ALICE)
    # When mock mode resets and another memory is made (version 1 again)
    services.reset()
    second = memory.remember(ALICE, "I sell prints of harbours").memory
    # Then it gets the same id (a repeatable sequence), and nothing stale comes back
    assert second.id == first.id
    assert [hit.memory.text for hit in memory.recall(ALICE, "blue bowls", 5)] == ["I sell prints of harbours"]
    assert [f.text for f in services.assistant.context.compile(ALICE).facts if f.kind == "memory"] == [
        "Remembered: I sell prints of harbours"
    ]
    services.close()


def test_a_ready_draft_is_suggested_and_in_the_context_until_it_is_scheduled(
    services: Services, clock: ManualClock
) -> None:
    draft = services.composer.create(ALICE, make_content("Studio tour", "Photos from the new space."))
    services.composer.create(ALICE, make_content("", "an idea without a title"))
    compiled = services.assistant.context.compile(ALICE)
    assert any(f.kind == "draft" and f.data["draft_id"] == draft.draft_id for f in compiled.facts)
    # A fresh draft is not yet "ready"; a day later it is, the untitled one never is
    assert not [s for s in services.assistant.actions.suggest(ALICE, 10) if s.candidate.kind == "publish_draft"]
    clock.advance(timedelta(days=1))
    suggested = [
        s.candidate for s in services.assistant.actions.suggest(ALICE, 10) if s.candidate.kind == "publish_draft"
    ]
    assert [(c.key, c.tool) for c in suggested] == [(f"publish_draft:{draft.draft_id}", "composer_publish")]
    # When it is scheduled, the suggestion goes and the context sees the schedule (its mark moved)
    when = (clock.now() + timedelta(days=2)).replace(tzinfo=None, microsecond=0)
    services.composer.schedule(ALICE, draft.draft_id, draft.version, when, "UTC")
    assert not [s for s in services.assistant.actions.suggest(ALICE, 10) if s.candidate.kind == "publish_draft"]
    recompiled = services.assistant.context.compile(ALICE)
    assert not recompiled.cached
    assert any(f.kind == "draft" and f.data["scheduled"] for f in recompiled.facts)


def test_event_tools_answer_as_the_user(services: Services) -> None:
    from tests.contract.test_events import published_event, reserve

    published_event(services, quota=5)
    reserve(services, ALICE, quantity=2)
    chat = services.assistant.chat
    conversation = chat.start(ALICE)
    events = chat.turn(ALICE, conversation.id, "Show my registrations").collect()
    (listed,) = [e for e in events if isinstance(e, ToolEvent)]
    assert listed.call.name == "events_registrations" and listed.ok
    [registration] = json.loads(listed.content)["result"]
    assert (registration["event_id"], registration["quantity"], registration["status"]) == ("jazz", 2, "reserved")
    events = chat.turn(ALICE, conversation.id, "How many tickets left for event jazz?").collect()
    (left,) = [e for e in events if isinstance(e, ToolEvent)]
    assert left.call.name == "events_availability" and left.ok, left.content
    assert json.loads(left.content)["result"]["tickets_left_by_type"] == {"standard": 3}
    # Bob sees no registration of alice's; alice produces no events
    bobs = chat.start(BOB)
    mine = chat.run_tool(BOB, bobs.id, ToolCall(id="r", name="events_registrations", arguments={}), chat.tools.names)
    assert mine.ok and json.loads(mine.content)["result"] == []
    produced = chat.run_tool(
        ALICE, conversation.id, ToolCall(id="m", name="events_mine", arguments={}), chat.tools.names
    )
    assert produced.ok and json.loads(produced.content)["result"] == []


# -- events, waitlists and reports in the assistant ------------------------------------------


def test_registrations_are_in_the_context_and_each_change_invalidates_it(
    services: Services, clock: ManualClock
) -> None:
    from tests.contract.test_events import PRODUCER, published_event, reserve

    context = services.assistant.context
    published_event(services)
    # Given alice's hold, in her compiled context
    held = reserve(services, ALICE, quantity=2)
    first = context.compile(ALICE)
    (fact,) = [f for f in first.facts if f.kind == "registration"]
    assert (fact.data["registration_id"], fact.data["status"]) == (held.registration_id, "reserved")
    assert "held until" in fact.text and context.compile(ALICE).cached
    # When she pays, the mark moves: a miss that shows the confirmation
    services.events.confirm(ALICE, held.registration_id, idempotency_key="pay")
    paid = context.compile(ALICE)
    assert not paid.cached
    assert [f.data["status"] for f in paid.facts if f.kind == "registration"] == ["confirmed"]
    assert context.compile(ALICE).cached
    # When the producer refunds it, another miss shows the refund
    services.events.refund(PRODUCER, held.registration_id, reason="rain", idempotency_key="refund")
    refunded = context.compile(ALICE)
    assert not refunded.cached
    ((status, amount),) = [(f.data["status"], f.data["refunded"]) for f in refunded.facts if f.kind == "registration"]
    assert (status, amount) == ("refunded", 5_000)
    # A new registration is a miss too, and a hold that lapses is one without any write
    reserve(services, ALICE, quantity=1, key="r2")
    assert not context.compile(ALICE).cached
    clock.advance(timedelta(hours=2))
    lapsed = context.compile(ALICE)
    assert not lapsed.cached
    assert sorted(f.data["status"] for f in lapsed.facts if f.kind == "registration") == ["expired", "refunded"]
    # and bob's context holds none of alice's registrations
    assert not [f for f in context.compile(BOB).facts if f.kind == "registration"]


def _raise_quota_actions(services: Services, actor: Actor) -> list[object]:
    return [s for s in services.assistant.actions.suggest(actor, 10) if s.candidate.kind == "raise_quota"]


def test_a_sold_out_type_with_people_waiting_suggests_raising_its_quota(services: Services) -> None:
    from tests.contract.test_events import PRODUCER
    from tests.contract.test_events_waitlist import FANS, join_all, sold_out_event

    # Given the producer's type sold out at 2 (price 2,000) and three fans in line
    sold_out_event(services, quota=2)
    assert _raise_quota_actions(services, PRODUCER) == []  # nobody waits yet
    join_all(services, FANS[:3])
    # When the producer asks for next-best actions
    (suggested,) = _raise_quota_actions(services, PRODUCER)
    candidate = suggested.candidate  # type: ignore[attr-defined]
    # Then raising the quota is suggested, with the value at stake (waiting x price) in its reason
    assert candidate.key == "raise_quota:jazz:standard" and candidate.tool == "events_raise_quota"
    assert (candidate.value, candidate.currency) == (6_000, "EUR")
    assert "3 x 2000 = 6000 minor units of EUR" in candidate.reason and "to 5" in candidate.title
    # A fan in line is shown no such action (not their event)
    assert _raise_quota_actions(services, FANS[0]) == []
    # Dismissed, it stays away; accepted and done through the tool, it is gone for good
    services.assistant.actions.decide(PRODUCER, candidate.key, "dismissed")
    assert _raise_quota_actions(services, PRODUCER) == []


def test_raising_the_quota_through_its_tool_serves_the_line_and_ends_the_suggestion(
    services: Services, clock: ManualClock
) -> None:
    from tests.contract.test_events import PRODUCER
    from tests.contract.test_events_waitlist import FANS, join_all, run_jobs, sold_out_event

    sold_out_event(services, quota=2)
    join_all(services, FANS[:3])
    chat = services.assistant.chat
    # A fan cannot raise it: refused as their own PATCH of the ticket type is (404), nothing changes
    fans = chat.start(FANS[0])
    call = ToolCall(
        id="q", name="events_raise_quota", arguments={"event_id": "jazz", "type_id": "standard", "quota": 9}
    )
    refused = chat.run_tool(FANS[0], fans.id, call, chat.tools.names)
    assert not refused.ok and json.loads(refused.content)["error"] == "not_found"
    assert [t.quota for t in services.events.ticket_types(PRODUCER, "jazz")] == [2]
    # The producer raises it by the scripted conversation
    conversation = chat.start(PRODUCER)
    said = chat.turn(PRODUCER, conversation.id, "Raise the quota of standard for event jazz to 5").collect()
    (raised,) = [e for e in said if isinstance(e, ToolEvent)]
    assert raised.call.name == "events_raise_quota" and raised.ok, raised.content
    assert json.loads(raised.content)["result"]["quota"] == 5
    # The line is served (offers are holds), and the suggestion is gone: nothing is sold out with people waiting
    run_jobs(services)
    assert [services.waitlist.status_of(p.entry) for p in services.waitlist.my_entries(FANS[0]).places] == ["offered"]
    assert _raise_quota_actions(services, PRODUCER) == []


def test_a_full_capacity_or_a_free_type_is_suggested_differently_or_not_at_all(services: Services) -> None:
    from tests.contract.test_events import PRODUCER, details
    from tests.contract.test_events_waitlist import BUYERS, FANS

    # An event full at its capacity of 2 although its type's quota has room
    services.events.create_event(PRODUCER, details(capacity=2), event_id="tight")  # type: ignore[arg-type]
    services.events.add_ticket_type(PRODUCER, "tight", type_id="standard", name="Standard", price=1_000, quota=10)
    services.events.add_ticket_type(PRODUCER, "tight", type_id="free", name="Free", price=0, quota=1)
    services.events.publish(PRODUCER, "tight")
    for number, type_id in enumerate(("standard", "free")):
        held = services.events.reserve(BUYERS[number], "tight", type_id, 1, idempotency_key=f"b{number}")
        services.events.confirm(BUYERS[number], held.registration_id, idempotency_key=f"p{number}")
    for fan in FANS[:2]:
        services.waitlist.join(fan, "tight", "standard")
        services.waitlist.join(fan, "tight", "free")
    # The paid type's line asks for capacity (no quota tool: the quota has room); the free one moves no money
    (only,) = _raise_quota_actions(services, PRODUCER)
    candidate = only.candidate  # type: ignore[attr-defined]
    assert candidate.key == "raise_quota:tight:standard" and candidate.tool is None
    assert "capacity" in candidate.title and "2 x 1000 = 2000" in candidate.reason
    demand = {d.type_id: (d.waiting, d.sold_out, d.value) for d in services.waitlist.demand(PRODUCER)}
    assert demand == {"free": (2, True, 0), "standard": (2, True, 2_000)}
    assert services.waitlist.demand(FANS[0]) == []


def test_the_stats_tool_reads_only_the_users_own_events(services: Services) -> None:
    from tests.contract.test_events import PRODUCER, published_event, reserve

    published_event(services, quota=5)
    held = reserve(services, ALICE, quantity=2)
    services.events.confirm(ALICE, held.registration_id, idempotency_key="pay")
    chat = services.assistant.chat
    # The producer's stats of their event, through the scripted conversation
    conversation = chat.start(PRODUCER)
    said = chat.turn(PRODUCER, conversation.id, "Show me the stats of event jazz").collect()
    (stats,) = [e for e in said if isinstance(e, ToolEvent)]
    assert stats.call.name == "reports_event_stats" and stats.ok, stats.content
    result = json.loads(stats.content)["result"]
    assert (result["registrations"]["confirmed"], result["tickets"]) == (1, 2)
    assert result["capacity"] == [{"type_id": "standard", "name": "Standard", "quota": 5, "held": 2, "left": 3}]
    assert [m["gross"] for m in result["money"]] == [5_000]
    # Anyone else's call is refused as their HTTP call is (404 naming the event), a bad day names the field
    alices = chat.start(ALICE)
    call = ToolCall(id="s", name="reports_event_stats", arguments={"event_id": "jazz"})
    refused = chat.run_tool(ALICE, alices.id, call, chat.tools.names)
    body = json.loads(refused.content)
    assert not refused.ok and (body["error"], body["field"]) == ("not_found", "event_id")
    bad = ToolCall(id="d", name="reports_stats", arguments={"first_day": "2026-13-01"})
    assert json.loads(chat.run_tool(PRODUCER, conversation.id, bad, chat.tools.names).content)["field"] == "first_day"
    # Over all of one's events: the producer's own, and alice's (she produces none) empty
    mine = chat.run_tool(ALICE, alices.id, ToolCall(id="a", name="reports_stats", arguments={}), chat.tools.names)
    assert mine.ok and json.loads(mine.content)["result"]["tickets"] == 0
    # No tool takes another producer's id
    assert "producer_id" not in json.dumps(chat.tools.spec("reports_stats").parameters)


def test_the_registry_covers_the_issues_list() -> None:
    services = bootstrap(memory_settings())
    try:
        names = set(services.assistant.chat.tools.names)
    finally:
        services.close()
    wanted = {
        "feed_home",
        "notifications_counts",
        "notifications_mark_read",
        "earnings_summary",
        "earnings_tier",
        "composer_draft",
        "composer_schedule",
        "events_registrations",
        "reports_event_stats",
        "reports_stats",
        "events_waitlist_demand",
        "events_raise_quota",
        "events_waitlist_mine",
    }
    assert wanted <= names and len(names) >= 36


def test_the_demo_shows_the_new_pieces_the_same_way_after_a_reset() -> None:
    from townsquare.demo import seed_demo_data

    services = bootstrap(memory_settings())
    try:
        seen = []
        for run in range(2):
            if run:
                services.reset()
            seed_demo_data(services)
            carol = Actor("carol")
            actions = [(s.candidate.key, s.candidate.reason) for s in services.assistant.actions.suggest(carol, 5)]
            (conversation,) = services.assistant.chat.conversations(carol, limit=5).conversations
            tools = [
                m.tool_name for m in services.assistant.chat.messages(carol, conversation.id).messages if m.tool_name
            ]
            registrations = [
                f.text for f in services.assistant.context.compile(ALICE).facts if f.kind == "registration"
            ]
            seen.append((actions, tools, registrations))
        assert seen[0] == seen[1]
        actions, tools, registrations = seen[0]
        assert (
            "raise_quota:demo-wheel-workshop:masterclass",
            "1 waiting for 'Masterclass with Carol', sold out at 1: 1 x 12000 = 12000 minor units of GBP at stake",
        ) in actions
        assert tools == ["reports_event_stats", "events_waitlist_demand"]
        assert len(registrations) == 1 and "demo-wheel-workshop" in registrations[0]
    finally:
        services.close()


def test_a_turn_inside_the_callers_transaction_reads_in_that_transaction(services: Services) -> None:
    import threading

    chat = services.assistant.chat
    conversation = chat.start(ALICE)
    services.assistant.memory.remember(ALICE, "I glaze my bowls blue")
    said: list[object] = []

    def inside() -> None:
        # A library user's own transaction: the turn's reads cannot go to another thread here
        with services.uow.transaction(actor=ALICE.user_id):
            said.extend(chat.turn(ALICE, conversation.id, "Recall bowls").collect())

    worker = threading.Thread(target=inside, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the turn waited for itself"
    (recalled,) = [e for e in said if isinstance(e, ToolEvent)]
    assert recalled.ok and "blue" in recalled.content
    assert isinstance(said[-1], DoneEvent) and said[-1].status is MessageStatus.COMPLETE
