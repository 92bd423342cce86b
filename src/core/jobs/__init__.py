"""Jobs: the durable job queue's models, rules and service."""
