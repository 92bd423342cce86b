"""Thin hosts around the core: the Litestar HTTP host and the Dramatiq worker host."""
