"""Earnings: the append-only ledger, summaries and tiers."""
