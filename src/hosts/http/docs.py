"""The OpenAPI document and its docs UI (Swagger UI), served from the host itself.

Litestar's render plugins load their scripts from public CDNs by default: a docs page that
pulls code from a third party at view time, and that breaks offline. Swagger UI's files come
instead from the ``swagger-ui-bundle-v2`` package (Swagger UI 5, which reads the OpenAPI 3.1
documents Litestar writes) and are served under ``/schema/assets``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import swagger_ui_bundle  # type: ignore[import-untyped]  # static files and one path
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

ASSETS = "/schema/assets"


def with_local_docs_ui(config: OpenAPIConfig) -> OpenAPIConfig:
    """``config`` with Swagger UI at ``/schema`` and ``/schema/swagger``, its files from the host."""
    swagger = SwaggerRenderPlugin(
        js_url=f"{ASSETS}/swagger-ui-bundle.js",
        css_url=f"{ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
        path=["/", "/swagger"],
    )
    return dataclasses.replace(config, render_plugins=[swagger])


def docs_assets() -> Any:
    """The route handler that serves Swagger UI's files."""
    return create_static_files_router(
        path=ASSETS,
        directories=[swagger_ui_bundle.swagger_ui_path],
        include_in_schema=False,
        name="docs-assets",
        opt={"exclude_from_auth": True},
    )
