"""Demo assistant data for mock mode: a few memories and a conversation that used a tool."""

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
