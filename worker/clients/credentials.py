"""The Credentials REST API client: OAuth2 JWT token, timeouts, and HTTP failures translated once.

What the caller must know:

* Every request carries ``Authorization: JWT <token>`` (DESIGN "Whose token"). With a
  ``tokens.Signer`` (``LMS_JWT_*``), writes go with the service user's token and a learner's
  credentials are read with a token signed for that learner, as the LMS does. Otherwise the
  token comes from the OAuth2 client-credentials grant (``token_type=jwt``) at a token URL derived
  from ``OAUTH_URL`` as edx-rest-api-client does (SPEC §5.2), and reads use it too. The service
  token is cached, shared by all threads, until shortly before it expires; a 401 drops it, gets
  a new one and repeats the request once (upstream never re-authenticated).
* A refusal is not a failure of the row: a 403, or a 401 with a freshly issued token, means
  Credentials refuses that kind of call, and no retry changes it. It raises
  ``errors.CredentialsRefused`` and, with a hold book, holds that kind of call for
  ``REFUSAL_RECHECK_S`` (one ERROR line per pause, with the fix); rows that meet a hold wait
  without using an attempt, and the first call after it asks again. A 429 on a learner's own
  read holds that learner's reads only (``Retry-After``), never other learners or the writes.
* Failures are translated here and nowhere else: no usable answer (connection refused or reset,
  timeout, too many redirects, invalid JSON, an unusable token answer) raises
  ``errors.CredentialsUnavailable`` (``errors.CredentialsTokenError`` when the token endpoint
  answered an HTTP error: nothing reached the API); an HTTP status outside 2xx raises
  ``errors.CredentialsHTTPError`` with the status, the truncated body and ``Retry-After`` in ms.
  Which statuses are worth a retry is the sync logic's decision, not this module's.
* Every request has a timeout; urllib3 never retries on its own (Dramatiq does the retrying).
  Each thread uses its own ``requests.Session`` (sessions are not thread-safe), kept for
  connection reuse until ``close()``.
* The client secret and tokens never appear in messages, logs or ``repr``.
"""

from __future__ import annotations

import dataclasses
import email.utils
import html
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC
from typing import Any, Protocol, TypedDict, Unpack
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import requests
import requests.adapters
import requests.auth

from worker import errors
from worker import settings as worker_settings
from worker.clients import advice, tokens

#: (connect, read) seconds: the defaults of ``CREDSYNC_HTTP_CONNECT_TIMEOUT_S`` / ``..._READ_TIMEOUT_S``.
DEFAULT_TIMEOUT_S = (
    worker_settings.DEFAULT_HTTP_CONNECT_TIMEOUT_S,
    worker_settings.DEFAULT_HTTP_READ_TIMEOUT_S,
)
DEFAULT_USER_AGENT = "credsync/0.1"
DEFAULT_POOL_MAXSIZE = 16
# edx-rest-api-client's ACCESS_TOKEN_EXPIRED_THRESHOLD_SECONDS: stop reusing a token this early.
TOKEN_EXPIRY_MARGIN_S = 5.0
ERROR_BODY_MAX_CHARS = 2_000
#: How long a refused kind of call is held before the next row that needs it asks again.
REFUSAL_RECHECK_S = 60.0
# A `next` chain longer than this is a server bug, not a learner with 20,000 credentials.
MAX_PAGES = 1_000

_REDACTED = "[redacted]"
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)

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
class _Secret:
    """A string that does not show itself in ``repr``."""

    value: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class _Token:
    value: str = dataclasses.field(repr=False)
    reuse_until: float


Observer = Callable[[str, str, "int | None", int, "str | None"], None]
"""Told of every HTTP exchange: method, URL, status (None: no answer), duration in ms, error."""


class CredentialQuery(TypedDict, total=False):
    """The filters of a credentials listing, and whose token reads it (``credential_pages``)."""

    credential_type: str | None
    status: str
    only_visible: bool
    program_uuid: str | None
    learner: tokens.Identity | None


class CooldownBook(Protocol):
    """Where holds are kept (Retry-After, learner throttles, refusals), shared by processes.

    ``record`` returns whether it began a new pause of that scope.
    """

    def until(self, destination: str) -> float | None: ...

    def record(self, destination: str, until: float, reason: str, kind: str = ...) -> bool: ...


#: Hold scopes and kinds (``worker.outbox.cooldowns`` keeps them; the client only names them).
HOLD_RETRY_AFTER, HOLD_LEARNER, HOLD_REFUSED = "retry_after", "learner_throttle", "refused"


def learner_scope(target: str, username: str) -> str:
    """The hold scope of one learner's reads at ``target``."""
    return f"{target}#learner:{username}"


def refused_scope(target: str, call: str) -> str:
    """The hold scope of one kind of call (``GET /api/v2/credentials/``) at ``target``."""
    return f"{target}#refused:{call}"


class CredentialsClient:
    """Calls the Credentials REST API (``<root>/api/v2/``) with a cached OAuth2 JWT.

    Thread-safe: one instance is meant to be shared by every thread of a worker process.
    ``clock`` (monotonic seconds) decides token expiry, so tests can move time without sleeping.
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
        user_agent: str = DEFAULT_USER_AGENT,
        pool_maxsize: int = DEFAULT_POOL_MAXSIZE,
        observer: Observer | None = None,
        cooldowns: CooldownBook | None = None,
    ) -> None:
        if oauth_url is None and signer is None:
            raise ValueError("a CredentialsClient needs an OAuth token URL or a token signer")
        self.credentials_url = credentials_url
        self.org_urls: Mapping[str, str] = dict(org_urls or {})
        self.signer = signer
        self.token_url = token_url_from(oauth_url) if oauth_url is not None else None
        self.client_id = client_id
        self._client_secret = _Secret(client_secret)
        self._timeout = timeout
        self._clock = clock
        self._user_agent = user_agent
        self._pool_maxsize = pool_maxsize
        self._token: _Token | None = None
        self._token_lock = threading.Lock()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._warned_foreign_next = False
        self._observer = observer
        self._cooldowns = cooldowns

    @classmethod
    def from_settings(
        cls,
        settings: worker_settings.Settings,
        *,
        observer: Observer | None = None,
        cooldowns: CooldownBook | None = None,
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
        base = urljoin(root, "/api/v2/")
        return urljoin(base + "/", endpoint)

    def post_credential(self, body: Mapping[str, Any], *, org: str | None = None) -> dict[str, Any]:
        """Award or revoke a credential (``POST credentials/``, create or update); return the answer."""
        url = self.api_url("credentials/", org=org)
        response = self._call("POST", url, json_body=body)
        return _json_object("POST", url, response)

    def list_credentials(self, *, username: str, **query: Unpack[CredentialQuery]) -> list[dict[str, Any]]:
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
        """A learner's credentials (``GET credentials/``), one page at a time.

        A caller that has what it needs stops iterating and no further page is read (each page
        counts against the learner's throttle). With a signer and ``learner`` (the learner's
        ``auth_user`` facts), every page is read with one token signed for that learner.
        Follows each page's ``next`` link (SPEC §8.6), always on the configured host: a link to
        another scheme or host (a proxy that hides the public origin) keeps only its path and
        query, so the token never leaves for a host we were not configured with.
        """
        params = {"username": username, "status": status}
        if only_visible:
            params["only_visible"] = "True"
        if credential_type:
            params["type"] = credential_type
        if program_uuid:
            params["program_uuid"] = program_uuid
        as_learner = learner if self.signer is not None else None
        first_url = self.api_url("credentials/")
        url: str = first_url
        query: Mapping[str, str] | None = params
        seen: set[str] = set()
        token: str | None = None
        for _ in range(MAX_PAGES):
            if as_learner is not None and token is None:
                assert self.signer is not None
                token = self.signer.sign(as_learner)
            response = self._call("GET", url, params=query, learner=as_learner, token=token)
            page_url = response.url or url
            seen.add(page_url)
            page = _json_object("GET", page_url, response)
            items = page.get("results")
            if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
                raise _unusable_page(page_url, "no list of objects in results")
            yield items
            link = page.get("next")
            if link is None or link == "":
                return
            if not isinstance(link, str):
                raise _unusable_page(page_url, "a next link that is not a string")
            url, query = self._on_our_origin(urljoin(page_url, link), first_url), None
            if url in seen:
                raise _unusable_page(page_url, f"a next link seen before ({url}): pagination loops")
        raise errors.CredentialsUnavailable(f"GET {first_url} failed: more than {MAX_PAGES} pages")

    def post_course_certificate_configuration(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """Create or update a course certificate configuration (``POST course_certificates/``).

        Returns the 2xx status with the answer, so the caller can report a 200 where Credentials
        promises 201 (SPEC §3.5).
        """
        url = self.api_url("course_certificates/")
        response = self._call("POST", url, json_body=body)
        return response.status_code, _json_object("POST", url, response)

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
        return _json_object("GET", url, response)

    def close(self) -> None:
        """Close every session this client opened; a later call opens new ones."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
            self._local = threading.local()
        for session in sessions:
            session.close()

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
        call = f"{method} {_route(url)}"
        self._check_holds(target, call, learner)
        headers: dict[str, str] = {}
        data: bytes | None = None
        if json_body is not None:
            # Serialised here so a value JSON cannot hold is a TypeError (a bug), not a network failure.
            data = json.dumps(dict(json_body), allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        if learner is None or token is None:
            learner, token = None, self._service_token(target)
        response = self._send(method, url, params=params, data=data, headers=headers, auth=_JwtAuth(token))
        if response.status_code == 401 and learner is None:
            _log.info("%s %s answered HTTP 401; getting a new token and repeating once", method, _path(url))
            self._forget_token(token)
            token = self._service_token(target)
            response = self._send(
                method, url, params=params, data=data, headers=headers, auth=_JwtAuth(token)
            )
        if response.status_code in (401, 403):
            # The token was fresh: Credentials refuses this kind of call, whatever the row.
            raise self._refused(target, call, response, learner)
        if not 200 <= response.status_code < 300:
            error = self._http_error(method, response.url or url, response)
            if self._cooldowns is not None and error.status in (429, 503) and error.retry_after_ms:
                wait_s = error.retry_after_ms / 1000
                reason = f"HTTP {error.status} with Retry-After {wait_s:.0f} s on {call}"
                if learner is not None and error.status == 429:
                    # A learner's throttle is that learner's (15 reads a minute on a default install).
                    scope, kind = learner_scope(target, learner.username), HOLD_LEARNER
                else:
                    scope, kind = target, HOLD_RETRY_AFTER
                self._cooldowns.record(scope, time.time() + wait_s, reason, kind)
            raise error
        return response

    def _check_holds(self, target: str, call: str, learner: tokens.Identity | None) -> None:
        """Raise when a hold covers this call: the service's, the refusal of this call, the learner's."""
        if self._cooldowns is None:
            return
        if (until := self._cooldowns.until(target)) is not None:
            raise errors.CredentialsCoolingDown(target, until, "an earlier answer asked to wait")
        refused = refused_scope(target, call)
        if (until := self._cooldowns.until(refused)) is not None:
            raise errors.CredentialsRefused(refused, until, f"Credentials refused {call} earlier")
        if learner is not None:
            scope = learner_scope(target, learner.username)
            if (until := self._cooldowns.until(scope)) is not None:
                raise errors.CredentialsCoolingDown(scope, until, "this learner's reads are throttled")

    def _refused(
        self, target: str, call: str, response: requests.Response, learner: tokens.Identity | None
    ) -> errors.CredentialsRefused:
        """Hold ``call``: what refused it, with which token, and the fix."""
        body = self._redact(response.text)[:ERROR_BODY_MAX_CHARS]
        whose = "a learner's token" if learner is not None else "the service user's token"
        fix = advice.for_refusal(
            call, response.status_code, learner_token=learner is not None, signs=self.signer is not None
        )
        reason = (
            f"Credentials refuses {call} with {whose}: HTTP {response.status_code} {body[:300]}. Fix: {fix}"
        )
        return self._hold_refused(refused_scope(target, call), reason, response.status_code)

    def _hold_refused(self, scope: str, reason: str, status: int | None = None) -> errors.CredentialsRefused:
        """Hold ``scope`` for ``REFUSAL_RECHECK_S``; one ERROR line when this begins a pause.

        Without a hold book (a probe such as ``credsync doctor``) nothing is held or logged: the
        caller reports the refusal itself.
        """
        until = time.time() + REFUSAL_RECHECK_S
        started = False
        if self._cooldowns is not None:
            started = self._cooldowns.record(scope, until, reason, HOLD_REFUSED)
        if started:
            _log.error(
                "holding %s: rows that need it wait (no attempt used) and go on by themselves once it is "
                "fixed; asking again every %.0f s. %s",
                scope,
                REFUSAL_RECHECK_S,
                reason,
            )
        return errors.CredentialsRefused(scope, until, reason, status=status)

    def _service_token(self, target: str) -> str:
        """The service user's token: signed here, or from the OAuth token endpoint."""
        if self.signer is None:
            return self._access_token()
        try:
            return self.signer.service_token()
        except tokens.UnknownServiceUser as exc:
            scope = refused_scope(target, "signing the service user's token")
            raise self._hold_refused(scope, f"{exc}. Fix: {advice.UNKNOWN_SERVICE_USER}") from exc

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: requests.auth.AuthBase | None = None,
    ) -> requests.Response:
        """One HTTP exchange with the timeout; requests' exceptions become ``CredentialsUnavailable``."""
        started = time.perf_counter()
        try:
            response = self._session().request(
                method, url, params=params, data=data, headers=headers, auth=auth, timeout=self._timeout
            )
        except requests.exceptions.RequestException as exc:
            kind = _failure_kind(exc)
            _log.debug("%s %s failed (%s) after %.1f ms", method, _path(url), kind, _ms_since(started))
            self._observe(method, url, None, started, kind)
            raise errors.CredentialsUnavailable(f"{method} {url} failed: {kind}") from exc
        _log.debug(
            "%s %s answered HTTP %d in %.1f ms", method, _path(url), response.status_code, _ms_since(started)
        )
        self._observe(method, response.url or url, response.status_code, started, None)
        return response

    def _observe(self, method: str, url: str, status: int | None, started: float, error: str | None) -> None:
        if self._observer is None:
            return
        try:
            self._observer(method, url, status, round(_ms_since(started)), error)
        except Exception:
            _log.exception("the exchange observer failed for %s %s", method, _path(url))

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # max_retries=0: a failed attempt surfaces at once; Dramatiq owns the retry policy.
            adapter = requests.adapters.HTTPAdapter(pool_maxsize=self._pool_maxsize, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.headers["User-Agent"] = self._user_agent
            session.headers["Accept"] = "application/json"
            with self._sessions_lock:
                self._sessions.append(session)
                self._local.session = session
        return session

    # -- the token -----------------------------------------------------------------------------

    def _access_token(self) -> str:
        """The cached token, fetched first when there is none or it is about to expire.

        The lock is held during the fetch, so concurrent callers wait for one fetch and reuse it.
        """
        with self._token_lock:
            token = self._token
            if token is None or self._clock() >= token.reuse_until:
                token = self._fetch_token()
                self._token = token
            return token.value

    def _forget_token(self, value: str) -> None:
        """Drop the cached token if it is still ``value`` (another thread may have replaced it)."""
        if self.signer is not None:
            self.signer.forget(value)
            return
        with self._token_lock:
            if self._token is not None and self._token.value == value:
                self._token = None

    def _fetch_token(self) -> _Token:
        assert self.token_url is not None, "no OAUTH_URL: tokens are signed"
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._client_secret.value,
            "token_type": "jwt",
        }
        sent_at = self._clock()
        response = self._send("POST", self.token_url, data=form)
        if not 200 <= response.status_code < 300:
            body = self._redact(response.text)[:ERROR_BODY_MAX_CHARS]
            raise errors.CredentialsTokenError(self.token_url, response.status_code, body)
        unusable = f"POST {self.token_url} answered HTTP {response.status_code} with an unusable token answer"
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
        _log.debug("fetched a token from %s valid for %.0f s", _path(self.token_url), expires_in)
        return _Token(value=value, reuse_until=sent_at + expires_in - TOKEN_EXPIRY_MARGIN_S)

    # -- errors --------------------------------------------------------------------------------

    def _http_error(self, method: str, url: str, response: requests.Response) -> errors.CredentialsHTTPError:
        body = self._redact(_readable_body(response))[:ERROR_BODY_MAX_CHARS]
        retry_after_ms = _retry_after_ms(response.headers.get("Retry-After"), now_s=time.time())
        return errors.CredentialsHTTPError(method, url, response.status_code, body, retry_after_ms)

    def _redact(self, text: str) -> str:
        """``text`` without the client secret or the cached token (a server may echo what it got)."""
        token = self._token
        for secret in (self._client_secret.value, token.value if token is not None else ""):
            if secret:
                text = text.replace(secret, _REDACTED)
        return text

    def _on_our_origin(self, url: str, api_url: str) -> str:
        link, ours = urlsplit(url), urlsplit(api_url)
        if (link.scheme, link.netloc) == (ours.scheme, ours.netloc):
            return url
        if not self._warned_foreign_next:
            self._warned_foreign_next = True
            _log.warning(
                "Credentials pagination links point at %s://%s, not %s://%s; following their path on the "
                "configured host (check the proxy's X-Forwarded-* headers)",
                link.scheme,
                link.netloc,
                ours.scheme,
                ours.netloc,
            )
        return urlunsplit((ours.scheme, ours.netloc, link.path, link.query, ""))


class _JwtAuth(requests.auth.AuthBase):
    """``Authorization: JWT <token>``.

    Passed as ``auth=`` rather than as a header: with no ``auth``, requests would let a ``~/.netrc``
    entry for the host overwrite the header with Basic credentials.
    """

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token={_REDACTED!r})"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"JWT {self._token}"
        return request


def _json_object(method: str, url: str, response: requests.Response) -> dict[str, Any]:
    """The JSON object of a 2xx answer; ``{}`` for an empty body."""
    if not response.content.strip():
        return {}
    try:
        answer = response.json()
    except requests.exceptions.RequestException as exc:
        raise errors.CredentialsUnavailable(
            f"{method} {url} failed: invalid JSON in the HTTP {response.status_code} answer"
        ) from exc
    if not isinstance(answer, dict):
        raise errors.CredentialsUnavailable(
            f"{method} {url} failed: the HTTP {response.status_code} answer is JSON but not an object"
        )
    return answer


def _readable_body(response: requests.Response) -> str:
    """The answer's text for a message: a page of HTML (Django's 5xx pages) by its title only."""
    if "html" not in response.headers.get("Content-Type", "").lower():
        return response.text
    found = _HTML_TITLE.search(response.text)
    title = " ".join(found.group(1).split()) if found else ""
    return f"(an HTML page{': ' + html.unescape(title) if title else ''})"


def _unusable_page(url: str, what: str) -> errors.CredentialsUnavailable:
    return errors.CredentialsUnavailable(f"GET {url} failed: the page has {what}")


def _failure_kind(exc: requests.exceptions.RequestException) -> str:
    # Order matters: ConnectTimeout is also a ConnectionError, SSLError and ProxyError are too.
    kinds: tuple[tuple[type[Exception], str], ...] = (
        (requests.exceptions.ConnectTimeout, "connect timeout"),
        (requests.exceptions.ReadTimeout, "read timeout"),
        (requests.exceptions.Timeout, "timeout"),
        (requests.exceptions.SSLError, "TLS error"),
        (requests.exceptions.ProxyError, "proxy error"),
        (requests.exceptions.ConnectionError, "connection error"),
        (requests.exceptions.TooManyRedirects, "too many redirects"),
        (requests.exceptions.InvalidJSONError, "invalid JSON"),
    )
    for kind, label in kinds:
        if isinstance(exc, kind):
            return f"{label} ({type(exc).__name__})"
    return f"request error ({type(exc).__name__})"


def _retry_after_ms(value: str | None, *, now_s: float) -> int | None:
    """``Retry-After`` (seconds or an HTTP-date) as ms from ``now_s``; None when absent or unparseable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return int(value) * 1000
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, round((when.timestamp() - now_s) * 1000))


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) else None


def destination(url: str) -> str:
    """``scheme://host[:port]``: what a cooldown is about."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _path(url: str) -> str:
    return urlsplit(url).path


def _route(url: str) -> str:
    """The kind of call a URL is: its API collection, with any resource id replaced by ``<id>``.

    A refusal is about the kind of call (``GET /api/v2/course_certificates/<id>/``), not one key.
    """
    path = _path(url)
    head, marker, rest = path.partition("/api/v2/")
    collection, _, resource = rest.partition("/")
    if not marker or not collection:
        return path
    return f"{head}/api/v2/{collection}/" + ("<id>/" if resource.strip("/") else "")


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
