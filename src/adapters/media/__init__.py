"""Media stores: bytes by content key, outside the database."""
