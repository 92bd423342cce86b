"""In-memory adapters: product code for mock mode and fast tests, not test doubles."""
