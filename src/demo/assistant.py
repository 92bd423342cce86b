"""Demo assistant data for mock mode: a few memories, alice's conversation that used a tool, and
carol's, whose tools read her workshop's stats and the line waiting for its sold-out masterclass
(which her next-best actions propose to raise the quota of: one waiting x 12,000 GBP minor units).

Seeded after the events (their stats and waitlist are what carol's tools read); every answer is
the scripted local model's, so seeding after a reset gives the same conversations."""

from __future__ import annotations

from townsquare.bootstrap import Services
from townsquare.core.identity import Actor

_MEMORIES = {
    "alice": [
        "I make stoneware bowls and mugs with a blue glaze",
        "I ship orders on Tuesdays and Fridays",
        "I prefer a short daily digest in the evening",
    ],
    "bob": ["I stream behind-the-scenes videos on Thursdays", "My audience is mostly in New York"],
    "carol": ["I run the kiln share on Sundays"],
}


def seed(services: Services) -> None:
    """Remember each demo user's facts (near-duplicates merge, so seeding twice adds nothing)."""
    assistant = services.assistant
    for user, facts in _MEMORIES.items():
        for fact in facts:
            assistant.memory.remember(Actor(user), fact)
    alice = Actor("alice")
    if not assistant.chat.conversations(alice, limit=1).conversations:
        conversation = assistant.chat.start(alice, "Getting started")
        assistant.chat.turn(alice, conversation.id, "How much did I earn?").collect()
    carol = Actor("carol")
    if not assistant.chat.conversations(carol, limit=1).conversations:
        conversation = assistant.chat.start(carol, "My workshop")
        assistant.chat.turn(carol, conversation.id, "Show me the stats of event demo-wheel-workshop").collect()
        assistant.chat.turn(carol, conversation.id, "Who is waiting for sold out tickets?").collect()
