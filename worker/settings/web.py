"""``WebSettings``: the web console's address, databases and operators."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import pydantic

from worker.settings import checks, core, defaults


class WebSettings(core.LogSettings):
    """The web console (``credsync web``): where it listens, its read and write databases, its operators.

    It reads through ``CREDSYNC_WEB_DATABASE_URL``, a login holding ``credsync_inspector``'s rights
    and no more (it refuses to start with one that may write). Writing (retry) needs both operators
    (``CREDSYNC_WEB_OPERATORS``: a JSON object of login name to password hash, made with
    ``credsync web-password``) and ``DATABASE_URL`` (the worker's role). ``PORT`` is the port, as
    Procfile platforms set it. Bound to anything but loopback, every page needs a login.
    """

    web_database_url: Annotated[str, pydantic.StringConstraints(min_length=1)] = checks.env(
        "CREDSYNC_WEB_DATABASE_URL"
    )
    database_url: str | None = pydantic.Field(None, validation_alias="DATABASE_URL")
    broker_url: str | None = pydantic.Field(None, validation_alias="BROKER_URL")
    queue_name: Annotated[
        str,
        pydantic.StringConstraints(pattern=r"^[A-Za-z0-9_.-]+$", max_length=defaults.MAX_QUEUE_NAME_LENGTH),
    ] = pydantic.Field(defaults.DEFAULT_QUEUE, validation_alias="CREDSYNC_QUEUE")
    host_schema: Annotated[str, pydantic.StringConstraints(pattern=checks.SCHEMA_NAME)] = pydantic.Field(
        defaults.DEFAULT_HOST_SCHEMA, validation_alias="CREDSYNC_HOST_SCHEMA"
    )
    web_host: Annotated[str, pydantic.StringConstraints(min_length=1)] = pydantic.Field(
        defaults.DEFAULT_WEB_HOST, validation_alias="CREDSYNC_WEB_HOST"
    )
    port: Annotated[int, pydantic.Field(ge=1, le=65_535)] = pydantic.Field(
        defaults.DEFAULT_WEB_PORT, validation_alias="PORT"
    )
    web_operators: Mapping[str, pydantic.SecretStr] = pydantic.Field(
        default_factory=dict, validation_alias="CREDSYNC_WEB_OPERATORS"
    )
    web_secret_key: pydantic.SecretStr | None = pydantic.Field(
        None, validation_alias="CREDSYNC_WEB_SECRET_KEY"
    )
    web_login_to_read: bool | None = pydantic.Field(None, validation_alias="CREDSYNC_WEB_LOGIN_TO_READ")
    web_refresh_s: Annotated[int, pydantic.Field(ge=2, le=3600)] = pydantic.Field(
        defaults.DEFAULT_WEB_REFRESH_S, validation_alias="CREDSYNC_WEB_REFRESH_S"
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
        return defaults.DEFAULT_WEB_PORT if isinstance(value, str) and not value.strip() else value

    @pydantic.field_validator("web_database_url", "database_url")
    @classmethod
    def _web_postgres_url(cls, value: str | None) -> str | None:
        return None if value is None else core.CoreSettings._postgres_url(value)

    @pydantic.field_validator("broker_url")
    @classmethod
    def _web_broker_url(cls, value: str | None) -> str | None:
        return None if value is None else core.CoreSettings._broker_url(value)

    @pydantic.field_validator("web_operators", mode="before")
    @classmethod
    def _operators(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = checks.json_value(value) if value.strip() else {}
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
