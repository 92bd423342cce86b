"""Postgres adapters: SQLAlchemy 2 Core over psycopg 3, schema in Alembic migrations."""
