"""Model adapters for the assistant: an OpenAI-compatible HTTP client and deterministic local stand-ins."""
