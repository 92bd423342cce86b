"""The admin console: server-rendered pages under /console (Jinja templates, one small script)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Router
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from townsquare.hosts.http.console.pages import CONTROLLERS, EXCEPTION_HANDLERS
from townsquare.hosts.http.console.session import ConsoleSession

HERE = Path(__file__).parent

__all__ = ["ConsoleSession", "console_router", "template_config"]


def console_router() -> Router:
    """The console's pages and its script, with its own error pages (sign-in redirects, 403s)."""
    static = create_static_files_router(
        path="/console/static", directories=[HERE / "static"], opt={"exclude_from_auth": True}, include_in_schema=False
    )
    handlers: list[Any] = [*CONTROLLERS, static]
    return Router(path="/", route_handlers=handlers, exception_handlers=dict(EXCEPTION_HANDLERS))


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine)
