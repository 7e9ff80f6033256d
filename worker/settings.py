"""Frozen, validated settings read once from the environment.

Every variable credsync reads is a field here, its default a named constant written once. Three
layers: ``LogSettings`` is how a process logs (all ``credsync`` reads before its command runs, so a
command that needs no database needs no ``DATABASE_URL``); ``CoreSettings`` adds what every
process needs (database, broker, outbox tuning); ``Settings`` adds the Credentials service and its
OAuth2 client or signing key, needed where sync handlers run. ``load_logging()`` / ``load_core()`` /
``load()`` turn any problem into ``ConfigurationError`` naming the variable, which the entry points
print before exiting with status 2.

Metrics are off unless ``CREDSYNC_METRICS_PORT`` is set; then nothing else binds a port, and
``CREDSYNC_METRICS_HOST`` (default ``127.0.0.1``, loopback only) is the address:

* a ``worker`` (all its Dramatiq processes together) serves ``/metrics`` on the port itself:
  an exposition process Dramatiq forks once per run, with the message and worker metrics;
* the ``scanner`` serves on the port + 1: the outbox gauges (read at scrape time) and its counters;
* the ``scheduler`` serves nothing. See ``worker.metrics`` for the metric names.
"""

from __future__ import annotations

import json
import logging
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
DEFAULT_ROWS_PER_MESSAGE = 10
DEFAULT_MAX_IN_FLIGHT = 2_000
DEFAULT_RETENTION_DONE_DAYS = 7
DEFAULT_RETENTION_FAILED_DAYS = 30
DEFAULT_HTTP_CONNECT_TIMEOUT_S = 3.05
DEFAULT_HTTP_READ_TIMEOUT_S = 5.0
DEFAULT_ACTOR_TIME_LIMIT_MS = 300_000
DEFAULT_METRICS_HOST = "127.0.0.1"
DEFAULT_SERVICE_USERNAME = "credentials_service_user"
DEFAULT_LOG_LEVEL = "INFO"
DEFAULT_WEB_HOST = "127.0.0.1"
DEFAULT_WEB_PORT = 8000
DEFAULT_WEB_REFRESH_S = 10
# Upper bounds, where a larger value would break something rather than merely be unwise:
#: The claim compares it as a Postgres integer; more rows in flight than this is a backlog, not a setting.
MAX_MAX_IN_FLIGHT = 1_000_000
#: Pruning subtracts it from now() as an interval: a century keeps the arithmetic in range.
MAX_RETENTION_DAYS = 36_500
#: One attempt of one row; the default is 5 minutes.
MAX_ACTOR_TIME_LIMIT_MS = 86_400_000
#: RabbitMQ refuses queue names over 255 bytes, and Dramatiq appends ".DQ" and ".XQ".
MAX_QUEUE_NAME_LENGTH = 200
#: Django's auth_user.username.
MAX_USERNAME_LENGTH = 150
LogFormat = Literal["text", "json"]
DEFAULT_LOG_FORMAT: LogFormat = "text"

_SCHEMA_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
Model = TypeVar("Model", bound=pydantic_settings.BaseSettings)


def _env(name: str) -> Any:
    return pydantic.Field(validation_alias=name)


class LogSettings(pydantic_settings.BaseSettings):
    """How a credsync process logs: its level (the ``credsync`` command's) and the line format."""

    model_config = pydantic_settings.SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=False)

    log_level: str = pydantic.Field(DEFAULT_LOG_LEVEL, validation_alias="CREDSYNC_LOG_LEVEL")
    log_format: LogFormat = pydantic.Field(DEFAULT_LOG_FORMAT, validation_alias="CREDSYNC_LOG_FORMAT")

    @pydantic.field_validator("log_level", mode="before")
    @classmethod
    def _level_name(cls, value: Any) -> Any:
        # Any name the logging module knows, in any case (as logging.basicConfig took it before).
        if isinstance(value, str) and value.strip().upper() in logging.getLevelNamesMapping():
            return value.strip().upper()
        raise ValueError("must be a log level: DEBUG, INFO, WARNING, ERROR or CRITICAL")


class CoreSettings(LogSettings):
    """What every credsync process needs: the database, the broker and the outbox tuning."""

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
    queue_name: Annotated[
        str, pydantic.StringConstraints(pattern=r"^[A-Za-z0-9_.-]+$", max_length=MAX_QUEUE_NAME_LENGTH)
    ] = pydantic.Field(DEFAULT_QUEUE, validation_alias="CREDSYNC_QUEUE")
    lease_s: Annotated[int, pydantic.Field(ge=2, le=3600)] = pydantic.Field(
        DEFAULT_LEASE_S, validation_alias="CREDSYNC_LEASE_S"
    )
    scan_interval_ms: Annotated[int, pydantic.Field(ge=10, le=60_000)] = pydantic.Field(
        DEFAULT_SCAN_INTERVAL_MS, validation_alias="CREDSYNC_SCAN_INTERVAL_MS"
    )
    claim_batch: Annotated[int, pydantic.Field(ge=1, le=10_000)] = pydantic.Field(
        DEFAULT_CLAIM_BATCH, validation_alias="CREDSYNC_CLAIM_BATCH"
    )
    rows_per_message: Annotated[int, pydantic.Field(ge=1, le=100)] = pydantic.Field(
        DEFAULT_ROWS_PER_MESSAGE, validation_alias="CREDSYNC_ROWS_PER_MESSAGE"
    )
    max_in_flight: Annotated[int, pydantic.Field(ge=1, le=MAX_MAX_IN_FLIGHT)] = pydantic.Field(
        DEFAULT_MAX_IN_FLIGHT, validation_alias="CREDSYNC_MAX_IN_FLIGHT"
    )
    retention_done_days: Annotated[int, pydantic.Field(ge=1, le=MAX_RETENTION_DAYS)] = pydantic.Field(
        DEFAULT_RETENTION_DONE_DAYS, validation_alias="CREDSYNC_RETENTION_DONE_DAYS"
    )
    retention_failed_days: Annotated[int, pydantic.Field(ge=1, le=MAX_RETENTION_DAYS)] = pydantic.Field(
        DEFAULT_RETENTION_FAILED_DAYS, validation_alias="CREDSYNC_RETENTION_FAILED_DAYS"
    )
    actor_time_limit_ms: Annotated[int, pydantic.Field(ge=1_000, le=MAX_ACTOR_TIME_LIMIT_MS)] = (
        pydantic.Field(DEFAULT_ACTOR_TIME_LIMIT_MS, validation_alias="CREDSYNC_ACTOR_TIME_LIMIT_MS")
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
        DEFAULT_METRICS_HOST, validation_alias="CREDSYNC_METRICS_HOST"
    )

    @pydantic.field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in ("postgres", "postgresql") and "=" not in value:
            raise ValueError("must be a postgresql:// URL or a libpq connection string")
        if scheme in ("postgres", "postgresql"):
            _check_ports(value)
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
        _check_ports(value)
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
    # Either OAUTH_* (a client-credentials grant at the LMS) or LMS_JWT_* (credsync signs its
    # tokens with the platform's JWT_AUTH key, as the LMS does: DESIGN "Whose token").
    oauth_url: str | None = pydantic.Field(None, validation_alias="OAUTH_URL")
    oauth_client_id: str | None = pydantic.Field(None, validation_alias="OAUTH_CLIENT_ID")
    oauth_client_secret: pydantic.SecretStr | None = pydantic.Field(
        None, validation_alias="OAUTH_CLIENT_SECRET"
    )
    lms_jwt_issuer: str | None = pydantic.Field(None, validation_alias="LMS_JWT_ISSUER")
    lms_jwt_audience: str | None = pydantic.Field(None, validation_alias="LMS_JWT_AUDIENCE")
    lms_jwt_private_signing_jwk: pydantic.SecretStr | None = pydantic.Field(
        None, validation_alias="LMS_JWT_PRIVATE_SIGNING_JWK"
    )
    lms_jwt_secret_key: pydantic.SecretStr | None = pydantic.Field(
        None, validation_alias="LMS_JWT_SECRET_KEY"
    )
    lms_jwt_signing_algorithm: Literal["RS512", "RS256", "HS256"] | None = pydantic.Field(
        None, validation_alias="LMS_JWT_SIGNING_ALGORITHM"
    )
    credentials_service_username: Annotated[
        str, pydantic.StringConstraints(min_length=1, max_length=MAX_USERNAME_LENGTH)
    ] = pydantic.Field(DEFAULT_SERVICE_USERNAME, validation_alias="CREDENTIALS_SERVICE_USERNAME")
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

    @pydantic.field_validator(
        "oauth_url",
        "oauth_client_id",
        "oauth_client_secret",
        "lms_jwt_issuer",
        "lms_jwt_audience",
        "lms_jwt_private_signing_jwk",
        "lms_jwt_secret_key",
        "lms_jwt_signing_algorithm",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # A Procfile or .env often carries the variable set to nothing: that means unset.
        return None if isinstance(value, str) and not value.strip() else value

    @pydantic.field_validator("credentials_url", "oauth_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http:// or https:// URL")
        _check_ports(value)
        return value

    @pydantic.field_validator("credentials_org_urls", mode="before")
    @classmethod
    def _org_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = _json(value) if value.strip() else {}
        if not isinstance(value, dict):
            raise ValueError('must be a JSON object such as {"edX": "https://credentials.example.com"}')
        for org, url in value.items():
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"the URL for org {org!r:.80} must be an absolute http(s) URL")
            _check_ports(url)
        return value

    @pydantic.field_validator("lms_jwt_private_signing_jwk")
    @classmethod
    def _private_jwk(cls, value: pydantic.SecretStr | None) -> pydantic.SecretStr | None:
        if value is not None:
            _check_private_jwk(value.get_secret_value())
        return value

    @pydantic.model_validator(mode="after")
    def _token_source(self) -> Settings:
        jwk, secret = self.lms_jwt_private_signing_jwk, self.lms_jwt_secret_key
        if jwk is not None and secret is not None:
            raise ValueError("set LMS_JWT_PRIVATE_SIGNING_JWK or LMS_JWT_SECRET_KEY, not both")
        if jwk is not None or secret is not None:
            for name, value in (
                ("LMS_JWT_ISSUER", self.lms_jwt_issuer),
                ("LMS_JWT_AUDIENCE", self.lms_jwt_audience),
            ):
                if not value:
                    raise ValueError(f"{name} is required to sign tokens (the platform's JWT_AUTH value)")
            algorithm = self.lms_jwt_signing_algorithm
            if algorithm is not None and (algorithm == "HS256") != (secret is not None):
                raise ValueError(
                    f"LMS_JWT_SIGNING_ALGORITHM {algorithm} does not fit the key: RS512/RS256 go with "
                    "LMS_JWT_PRIVATE_SIGNING_JWK, HS256 with LMS_JWT_SECRET_KEY"
                )
            return self
        missing = [
            name
            for name, value in (
                ("OAUTH_URL", self.oauth_url),
                ("OAUTH_CLIENT_ID", self.oauth_client_id),
                ("OAUTH_CLIENT_SECRET", self.oauth_client_secret),
            )
            if not value
        ]
        if missing:
            raise ValueError(
                f"{', '.join(missing)} required: set OAUTH_URL, OAUTH_CLIENT_ID and OAUTH_CLIENT_SECRET, "
                "or let credsync sign its tokens with LMS_JWT_ISSUER, LMS_JWT_AUDIENCE and "
                "LMS_JWT_PRIVATE_SIGNING_JWK (or LMS_JWT_SECRET_KEY)"
            )
        return self

    @property
    def signs_tokens(self) -> bool:
        """Whether credsync signs its own tokens (``LMS_JWT_*``) rather than asking ``OAUTH_URL``."""
        return self.lms_jwt_private_signing_jwk is not None or self.lms_jwt_secret_key is not None

    @property
    def lms_jwt_algorithm(self) -> str:
        """The signing algorithm: as set, else RS512 with a JWK and HS256 with a secret."""
        if self.lms_jwt_signing_algorithm is not None:
            return self.lms_jwt_signing_algorithm
        return "RS512" if self.lms_jwt_private_signing_jwk is not None else "HS256"

    @property
    def programs_without_certificates(self) -> frozenset[str]:
        """Program uuids that never get a certificate; contains ``"ALL"`` to mean every program."""
        items = {item.strip() for item in self.programs_without_certificates_raw.split(",") if item.strip()}
        return frozenset("ALL" if item.lower() == "all" else item for item in items)

    @property
    def http_timeout(self) -> tuple[float, float]:
        return (self.http_connect_timeout_s, self.http_read_timeout_s)


class WebSettings(LogSettings):
    """The web console (``credsync web``): where it listens, its read and write databases, its operators.

    It reads through ``CREDSYNC_WEB_DATABASE_URL``, a login holding ``credsync_inspector``'s rights
    and no more (it refuses to start with one that may write). Writing (retry) needs both operators
    (``CREDSYNC_WEB_OPERATORS``: a JSON object of login name to password hash, made with
    ``credsync web-password``) and ``DATABASE_URL`` (the worker's role). ``PORT`` is the port, as
    Procfile platforms set it. Bound to anything but loopback, every page needs a login.
    """

    web_database_url: Annotated[str, pydantic.StringConstraints(min_length=1)] = _env(
        "CREDSYNC_WEB_DATABASE_URL"
    )
    database_url: str | None = pydantic.Field(None, validation_alias="DATABASE_URL")
    broker_url: str | None = pydantic.Field(None, validation_alias="BROKER_URL")
    queue_name: Annotated[
        str, pydantic.StringConstraints(pattern=r"^[A-Za-z0-9_.-]+$", max_length=MAX_QUEUE_NAME_LENGTH)
    ] = pydantic.Field(DEFAULT_QUEUE, validation_alias="CREDSYNC_QUEUE")
    host_schema: Annotated[str, pydantic.StringConstraints(pattern=_SCHEMA_NAME)] = pydantic.Field(
        DEFAULT_HOST_SCHEMA, validation_alias="CREDSYNC_HOST_SCHEMA"
    )
    web_host: Annotated[str, pydantic.StringConstraints(min_length=1)] = pydantic.Field(
        DEFAULT_WEB_HOST, validation_alias="CREDSYNC_WEB_HOST"
    )
    port: Annotated[int, pydantic.Field(ge=1, le=65_535)] = pydantic.Field(
        DEFAULT_WEB_PORT, validation_alias="PORT"
    )
    web_operators: Mapping[str, pydantic.SecretStr] = pydantic.Field(
        default_factory=dict, validation_alias="CREDSYNC_WEB_OPERATORS"
    )
    web_secret_key: pydantic.SecretStr | None = pydantic.Field(
        None, validation_alias="CREDSYNC_WEB_SECRET_KEY"
    )
    web_login_to_read: bool | None = pydantic.Field(None, validation_alias="CREDSYNC_WEB_LOGIN_TO_READ")
    web_refresh_s: Annotated[int, pydantic.Field(ge=2, le=3600)] = pydantic.Field(
        DEFAULT_WEB_REFRESH_S, validation_alias="CREDSYNC_WEB_REFRESH_S"
    )
    web_cookie_secure: bool = pydantic.Field(False, validation_alias="CREDSYNC_WEB_COOKIE_SECURE")

    @pydantic.field_validator(
        "database_url", "broker_url", "web_secret_key", "web_login_to_read", mode="before"
    )
    @classmethod
    def _empty_is_unset_web(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @pydantic.field_validator("port", mode="before")
    @classmethod
    def _empty_port_is_default(cls, value: Any) -> Any:
        # A platform that sets PORT sets a number; an empty one (a .env line) means the default.
        return DEFAULT_WEB_PORT if isinstance(value, str) and not value.strip() else value

    @pydantic.field_validator("web_database_url", "database_url")
    @classmethod
    def _web_postgres_url(cls, value: str | None) -> str | None:
        return None if value is None else CoreSettings._postgres_url(value)

    @pydantic.field_validator("broker_url")
    @classmethod
    def _web_broker_url(cls, value: str | None) -> str | None:
        return None if value is None else CoreSettings._broker_url(value)

    @pydantic.field_validator("web_operators", mode="before")
    @classmethod
    def _operators(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = _json(value) if value.strip() else {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and k and isinstance(v, str) and "$" in v for k, v in value.items()
        ):
            raise ValueError(
                'must be a JSON object of login name to password hash, {"ada": "scrypt:..."} '
                "(make a hash with `credsync web-password`)"
            )
        return value

    @pydantic.model_validator(mode="after")
    def _closed_by_default(self) -> WebSettings:
        if self.web_operators and self.database_url is None:
            raise ValueError("CREDSYNC_WEB_OPERATORS needs DATABASE_URL (the write path of retries)")
        if self.login_to_read and not self.web_operators:
            raise ValueError(
                f"the console at CREDSYNC_WEB_HOST={self.web_host} (not loopback) or with "
                "CREDSYNC_WEB_LOGIN_TO_READ=true needs CREDSYNC_WEB_OPERATORS: it is never open to a network"
            )
        return self

    @property
    def login_to_read(self) -> bool:
        """Whether reading needs a login too: as set, else whenever the console listens beyond loopback."""
        if self.web_login_to_read is not None:
            return self.web_login_to_read
        return self.web_host not in ("127.0.0.1", "localhost", "::1")

    @property
    def can_write(self) -> bool:
        """Whether write actions exist at all (operators and a write database are configured)."""
        return bool(self.web_operators) and self.database_url is not None


def _json(text: str) -> Any:
    """``json.loads``, where JSON nested past Python's recursion limit is a ValueError like any other."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("is JSON nested too deeply") from None


def _check_ports(url: str) -> None:
    """ValueError unless every port of ``url`` (libpq URLs may list several hosts) is 1 to 65535."""
    hosts = urlsplit(url).netloc.rpartition("@")[2]
    for host in hosts.split(","):
        # An IPv6 address is bracketed: its colons are not a port's.
        after_address = host.rpartition("]")[2] if host.startswith("[") else host
        if ":" not in after_address:
            continue
        port = after_address.rpartition(":")[2]
        if port and not (port.isascii() and port.isdigit() and len(port) <= 5 and 1 <= int(port) <= 65_535):
            raise ValueError(f"port {port[:12]!r} is not a port number (1 to 65535)")


def _check_private_jwk(text: str) -> None:
    """ValueError unless ``text`` is a private RSA JWK (or a JWK set holding one), as the LMS keeps it."""
    import jwt.algorithms

    try:
        parsed = _json(text)
    except ValueError:
        raise ValueError("must be a JSON web key (the LMS's JWT_PRIVATE_SIGNING_JWK)") from None
    if isinstance(parsed, dict) and isinstance(parsed.get("keys"), list):
        parsed = next((k for k in parsed["keys"] if isinstance(k, dict) and "d" in k), None)
    if not isinstance(parsed, dict) or parsed.get("kty") != "RSA" or "d" not in parsed:
        raise ValueError("must be a private RSA JSON web key (kty RSA, with d)")
    try:
        jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(parsed))
    except (ValueError, TypeError, KeyError, jwt.exceptions.InvalidKeyError) as exc:
        # PyJWT raises TypeError or KeyError for a member of the wrong type or a missing one.
        raise ValueError(f"is not a usable RSA key: {type(exc).__name__}: {exc}") from None


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


def load_logging(overrides: Mapping[str, Any] | None = None) -> LogSettings:
    """Read only ``LogSettings`` (``overrides`` by variable name, for tests): no other variable is needed."""
    return _load(LogSettings, overrides)


def load_core(overrides: Mapping[str, Any] | None = None) -> CoreSettings:
    """Read ``CoreSettings`` from the environment (``overrides`` by variable name, for tests)."""
    return _load(CoreSettings, overrides)


def load_web(overrides: Mapping[str, Any] | None = None) -> WebSettings:
    """Read the web console's ``WebSettings`` from the environment (``overrides`` by variable name)."""
    return _load(WebSettings, overrides)


def load(overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read the full ``Settings`` from the environment (``overrides`` by variable name, for tests)."""
    return _load(Settings, overrides)
