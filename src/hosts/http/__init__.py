"""The Litestar HTTP host: ``create_app(settings)`` builds it."""

from townsquare.hosts.http.app import create_app

__all__ = ["create_app"]
