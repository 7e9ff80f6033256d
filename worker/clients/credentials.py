"""The Credentials REST API client: whose token each call carries, and what its answer means.

What the caller must know:

* Every request carries ``Authorization: JWT <token>`` (DESIGN "Whose token"). With a
  ``tokens.Signer`` (``LMS_JWT_*``), writes go with the service user's token and a learner's
  credentials are read with a token signed for that learner, as the LMS does. Otherwise the
  token comes from the OAuth2 client-credentials grant (``worker.clients.oauth``), and reads use
  it too. A 401 on a service-user call drops the token, gets a new one and repeats the request
  once (upstream never re-authenticated).
* A refusal (a 403, or a 401 with a freshly issued token) raises ``errors.CredentialsRefused``;
  with a hold book, refusals and ``Retry-After`` answers hold later calls (``worker.clients.holds``).
* Failures are translated in this package and nowhere else: no usable answer raises
  ``errors.CredentialsUnavailable`` (``worker.clients.transport``, ``worker.clients.answers``;
  ``errors.CredentialsTokenError`` when the token endpoint answered an HTTP error: nothing reached
  the API); an HTTP status outside 2xx raises ``errors.CredentialsHTTPError``.
* One instance is shared by every thread of a process; ``close()`` closes its sessions.
* The client secret and tokens never appear in messages, logs or ``repr``.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Unpack
from urllib.parse import quote, urljoin, urlsplit

import requests

from worker import errors
from worker import settings as worker_settings
from worker.clients import advice, answers, holds, oauth, pages, tokens, transport

#: (connect, read) seconds: the defaults of ``CREDSYNC_HTTP_CONNECT_TIMEOUT_S`` / ``..._READ_TIMEOUT_S``.
DEFAULT_TIMEOUT_S = (
    worker_settings.defaults.DEFAULT_HTTP_CONNECT_TIMEOUT_S,
    worker_settings.defaults.DEFAULT_HTTP_READ_TIMEOUT_S,
)
DEFAULT_USER_AGENT = "credsync/0.1"
DEFAULT_POOL_MAXSIZE = 16

_log = logging.getLogger(__name__)


def destination(url: str) -> str:
    """``scheme://host[:port]``: what a cooldown is about."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class CredentialsClient:
    """Calls the Credentials REST API (``<root>/api/v2/``) with a cached OAuth2 JWT or signed tokens.

    Thread-safe: one instance is meant to be shared by every thread of a worker process.
    ``clock`` (monotonic seconds) decides token expiry, and ``now`` (the wall clock) stamps holds
    and reads an HTTP-date ``Retry-After``, so tests can move time without sleeping.
    ``observer`` hears of every exchange (the delivery ledger). With ``cooldowns``, a 429 or 503
    carrying ``Retry-After`` is recorded for its destination (``scheme://host``), and until then
    no request goes there: ``errors.CredentialsCoolingDown`` is raised instead.
    """

    def __init__(
        self,
        *,
        credentials_url: str,
        oauth_url: str | None = None,
        client_id: str = "",
        client_secret: str = "",
        signer: tokens.Signer | None = None,
        org_urls: Mapping[str, str] | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        now: holds.Clock = holds.utc_now,
        user_agent: str = DEFAULT_USER_AGENT,
        pool_maxsize: int = DEFAULT_POOL_MAXSIZE,
        observer: transport.Observer | None = None,
        cooldowns: holds.CooldownBook | None = None,
    ) -> None:
        if oauth_url is None and signer is None:
            raise ValueError("a CredentialsClient needs an OAuth token URL or a token signer")
        self.credentials_url = credentials_url
        self.org_urls: Mapping[str, str] = dict(org_urls or {})
        self.signer = signer
        self.token_url = oauth.token_url_from(oauth_url) if oauth_url is not None else None
        self.client_id = client_id
        self._http = transport.Transport(
            timeout=timeout, user_agent=user_agent, pool_maxsize=pool_maxsize, observer=observer
        )
        self._oauth = oauth.ServiceToken(
            self._http,
            token_url=self.token_url,
            client_id=client_id,
            client_secret=client_secret,
            clock=clock,
        )
        self._holds = holds.Holds(cooldowns, now=now)
        self._pager = pages.Pager()

    @classmethod
    def from_settings(
        cls,
        settings: worker_settings.Settings,
        *,
        observer: transport.Observer | None = None,
        cooldowns: holds.CooldownBook | None = None,
        signer: tokens.Signer | None = None,
    ) -> CredentialsClient:
        """A client for ``CREDENTIALS_URL``, ``CREDENTIALS_ORG_URLS``, the HTTP timeouts and either
        ``signer`` (``LMS_JWT_*``) or ``OAUTH_*``."""
        secret = settings.oauth_client_secret
        return cls(
            observer=observer,
            cooldowns=cooldowns,
            signer=signer,
            credentials_url=settings.credentials_url,
            oauth_url=None if signer is not None else settings.oauth_url,
            client_id=settings.oauth_client_id or "",
            client_secret=secret.get_secret_value() if secret is not None else "",
            org_urls=settings.credentials_org_urls,
            timeout=settings.http_timeout,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(credentials_url={self.credentials_url!r}, "
            f"token_url={self.token_url!r}, client_id={self.client_id!r}, signer={self.signer!r})"
        )

    def __enter__(self) -> CredentialsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the API -------------------------------------------------------------------------------

    def api_url(self, endpoint: str, *, org: str | None = None) -> str:
        """The URL of ``endpoint`` under the API root of ``org`` (or the default root).

        As upstream (SPEC §5.1, quirk 11), ``/api/v2/`` is joined as an absolute path, so a path
        prefix in the configured root is discarded.
        """
        root = self.org_urls[org] if org is not None and org in self.org_urls else self.credentials_url
        return _api_url(root, endpoint)

    def post_credential(self, body: Mapping[str, Any], *, org: str | None = None) -> dict[str, Any]:
        """Award or revoke a credential (``POST credentials/``, create or update); return the answer."""
        url = self.api_url("credentials/", org=org)
        response = self._call("POST", url, json_body=body)
        return answers.json_object("POST", url, response)

    def post_grade(self, body: Mapping[str, Any], *, org: str | None = None) -> dict[str, Any]:
        """Create or update a learner's grade in a run (``POST grades/``, SPEC-grades §4); the answer."""
        url = self.api_url("grades/", org=org)
        return answers.json_object("POST", url, self._call("POST", url, json_body=body))

    def list_credentials(
        self, *, username: str, **query: Unpack[pages.CredentialQuery]
    ) -> list[dict[str, Any]]:
        """A learner's credentials (``GET credentials/``), every page (see ``credential_pages``)."""
        return [item for page in self.credential_pages(username=username, **query) for item in page]

    def credential_pages(
        self,
        *,
        username: str,
        credential_type: str | None = "program",
        status: str = "awarded",
        only_visible: bool = True,
        program_uuid: str | None = None,
        learner: tokens.Identity | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """A learner's credentials (``GET credentials/``), one page at a time (``worker.clients.pages``).

        A caller that has what it needs stops iterating and no further page is read (each page
        counts against the learner's throttle). With a signer and ``learner`` (the learner's
        ``auth_user`` facts), every page is read with one token signed for that learner.
        """
        params = pages.filters(
            username,
            credential_type=credential_type,
            status=status,
            only_visible=only_visible,
            program_uuid=program_uuid,
        )
        as_learner = learner if self.signer is not None else None
        token: str | None = None

        def fetch(url: str, query: Mapping[str, str] | None) -> requests.Response:
            nonlocal token
            if as_learner is not None and token is None:
                assert self.signer is not None
                token = self.signer.sign(as_learner)
            return self._call("GET", url, params=query, learner=as_learner, token=token)

        yield from self._pager.read(self.api_url("credentials/"), params, fetch)

    def post_course_certificate_configuration(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """Create or update a course certificate configuration (``POST course_certificates/``).

        Returns the 2xx status with the answer, so the caller can report a 200 where Credentials
        promises 201 (SPEC §3.5).
        """
        url = self.api_url("course_certificates/")
        response = self._call("POST", url, json_body=body)
        return response.status_code, answers.json_object("POST", url, response)

    def get_course_certificate_configuration(self, course_id: str) -> dict[str, Any] | None:
        """The run's course certificate configuration (``GET course_certificates/<course_id>/``), or
        None when Credentials answers 404.

        A 404 is not proof that the run has none: the real service answers 404 for every key
        containing a ``.`` (its lookup pattern stops at a dot, SPEC §5.7), so only a key without
        ``.`` or ``/`` can be looked up. The key is quoted as one path segment.
        """
        url = self.api_url("course_certificates/" + quote(course_id, safe="") + "/")
        try:
            response = self._call("GET", url)
        except errors.CredentialsHTTPError as exc:
            if exc.status == 404:
                return None
            raise
        return answers.json_object("GET", url, response)

    def close(self) -> None:
        """Close every session this client opened; a later call opens new ones."""
        self._http.close()

    # -- requests ------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        learner: tokens.Identity | None = None,
        token: str | None = None,
    ) -> requests.Response:
        """One authenticated API request.

        With ``learner`` it goes with ``token`` (signed for that learner); otherwise with the
        service token, and a 401 gets a new one and repeats the request once.
        """
        target = destination(url)
        call = holds.kind_of_call(method, url)
        self._holds.check(target, call, learner)
        headers: dict[str, str] = {}
        data: bytes | None = None
        if json_body is not None:
            # Serialised here so a value JSON cannot hold is a TypeError (a bug), not a network failure.
            data = json.dumps(dict(json_body), allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        if learner is None or token is None:
            learner, token = None, self._service_token(target)
        auth = transport.JwtAuth(token)
        response = self._http.send(method, url, params=params, data=data, headers=headers, auth=auth)
        if response.status_code == 401 and learner is None:
            _log.info(
                "%s %s answered HTTP 401; getting a new token and repeating once", method, transport.path(url)
            )
            self._forget_token(token)
            auth = transport.JwtAuth(self._service_token(target))
            response = self._http.send(method, url, params=params, data=data, headers=headers, auth=auth)
        if response.status_code in (401, 403):
            # The token was fresh: Credentials refuses this kind of call, whatever the row.
            body = self._oauth.redact(response.text)[: answers.ERROR_BODY_MAX_CHARS]
            reason = holds.refusal_reason(
                call,
                response.status_code,
                body,
                learner_token=learner is not None,
                signs=self.signer is not None,
            )
            raise self._holds.refuse(holds.refused_scope(target, call), reason, response.status_code)
        if not 200 <= response.status_code < 300:
            error = answers.http_error(
                method, response.url or url, response, redact=self._oauth.redact, now_s=self._holds.now_s()
            )
            self._holds.wait(target, call, error, learner)
            raise error
        return response

    def _service_token(self, target: str) -> str:
        """The service user's token: signed here, or from the OAuth token endpoint."""
        if self.signer is None:
            return self._oauth.value()
        try:
            return self.signer.service_token()
        except tokens.UnknownServiceUser as exc:
            scope = holds.refused_scope(target, "signing the service user's token")
            raise self._holds.refuse(scope, f"{exc}. Fix: {advice.UNKNOWN_SERVICE_USER}") from exc

    def _forget_token(self, value: str) -> None:
        """Drop the service token ``value`` so that the next call gets a new one."""
        if self.signer is not None:
            self.signer.forget(value)
        else:
            self._oauth.forget(value)


@functools.lru_cache(maxsize=1024)
def _api_url(root: str, endpoint: str) -> str:
    """``endpoint`` under ``root``'s ``/api/v2/``; remembered (two ``urljoin`` cost a few % of a row)."""
    base = urljoin(root, "/api/v2/")
    return urljoin(base + "/", endpoint)
