"""Structured logging for both hosts: structlog over the standard library, JSON by default."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog


def _shared_processors() -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def formatter(json: bool = True) -> logging.Formatter:
    """The formatter of every log line: structlog's and the standard library's (uvicorn's) alike."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )


def uvicorn_log_config(level: str, *, json: bool) -> dict[str, Any]:
    """A ``logging.dictConfig`` for uvicorn (its ``log_config``): its lines through :func:`formatter`.

    uvicorn applies it when it starts, in every worker process, before its first line
    ("Started server process"), so no plain-text line precedes the JSON ones.
    """
    propagate = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"townsquare": {"()": f"{__name__}.formatter", "json": json}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "townsquare", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {**propagate, "level": level},
            "uvicorn.error": {**propagate, "level": level},
            # Our request line (with its request id) replaces uvicorn's access line.
            "uvicorn.access": {**propagate, "level": "WARNING"},
        },
    }


def configure_logging(level: str, *, json: bool) -> None:
    """Route structlog and stdlib logging through one processor chain.

    Request ids (and anything else bound with ``structlog.contextvars``) appear in every line.
    """
    structlog.configure(
        # Level first: a line below the level costs one check instead of the whole chain
        # (the host logs a line per request; benchmarks and quiet deployments drop them).
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log duplicates our request log line.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
