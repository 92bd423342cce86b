"""Settings, read once from the environment at the edge and passed down explicitly."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum

from attrs import field, frozen

DEV_JWT_SECRET = "townsquare-dev-secret-change-me-0123456789"
# Mock mode's clock starts here, so demo data and everything computed from it are the same
# on every run.
MOCK_EPOCH = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/townsquare"


class PortsMode(StrEnum):
    MEMORY = "memory"
    POSTGRES = "postgres"


_MODE_ALIASES = {
    "memory": PortsMode.MEMORY,
    "mock": PortsMode.MEMORY,
    "postgres": PortsMode.POSTGRES,
    "db": PortsMode.POSTGRES,
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class SettingsError(ValueError):
    """A setting has a bad value; the message names the environment variable."""


@frozen
class RateLimit:
    """``count`` requests per ``per`` (second, minute, hour, day) per caller."""

    count: int
    per: str

    @classmethod
    def parse(cls, text: str, variable: str = "RATE_LIMIT") -> RateLimit:
        match = _RATE.match(text)
        if not match or int(match.group(1)) < 1:
            raise SettingsError(f"{variable}: expected '<count>/<second|minute|hour|day>', got {text!r}")
        return cls(count=int(match.group(1)), per=match.group(2))

    def __str__(self) -> str:
        return f"{self.count}/{self.per}"


@frozen(kw_only=True)
class Settings:
    """Everything the composition root and the hosts need to know.

    Attributes:
        ports_mode: ``memory`` (default; nothing installed) or ``postgres``.
        database_url: SQLAlchemy URL of the database (postgres mode); psycopg 3 driver.
        database_pool_size: connections kept per process.
        migration_database_url: the owner's URL that ``townsquare migrate`` uses, when the hosts
            log in as the unprivileged ``townsquare_host`` role (empty: ``database_url``).
        broker_url: ``redis://...`` or ``amqp://...``; empty means Dramatiq's in-process broker.
        redis_url: where the HTTP rate-limit counters live; empty means per process. While
            Redis fails, each process counts on its own (docs/security.md, "Rate limits").
        redis_pool_size: Redis connections per host process; a request waits for a free one.
        redis_pool_timeout_s: how long a request waits for a free Redis connection before its
            budget is counted in the process instead.
        redis_timeout_s: connect and command timeout of a Redis connection.
        jwt_secret: HS256 secret shared with whoever mints tokens.
        jwt_audience: when set, tokens must carry this ``aud``.
        jwt_roles_claim: dotted path of the roles list in a token (``app_metadata.roles``).
        rate_limit: requests per caller per window, for every endpoint.
        log_level: DEBUG, INFO, WARNING or ERROR.
        log_json: JSON logs (default) or human-readable console logs.
        host, port: where ``townsquare serve`` listens.
        seed_demo_data: load the deterministic demo data at start (memory mode).
        max_body_bytes: larger request bodies get a 413.
        max_header_bytes: a request line plus headers larger than this gets a 431 and the
            connection is closed (``townsquare serve``).
        request_read_timeout_s: a request not fully received this long after it began (or a
            connection that sends nothing this long after opening) is closed (a 408 when its
            headers were incomplete).
        keep_alive_timeout_s: an idle keep-alive connection is closed after this long.
        max_connections: past this many open connections (or running requests) per process,
            new requests get a 503 (uvicorn's ``limit_concurrency``).
        forwarded_allow_ips: proxy addresses whose ``X-Forwarded-For``/``-Proto`` headers are
            believed (comma-separated IPs or networks, ``*`` for any); empty (default): none,
            and the client address is the peer's.
        cursor_secret: signs page cursors (defaults to a key derived from ``jwt_secret``).
        frozen_clock: when set, time stands still at this instant until moved (mock mode's
            deterministic clock; memory mode defaults to ``MOCK_EPOCH``).
        media_path: the directory uploaded media is stored in (empty: kept in this process's memory).
        smtp_url: where notification mail goes (``smtp://...``); empty: mail is recorded in
            the process, not delivered.
        mail_from: the From address of notification mail.
        metrics_enabled: record Prometheus metrics (``/metrics`` on the HTTP host, admins only).
        metrics_multiprocess_dir: prometheus-client's ``PROMETHEUS_MULTIPROC_DIR``: where
            several processes of one host keep their values so a scrape sums them.
        worker_metrics_port: the worker host serves ``/metrics`` on this port (0: off).
        worker_metrics_host: the address that port listens on.
        otlp_endpoint: OpenTelemetry traces go to this OTLP/HTTP endpoint (empty: no tracing).
        service_name: the service name traces and error reports carry.
        sentry_dsn: error reports go to Sentry (empty: off).
        sentry_environment: the environment error reports are filed under.
        job_lease_seconds: how long a claimed job is held before it is re-offered, unless its
            handler heartbeats (docs/jobs.md).
        job_worker_timeout_seconds: a worker process silent for this long is dead; the jobs it
            held are re-offered at once.
        job_claim_batch: jobs a worker claims per round at most.
        job_max_in_flight: jobs a worker process holds at most (claimed, not yet run).
        job_consumer_timeout_ms: how long an idle Dramatiq consumer waits at most before
            looking at its queue again (Dramatiq's own default, 1,000 ms, delays a burst's
            last job by up to that).
        assistant_model_url: base URL of an OpenAI-compatible API (``https://host/v1``) for the
            assistant's embedder and chat model; empty: the deterministic local models.
        assistant_model_key: its bearer key (may be empty for local servers).
        assistant_chat_model, assistant_embedding_model: the model names sent to it.
        assistant_model_timeout: seconds to wait for the model (connect: at most 5).
        assistant_turns_per_minute: chat messages a user may send per minute.
    """

    ports_mode: PortsMode = PortsMode.MEMORY
    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = 10
    migration_database_url: str = ""
    broker_url: str = ""
    redis_url: str = ""
    redis_pool_size: int = 32
    redis_pool_timeout_s: float = 1.0
    redis_timeout_s: float = 0.5
    jwt_secret: str = DEV_JWT_SECRET
    jwt_audience: str | None = None
    jwt_roles_claim: str = "app_metadata.roles"
    rate_limit: RateLimit = RateLimit(count=600, per="minute")
    log_level: str = "INFO"
    log_json: bool = True
    host: str = "127.0.0.1"
    port: int = 8000
    seed_demo_data: bool = True
    max_body_bytes: int = 1_048_576
    max_header_bytes: int = 16_384
    request_read_timeout_s: float = 15.0
    keep_alive_timeout_s: int = 5
    max_connections: int = 2048
    forwarded_allow_ips: tuple[str, ...] = ()
    cursor_secret: str = field(default="")
    frozen_clock: datetime | None = None
    smtp_url: str = ""
    mail_from: str = "townsquare <no-reply@townsquare.local>"
    metrics_enabled: bool = True
    metrics_multiprocess_dir: str = ""
    worker_metrics_port: int = 0
    worker_metrics_host: str = "127.0.0.1"
    otlp_endpoint: str = ""
    service_name: str = "townsquare"
    sentry_dsn: str = ""
    sentry_environment: str = "production"
    job_lease_seconds: int = 300
    job_worker_timeout_seconds: int = 10
    job_claim_batch: int = 500
    job_max_in_flight: int = 1000
    job_consumer_timeout_ms: int = 50
    assistant_model_url: str = ""
    assistant_model_key: str = field(default="", repr=False)
    assistant_chat_model: str = "gpt-4o-mini"
    assistant_embedding_model: str = "text-embedding-3-small"
    assistant_model_timeout: float = 30.0
    assistant_turns_per_minute: int = 20
    media_path: str = ""

    @property
    def is_memory(self) -> bool:
        return self.ports_mode is PortsMode.MEMORY

    @property
    def migration_url(self) -> str:
        """Where migrations run: the owner connection, or ``database_url`` when none is set."""
        return self.migration_database_url or self.database_url

    @property
    def cursor_key(self) -> bytes:
        return (self.cursor_secret or ("cursor:" + self.jwt_secret)).encode()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read settings from environment variables; bad values raise :class:`SettingsError`."""
        reader = _Reader(env)
        mode_text = reader.text("PORTS_MODE", "memory").lower()
        if mode_text not in _MODE_ALIASES:
            raise SettingsError(f"PORTS_MODE: expected one of memory, mock, postgres, db; got {mode_text!r}")
        mode = _MODE_ALIASES[mode_text]
        jwt_secret = reader.text("JWT_SECRET", DEV_JWT_SECRET)
        if len(jwt_secret) < 32:
            raise SettingsError("JWT_SECRET: must be at least 32 characters for HS256")
        if mode is PortsMode.POSTGRES and "DATABASE_URL" not in env:
            raise SettingsError("DATABASE_URL: required when PORTS_MODE is postgres")
        log_level = reader.text("LOG_LEVEL", "INFO").upper()
        if log_level not in _LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL: expected one of {', '.join(_LOG_LEVELS)}; got {log_level!r}")
        return cls(
            ports_mode=mode,
            database_url=normalize_database_url(reader.text("DATABASE_URL", DEFAULT_DATABASE_URL)),
            database_pool_size=reader.integer("DATABASE_POOL_SIZE", 10, minimum=1),
            migration_database_url=_optional_database_url(reader.text("MIGRATION_DATABASE_URL", "")),
            broker_url=_check_broker(reader.text("BROKER_URL", "")),
            redis_url=reader.text("REDIS_URL", ""),
            redis_pool_size=reader.integer("REDIS_POOL_SIZE", 32, minimum=1),
            redis_pool_timeout_s=reader.number("REDIS_POOL_TIMEOUT", 1.0, minimum=0.0),
            redis_timeout_s=reader.number("REDIS_TIMEOUT", 0.5, minimum=0.01),
            jwt_secret=jwt_secret,
            jwt_audience=reader.text("JWT_AUDIENCE", "") or None,
            jwt_roles_claim=reader.text("JWT_ROLES_CLAIM", "app_metadata.roles"),
            rate_limit=RateLimit.parse(reader.text("RATE_LIMIT", "600/minute")),
            log_level=log_level,
            log_json=reader.boolean("LOG_JSON", True),
            host=reader.text("HOST", "127.0.0.1"),
            port=reader.integer("PORT", 8000, minimum=1, maximum=65535),
            seed_demo_data=reader.boolean("SEED_DEMO_DATA", mode is PortsMode.MEMORY),
            max_body_bytes=reader.integer("MAX_BODY_BYTES", 1_048_576, minimum=1024),
            max_header_bytes=reader.integer("MAX_HEADER_BYTES", 16_384, minimum=1024),
            request_read_timeout_s=reader.number("REQUEST_READ_TIMEOUT", 15.0, minimum=0.1),
            keep_alive_timeout_s=reader.integer("KEEP_ALIVE_TIMEOUT", 5, minimum=1),
            max_connections=reader.integer("MAX_CONNECTIONS", 2048, minimum=1),
            forwarded_allow_ips=reader.items("FORWARDED_ALLOW_IPS"),
            cursor_secret=reader.text("CURSOR_SECRET", ""),
            frozen_clock=reader.instant("FROZEN_CLOCK", MOCK_EPOCH if mode is PortsMode.MEMORY else None),
            smtp_url=_check_smtp(reader.text("SMTP_URL", "")),
            mail_from=reader.text("MAIL_FROM", "townsquare <no-reply@townsquare.local>"),
            metrics_enabled=reader.boolean("METRICS_ENABLED", True),
            metrics_multiprocess_dir=reader.text("PROMETHEUS_MULTIPROC_DIR", ""),
            worker_metrics_port=reader.integer("WORKER_METRICS_PORT", 0, minimum=0, maximum=65535),
            worker_metrics_host=reader.text("WORKER_METRICS_HOST", "127.0.0.1"),
            otlp_endpoint=reader.text("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
            service_name=reader.text("OTEL_SERVICE_NAME", "townsquare"),
            sentry_dsn=reader.text("SENTRY_DSN", ""),
            sentry_environment=reader.text("SENTRY_ENVIRONMENT", "production"),
            job_lease_seconds=reader.integer("JOB_LEASE_SECONDS", 300, minimum=1),
            job_worker_timeout_seconds=reader.integer("JOB_WORKER_TIMEOUT_SECONDS", 10, minimum=3),
            job_claim_batch=reader.integer("JOB_CLAIM_BATCH", 500, minimum=1, maximum=10_000),
            job_max_in_flight=reader.integer("JOB_MAX_IN_FLIGHT", 1000, minimum=1),
            job_consumer_timeout_ms=reader.integer("JOB_CONSUMER_TIMEOUT_MS", 50, minimum=1, maximum=60_000),
            assistant_model_url=_check_model_url(reader.text("ASSISTANT_MODEL_URL", "")),
            assistant_model_key=reader.text("ASSISTANT_MODEL_KEY", ""),
            assistant_chat_model=reader.text("ASSISTANT_CHAT_MODEL", "gpt-4o-mini"),
            assistant_embedding_model=reader.text("ASSISTANT_EMBEDDING_MODEL", "text-embedding-3-small"),
            assistant_model_timeout=float(reader.integer("ASSISTANT_MODEL_TIMEOUT", 30, minimum=1, maximum=600)),
            assistant_turns_per_minute=reader.integer("ASSISTANT_TURNS_PER_MINUTE", 20, minimum=1),
            media_path=reader.text("MEDIA_PATH", ""),
        )


def normalize_database_url(url: str, variable: str = "DATABASE_URL") -> str:
    """Accept ``postgres://`` and ``postgresql://`` URLs and pin the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if not url.startswith("postgresql+psycopg://"):
        raise SettingsError(f"{variable}: expected a postgresql:// URL, got {url.split('://', maxsplit=1)[0]!r}://...")
    return url


def _optional_database_url(url: str) -> str:
    return normalize_database_url(url, "MIGRATION_DATABASE_URL") if url else ""


def _check_smtp(url: str) -> str:
    if url and not url.startswith(("smtp://", "smtps://")):
        raise SettingsError(
            "SMTP_URL: expected smtp://[user:password@]host[:port][?starttls=true] or smtps://... (or empty)"
        )
    return url


def _check_model_url(url: str) -> str:
    if url and not url.startswith(("http://", "https://")):
        raise SettingsError("ASSISTANT_MODEL_URL: expected http:// or https:// (or empty for the local models)")
    return url


def _check_broker(url: str) -> str:
    if url and not url.startswith(("redis://", "rediss://", "amqp://", "amqps://")):
        raise SettingsError("BROKER_URL: expected redis://, rediss://, amqp:// or amqps:// (or empty)")
    return url


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def text(self, name: str, default: str) -> str:
        return self._env.get(name, default).strip()

    def integer(self, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        raw = self._env.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name}: expected an integer, got {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            raise SettingsError(f"{name}: must be {bound}, got {value}")
        return value

    def number(self, name: str, default: float, *, minimum: float) -> float:
        raw = self._env.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"{name}: expected a number, got {raw!r}") from None
        if not minimum <= value < float("inf"):
            raise SettingsError(f"{name}: must be a finite number >= {minimum}, got {raw!r}")
        return value

    def items(self, name: str) -> tuple[str, ...]:
        return tuple(item.strip() for item in self._env.get(name, "").split(",") if item.strip())

    def instant(self, name: str, default: datetime | None) -> datetime | None:
        raw = self._env.get(name)
        if raw is None:
            return default
        if raw.strip().lower() in ("", "none", "system"):
            return None
        try:
            value = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise SettingsError(f"{name}: expected an ISO 8601 time like 2026-01-15T12:00:00Z, got {raw!r}") from None
        if value.tzinfo is None:
            raise SettingsError(f"{name}: the time needs a UTC offset (e.g. Z), got {raw!r}")
        return value.astimezone(UTC)

    def boolean(self, name: str, default: bool) -> bool:
        raw = self._env.get(name)
        if raw is None:
            return default
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name}: expected true or false, got {raw!r}")
