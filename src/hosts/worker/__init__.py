"""The Dramatiq worker host: ``setup_broker(settings)`` and ``run_worker(settings)``."""
