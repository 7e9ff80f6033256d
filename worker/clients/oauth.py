"""The service user's token from the OAuth2 client-credentials grant, cached until shortly before it expires.

The token URL is derived from ``OAUTH_URL`` as edx-rest-api-client does (SPEC §5.2) and asked for
``token_type=jwt``. One token is shared by every thread; a caller that met a 401 drops it with
``forget`` and the next caller fetches a new one. An HTTP error from the token endpoint raises
``errors.CredentialsTokenError`` (nothing reached the API); an unusable answer (invalid JSON, no
``access_token``, no numeric ``expires_in``) raises ``errors.CredentialsUnavailable``. The client
secret and the token never appear in messages, logs or ``repr``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections.abc import Callable

import requests

from worker import errors
from worker.clients import answers, transport

# edx-rest-api-client's ACCESS_TOKEN_EXPIRED_THRESHOLD_SECONDS: stop reusing a token this early.
TOKEN_EXPIRY_MARGIN_S = 5.0

_log = logging.getLogger(__name__)


def token_url_from(oauth_url: str) -> str:
    """The token endpoint for ``OAUTH_URL``: the URL itself, or an LMS root plus ``/oauth2/access_token``."""
    url = oauth_url[:-1] if oauth_url.endswith("/") else oauth_url
    if url.endswith("/access_token"):
        return url
    if url.endswith("/oauth2"):
        return url + "/access_token"
    return url + "/oauth2/access_token"


@dataclasses.dataclass(frozen=True)
class _Token:
    value: str = dataclasses.field(repr=False)
    reuse_until: float


class ServiceToken:
    """The cached client-credentials token of ``client_id`` at ``token_url``; thread-safe.

    ``clock`` (monotonic seconds) decides expiry, so tests can move time without sleeping. Without
    a ``token_url`` (tokens are signed instead) it only redacts the client secret.
    """

    def __init__(
        self,
        http: transport.Transport,
        *,
        token_url: str | None,
        client_id: str,
        client_secret: str,
        clock: Callable[[], float],
    ) -> None:
        self._http = http
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._token: _Token | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token_url={self._token_url!r}, client_id={self._client_id!r})"

    def value(self) -> str:
        """The cached token, fetched first when there is none or it is about to expire.

        The lock is held during the fetch, so concurrent callers wait for one fetch and reuse it.
        """
        with self._lock:
            token = self._token
            if token is None or self._clock() >= token.reuse_until:
                token = self._fetch()
                self._token = token
            return token.value

    def forget(self, value: str) -> None:
        """Drop the cached token if it is still ``value`` (another thread may have replaced it)."""
        with self._lock:
            if self._token is not None and self._token.value == value:
                self._token = None

    def redact(self, text: str) -> str:
        """``text`` without the client secret or the cached token (a server may echo what it got)."""
        token = self._token
        for secret in (self._client_secret, token.value if token is not None else ""):
            if secret:
                text = text.replace(secret, transport.REDACTED)
        return text

    def _fetch(self) -> _Token:
        token_url = self._token_url
        assert token_url is not None, "no OAUTH_URL: tokens are signed"
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "token_type": "jwt",
        }
        sent_at = self._clock()
        response = self._http.send("POST", token_url, data=form)
        if not 200 <= response.status_code < 300:
            body = self.redact(response.text)[: answers.ERROR_BODY_MAX_CHARS]
            raise errors.CredentialsTokenError(token_url, response.status_code, body)
        unusable = f"POST {token_url} answered HTTP {response.status_code} with an unusable token answer"
        try:
            answer = response.json()
        except requests.exceptions.RequestException as exc:
            raise errors.CredentialsUnavailable(f"{unusable}: invalid JSON") from exc
        if not isinstance(answer, dict):
            raise errors.CredentialsUnavailable(f"{unusable}: not a JSON object")
        value = answer.get("access_token")
        if not isinstance(value, str) or not value:
            raise errors.CredentialsUnavailable(f"{unusable}: no access_token")
        expires_in = _seconds(answer.get("expires_in"))
        if expires_in is None:
            raise errors.CredentialsUnavailable(f"{unusable}: no numeric expires_in")
        _log.debug("fetched a token from %s valid for %.0f s", transport.path(token_url), expires_in)
        return _Token(value=value, reuse_until=sent_at + expires_in - TOKEN_EXPIRY_MARGIN_S)


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) else None
