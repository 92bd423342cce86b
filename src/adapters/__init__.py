"""Adapters: implementations of the core's ports (memory and Postgres) and of outside services."""
