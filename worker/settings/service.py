"""``Settings``: the core settings and the Credentials service, with its OAuth2 client or signing key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pydantic

from worker.settings import checks, core, defaults


class Settings(core.CoreSettings):
    """Everything, including the Credentials service and its OAuth2 client."""

    credentials_url: str = checks.env("CREDENTIALS_URL")
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
        str, pydantic.StringConstraints(min_length=1, max_length=defaults.MAX_USERNAME_LENGTH)
    ] = pydantic.Field(defaults.DEFAULT_SERVICE_USERNAME, validation_alias="CREDENTIALS_SERVICE_USERNAME")
    programs_without_certificates_raw: str = pydantic.Field(
        "", validation_alias="CREDSYNC_PROGRAMS_WITHOUT_CERTIFICATES"
    )
    disable_honor_certificates: bool = pydantic.Field(
        False, validation_alias="CREDSYNC_DISABLE_HONOR_CERTIFICATES"
    )
    http_connect_timeout_s: Annotated[float, pydantic.Field(gt=0, le=120)] = pydantic.Field(
        defaults.DEFAULT_HTTP_CONNECT_TIMEOUT_S, validation_alias="CREDSYNC_HTTP_CONNECT_TIMEOUT_S"
    )
    http_read_timeout_s: Annotated[float, pydantic.Field(gt=0, le=600)] = pydantic.Field(
        defaults.DEFAULT_HTTP_READ_TIMEOUT_S, validation_alias="CREDSYNC_HTTP_READ_TIMEOUT_S"
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
        checks.check_ports(value)
        return value

    @pydantic.field_validator("credentials_org_urls", mode="before")
    @classmethod
    def _org_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = checks.json_value(value) if value.strip() else {}
        if not isinstance(value, dict):
            raise ValueError('must be a JSON object such as {"edX": "https://credentials.example.com"}')
        for org, url in value.items():
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"the URL for org {org!r:.80} must be an absolute http(s) URL")
            checks.check_ports(url)
        return value

    @pydantic.field_validator("lms_jwt_private_signing_jwk")
    @classmethod
    def _private_jwk(cls, value: pydantic.SecretStr | None) -> pydantic.SecretStr | None:
        if value is not None:
            checks.check_private_jwk(value.get_secret_value())
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
