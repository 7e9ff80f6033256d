"""How a process logs (``LogSettings``) and what every process needs (``CoreSettings``)."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pydantic
import pydantic_settings

from worker.settings import checks, defaults


class LogSettings(pydantic_settings.BaseSettings):
    """How a credsync process logs: its level (the ``credsync`` command's) and the line format."""

    model_config = pydantic_settings.SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=False)

    log_level: str = pydantic.Field(defaults.DEFAULT_LOG_LEVEL, validation_alias="CREDSYNC_LOG_LEVEL")
    log_format: defaults.LogFormat = pydantic.Field(
        defaults.DEFAULT_LOG_FORMAT, validation_alias="CREDSYNC_LOG_FORMAT"
    )

    @pydantic.field_validator("log_level", mode="before")
    @classmethod
    def _level_name(cls, value: Any) -> Any:
        # Any name the logging module knows, in any case (as logging.basicConfig took it before).
        if isinstance(value, str) and value.strip().upper() in logging.getLevelNamesMapping():
            return value.strip().upper()
        raise ValueError("must be a log level: DEBUG, INFO, WARNING, ERROR or CRITICAL")


class CoreSettings(LogSettings):
    """What every credsync process needs: the database, the broker and the outbox tuning."""

    database_url: Annotated[str, pydantic.StringConstraints(min_length=1)] = checks.env("DATABASE_URL")
    broker_url: str = pydantic.Field(defaults.DEFAULT_BROKER_URL, validation_alias="BROKER_URL")
    host_schema: Annotated[str, pydantic.StringConstraints(pattern=checks.SCHEMA_NAME)] = pydantic.Field(
        defaults.DEFAULT_HOST_SCHEMA, validation_alias="CREDSYNC_HOST_SCHEMA"
    )
    max_retries: Annotated[int, pydantic.Field(ge=0, le=100)] = pydantic.Field(
        defaults.DEFAULT_MAX_RETRIES, validation_alias="CREDSYNC_MAX_RETRIES"
    )
    min_backoff_ms: Annotated[int, pydantic.Field(ge=1)] = pydantic.Field(
        defaults.DEFAULT_MIN_BACKOFF_MS, validation_alias="CREDSYNC_MIN_BACKOFF_MS"
    )
    max_backoff_ms: Annotated[int, pydantic.Field(ge=1, le=7 * 86_400_000)] = pydantic.Field(
        defaults.DEFAULT_MAX_BACKOFF_MS, validation_alias="CREDSYNC_MAX_BACKOFF_MS"
    )
    queue_name: Annotated[
        str,
        pydantic.StringConstraints(pattern=r"^[A-Za-z0-9_.-]+$", max_length=defaults.MAX_QUEUE_NAME_LENGTH),
    ] = pydantic.Field(defaults.DEFAULT_QUEUE, validation_alias="CREDSYNC_QUEUE")
    lease_s: Annotated[int, pydantic.Field(ge=2, le=3600)] = pydantic.Field(
        defaults.DEFAULT_LEASE_S, validation_alias="CREDSYNC_LEASE_S"
    )
    scan_interval_ms: Annotated[int, pydantic.Field(ge=10, le=60_000)] = pydantic.Field(
        defaults.DEFAULT_SCAN_INTERVAL_MS, validation_alias="CREDSYNC_SCAN_INTERVAL_MS"
    )
    claim_batch: Annotated[int, pydantic.Field(ge=1, le=10_000)] = pydantic.Field(
        defaults.DEFAULT_CLAIM_BATCH, validation_alias="CREDSYNC_CLAIM_BATCH"
    )
    rows_per_message: Annotated[int, pydantic.Field(ge=1, le=100)] = pydantic.Field(
        defaults.DEFAULT_ROWS_PER_MESSAGE, validation_alias="CREDSYNC_ROWS_PER_MESSAGE"
    )
    messages_per_claim: Annotated[int, pydantic.Field(ge=1, le=10_000)] = pydantic.Field(
        defaults.DEFAULT_MESSAGES_PER_CLAIM, validation_alias="CREDSYNC_MESSAGES_PER_CLAIM"
    )
    max_in_flight: Annotated[int, pydantic.Field(ge=1, le=defaults.MAX_MAX_IN_FLIGHT)] = pydantic.Field(
        defaults.DEFAULT_MAX_IN_FLIGHT, validation_alias="CREDSYNC_MAX_IN_FLIGHT"
    )
    retention_done_days: Annotated[int, pydantic.Field(ge=1, le=defaults.MAX_RETENTION_DAYS)] = (
        pydantic.Field(defaults.DEFAULT_RETENTION_DONE_DAYS, validation_alias="CREDSYNC_RETENTION_DONE_DAYS")
    )
    retention_failed_days: Annotated[int, pydantic.Field(ge=1, le=defaults.MAX_RETENTION_DAYS)] = (
        pydantic.Field(
            defaults.DEFAULT_RETENTION_FAILED_DAYS, validation_alias="CREDSYNC_RETENTION_FAILED_DAYS"
        )
    )
    actor_time_limit_ms: Annotated[int, pydantic.Field(ge=1_000, le=defaults.MAX_ACTOR_TIME_LIMIT_MS)] = (
        pydantic.Field(defaults.DEFAULT_ACTOR_TIME_LIMIT_MS, validation_alias="CREDSYNC_ACTOR_TIME_LIMIT_MS")
    )
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
        defaults.DEFAULT_METRICS_HOST, validation_alias="CREDSYNC_METRICS_HOST"
    )

    @pydantic.field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in ("postgres", "postgresql") and "=" not in value:
            raise ValueError("must be a postgresql:// URL or a libpq connection string")
        if scheme in ("postgres", "postgresql"):
            checks.check_ports(value)
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
        checks.check_ports(value)
        return value

    @pydantic.model_validator(mode="after")
    def _backoff_bounds(self) -> CoreSettings:
        if self.min_backoff_ms > self.max_backoff_ms:
            raise ValueError(
                "CREDSYNC_MIN_BACKOFF_MS must not exceed CREDSYNC_MAX_BACKOFF_MS "
                f"({self.min_backoff_ms} > {self.max_backoff_ms})"
            )
        return self
