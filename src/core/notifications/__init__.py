"""Notifications: lanes, preferences, send policy, digests and the mail outbox."""
