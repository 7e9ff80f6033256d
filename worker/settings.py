"""Frozen, validated settings read once from the environment.

Two layers: ``CoreSettings`` is what every process needs (database, broker, outbox tuning);
``Settings`` adds the Credentials service and OAuth2 client, needed where sync handlers run.
``load_core()`` / ``load()`` turn any problem into ``ConfigurationError`` naming the variable,
which the entry points print before exiting with status 2.

Metrics are off unless ``CREDSYNC_METRICS_PORT`` is set; then nothing else binds a port, and
``CREDSYNC_METRICS_HOST`` (default ``127.0.0.1``, loopback only) is the address:

* a ``worker`` (all its Dramatiq processes together) serves ``/metrics`` on the port itself:
  Dramatiq's exposition server, with Dramatiq's and credsync's worker metrics;
* the ``scanner`` serves on the port + 1: the outbox gauges (read at scrape time) and its counters;
* the ``scheduler`` serves nothing. See ``worker.metrics`` for the metric names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

import pydantic
import pydantic_settings

from worker import errors

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
DEFAULT_MAX_RETRIES = 10
DEFAULT_MIN_BACKOFF_MS = 30_000
DEFAULT_MAX_BACKOFF_MS = 600_000
DEFAULT_HOST_SCHEMA = "public"
DEFAULT_QUEUE = "credsync"
DEFAULT_LEASE_S = 30
DEFAULT_SCAN_INTERVAL_MS = 200
DEFAULT_CLAIM_BATCH = 500
DEFAULT_MAX_IN_FLIGHT = 2_000
DEFAULT_RETENTION_DONE_DAYS = 7
DEFAULT_RETENTION_FAILED_DAYS = 30
DEFAULT_HTTP_CONNECT_TIMEOUT_S = 3.05
DEFAULT_HTTP_READ_TIMEOUT_S = 5.0
DEFAULT_ACTOR_TIME_LIMIT_MS = 300_000
DEFAULT_METRICS_HOST = "127.0.0.1"

_SCHEMA_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
Model = TypeVar("Model", bound=pydantic_settings.BaseSettings)


def _env(name: str) -> Any:
    return pydantic.Field(validation_alias=name)


class CoreSettings(pydantic_settings.BaseSettings):
    """What every credsync process needs: the database, the broker and the outbox tuning."""

    model_config = pydantic_settings.SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=False)

    database_url: Annotated[str, pydantic.StringConstraints(min_length=1)] = _env("DATABASE_URL")
    broker_url: str = pydantic.Field(DEFAULT_BROKER_URL, validation_alias="BROKER_URL")
    host_schema: Annotated[str, pydantic.StringConstraints(pattern=_SCHEMA_NAME)] = pydantic.Field(
        DEFAULT_HOST_SCHEMA, validation_alias="CREDSYNC_HOST_SCHEMA"
    )
    max_retries: Annotated[int, pydantic.Field(ge=0, le=100)] = pydantic.Field(
        DEFAULT_MAX_RETRIES, validation_alias="CREDSYNC_MAX_RETRIES"
    )
    min_backoff_ms: Annotated[int, pydantic.Field(ge=1)] = pydantic.Field(
        DEFAULT_MIN_BACKOFF_MS, validation_alias="CREDSYNC_MIN_BACKOFF_MS"
    )
    max_backoff_ms: Annotated[int, pydantic.Field(ge=1, le=7 * 86_400_000)] = pydantic.Field(
        DEFAULT_MAX_BACKOFF_MS, validation_alias="CREDSYNC_MAX_BACKOFF_MS"
    )
    queue_name: Annotated[str, pydantic.StringConstraints(pattern=r"^[A-Za-z0-9_.-]+$")] = pydantic.Field(
        DEFAULT_QUEUE, validation_alias="CREDSYNC_QUEUE"
    )
    lease_s: Annotated[int, pydantic.Field(ge=2, le=3600)] = pydantic.Field(
        DEFAULT_LEASE_S, validation_alias="CREDSYNC_LEASE_S"
    )
    scan_interval_ms: Annotated[int, pydantic.Field(ge=10, le=60_000)] = pydantic.Field(
        DEFAULT_SCAN_INTERVAL_MS, validation_alias="CREDSYNC_SCAN_INTERVAL_MS"
    )
    claim_batch: Annotated[int, pydantic.Field(ge=1, le=10_000)] = pydantic.Field(
        DEFAULT_CLAIM_BATCH, validation_alias="CREDSYNC_CLAIM_BATCH"
    )
    max_in_flight: Annotated[int, pydantic.Field(ge=1)] = pydantic.Field(
        DEFAULT_MAX_IN_FLIGHT, validation_alias="CREDSYNC_MAX_IN_FLIGHT"
    )
    retention_done_days: Annotated[int, pydantic.Field(ge=0)] = pydantic.Field(
        DEFAULT_RETENTION_DONE_DAYS, validation_alias="CREDSYNC_RETENTION_DONE_DAYS"
    )
    retention_failed_days: Annotated[int, pydantic.Field(ge=0)] = pydantic.Field(
        DEFAULT_RETENTION_FAILED_DAYS, validation_alias="CREDSYNC_RETENTION_FAILED_DAYS"
    )
    actor_time_limit_ms: Annotated[int, pydantic.Field(ge=1_000)] = pydantic.Field(
        DEFAULT_ACTOR_TIME_LIMIT_MS, validation_alias="CREDSYNC_ACTOR_TIME_LIMIT_MS"
    )
    log_format: Literal["text", "json"] = pydantic.Field("text", validation_alias="CREDSYNC_LOG_FORMAT")
    # The worker's and scanner's own bookkeeping (never a host's insert): "off" lets Postgres
    # acknowledge a commit before its WAL is on disk. A server crash can then undo the last
    # fraction of a second of status changes; those rows run again, which every effect allows.
    synchronous_commit: Literal["on", "off"] = pydantic.Field(
        "off", validation_alias="CREDSYNC_SYNCHRONOUS_COMMIT"
    )
    # The scanner uses the port + 1, so the last port is not available.
    metrics_port: Annotated[int, pydantic.Field(ge=1, le=65_534)] | None = pydantic.Field(
        None, validation_alias="CREDSYNC_METRICS_PORT"
    )
    metrics_host: Annotated[str, pydantic.StringConstraints(min_length=1)] = pydantic.Field(
        DEFAULT_METRICS_HOST, validation_alias="CREDSYNC_METRICS_HOST"
    )

    @pydantic.field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("postgres", "postgresql") and "=" not in value:
            raise ValueError("must be a postgresql:// URL or a libpq connection string")
        return value

    @pydantic.field_validator("metrics_port", mode="before")
    @classmethod
    def _empty_is_off(cls, value: Any) -> Any:
        # A Procfile or .env often carries the variable set to nothing: that means off too.
        return None if isinstance(value, str) and not value.strip() else value

    @pydantic.field_validator("broker_url")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("redis", "rediss", "amqp", "amqps"):
            raise ValueError("must start with redis://, rediss://, amqp:// or amqps://")
        return value

    @pydantic.model_validator(mode="after")
    def _backoff_bounds(self) -> CoreSettings:
        if self.min_backoff_ms > self.max_backoff_ms:
            raise ValueError(
                "CREDSYNC_MIN_BACKOFF_MS must not exceed CREDSYNC_MAX_BACKOFF_MS "
                f"({self.min_backoff_ms} > {self.max_backoff_ms})"
            )
        return self


class Settings(CoreSettings):
    """Everything, including the Credentials service and its OAuth2 client."""

    credentials_url: str = _env("CREDENTIALS_URL")
    credentials_org_urls: Mapping[str, str] = pydantic.Field(
        default_factory=dict, validation_alias="CREDENTIALS_ORG_URLS"
    )
    oauth_url: str = _env("OAUTH_URL")
    oauth_client_id: Annotated[str, pydantic.StringConstraints(min_length=1)] = _env("OAUTH_CLIENT_ID")
    oauth_client_secret: pydantic.SecretStr = _env("OAUTH_CLIENT_SECRET")
    programs_without_certificates_raw: str = pydantic.Field(
        "", validation_alias="CREDSYNC_PROGRAMS_WITHOUT_CERTIFICATES"
    )
    disable_honor_certificates: bool = pydantic.Field(
        False, validation_alias="CREDSYNC_DISABLE_HONOR_CERTIFICATES"
    )
    http_connect_timeout_s: Annotated[float, pydantic.Field(gt=0, le=120)] = pydantic.Field(
        DEFAULT_HTTP_CONNECT_TIMEOUT_S, validation_alias="CREDSYNC_HTTP_CONNECT_TIMEOUT_S"
    )
    http_read_timeout_s: Annotated[float, pydantic.Field(gt=0, le=600)] = pydantic.Field(
        DEFAULT_HTTP_READ_TIMEOUT_S, validation_alias="CREDSYNC_HTTP_READ_TIMEOUT_S"
    )

    @pydantic.field_validator("credentials_url", "oauth_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http:// or https:// URL")
        return value

    @pydantic.field_validator("credentials_org_urls", mode="before")
    @classmethod
    def _org_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else {}
        if not isinstance(value, dict):
            raise ValueError('must be a JSON object such as {"edX": "https://credentials.example.com"}')
        for org, url in value.items():
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"the URL for org {org!r} must be an absolute http(s) URL")
        return value

    @property
    def programs_without_certificates(self) -> frozenset[str]:
        """Program uuids that never get a certificate; contains ``"ALL"`` to mean every program."""
        items = {item.strip() for item in self.programs_without_certificates_raw.split(",") if item.strip()}
        return frozenset("ALL" if item.lower() == "all" else item for item in items)

    @property
    def http_timeout(self) -> tuple[float, float]:
        return (self.http_connect_timeout_s, self.http_read_timeout_s)


def _load(model: type[Model], overrides: Mapping[str, Any] | None = None) -> Model:
    try:
        return model(**dict(overrides or {}))
    except pydantic.ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "configuration"
            problems.append(f"{where}: {error['msg']}")
        raise errors.ConfigurationError("invalid configuration: " + "; ".join(problems)) from None
    except (ValueError, TypeError) as exc:
        raise errors.ConfigurationError(f"invalid configuration: {exc}") from None


def load_core(overrides: Mapping[str, Any] | None = None) -> CoreSettings:
    """Read ``CoreSettings`` from the environment (``overrides`` by variable name, for tests)."""
    return _load(CoreSettings, overrides)


def load(overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read the full ``Settings`` from the environment (``overrides`` by variable name, for tests)."""
    return _load(Settings, overrides)
