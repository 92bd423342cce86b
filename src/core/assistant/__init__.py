"""The assistant: user memory with exact semantic recall, a context compiler, next-best actions,
and a streaming chat whose tools are the project's own operations run as the user.
"""

from townsquare.core.assistant.actions import ActionService, Candidate, SuggestedAction
from townsquare.core.assistant.chat import ChatService, Turn
from townsquare.core.assistant.context import CompiledContext, ContextCompiler, Fact
from townsquare.core.assistant.memory import MemoryService, VectorCache
from townsquare.core.assistant.ports import ModelFailed, ModelUnavailable, TooManyTurns

__all__ = [
    "ActionService",
    "Candidate",
    "ChatService",
    "CompiledContext",
    "ContextCompiler",
    "Fact",
    "MemoryService",
    "ModelFailed",
    "ModelUnavailable",
    "SuggestedAction",
    "TooManyTurns",
    "Turn",
    "VectorCache",
]
