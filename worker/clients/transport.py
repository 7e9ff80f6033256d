"""One HTTP exchange with Credentials or its token endpoint: per-thread sessions, timeout, observer.

What the caller must know:

* Every request has a timeout; urllib3 never retries on its own (Dramatiq does the retrying).
* requests' exceptions become ``errors.CredentialsUnavailable`` here and nowhere else (connection
  refused or reset, timeout, TLS, proxy, too many redirects), with the cause chained.
* Each thread uses its own ``requests.Session`` (sessions are not thread-safe), kept for
  connection reuse until ``close()``.
* Tokens go as ``JwtAuth``, which never shows itself in ``repr``.
* A request the caller gave up on is not left for the kernel to deliver later: on Linux, every
  connection carries ``TCP_USER_TIMEOUT`` equal to the read timeout, so data Credentials has not
  acknowledged by then is discarded with the connection. Without it, a request sent into a network
  partition sits in the send queue (even after the worker has died) and reaches Credentials when
  the network heals, where it can undo a later change another worker has synced meanwhile.
* The environment's proxy settings (``HTTPS_PROXY``, ``NO_PROXY``, ...) and CA bundle
  (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) are honoured as requests honours them, but read once
  per origin and process, not on every request: a change needs a restart.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.auth
from urllib3.connection import HTTPConnection

from worker import errors

REDACTED = "[redacted]"

_log = logging.getLogger(__name__)

Observer = Callable[[str, str, "int | None", int, "str | None"], None]
"""Told of every HTTP exchange: method, URL, status (None: no answer), duration in ms, error."""


class JwtAuth(requests.auth.AuthBase):
    """``Authorization: JWT <token>``.

    Passed as ``auth=`` rather than as a header: with no ``auth``, requests would let a ``~/.netrc``
    entry for the host overwrite the header with Basic credentials.
    """

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token={REDACTED!r})"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"JWT {self._token}"
        return request


class DeadlineAdapter(requests.adapters.HTTPAdapter):
    """An adapter whose connections give up on unacknowledged data after ``deadline_s``.

    ``TCP_USER_TIMEOUT`` (Linux) bounds how long sent data may stay unacknowledged before the
    kernel drops the connection, the data with it, also once the socket is closed or its process
    has died. Only unacknowledged data counts: a slow answer to a delivered request is not cut.
    Elsewhere the option is absent and the adapter is a plain ``HTTPAdapter``.
    """

    def __init__(self, deadline_s: float, **kwargs: Any) -> None:
        self._deadline_s = deadline_s
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, socket_options=socket_options(self._deadline_s), **kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        return super().proxy_manager_for(
            proxy, socket_options=socket_options(self._deadline_s), **proxy_kwargs
        )


def socket_options(deadline_s: float) -> list[tuple[int, int, int]]:
    """urllib3's default socket options (``TCP_NODELAY``) plus ``TCP_USER_TIMEOUT`` where it exists."""
    options: list[tuple[int, int, int]] = list(HTTPConnection.default_socket_options)
    user_timeout = getattr(socket, "TCP_USER_TIMEOUT", None)
    if user_timeout is not None:
        options.append((socket.IPPROTO_TCP, user_timeout, max(1, round(deadline_s * 1000))))
    return options


class Transport:
    """Sends requests with the timeout and tells ``observer`` of each; thread-safe."""

    def __init__(
        self,
        *,
        timeout: tuple[float, float],
        user_agent: str,
        pool_maxsize: int,
        observer: Observer | None = None,
    ) -> None:
        self._timeout = timeout
        self._user_agent = user_agent
        self._pool_maxsize = pool_maxsize
        self._observer = observer
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._environment: dict[tuple[str, str], dict[str, Any]] = {}

    def send(
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
            session = self._session()
            # Prepared here rather than by Session.request, which merges the session's cookie jar,
            # hooks and settings into every request: credsync uses none of them, and it cost a
            # tenth of a request's CPU.
            prepared = requests.PreparedRequest()
            prepared.prepare(
                method=method,
                url=url,
                headers={**session.headers, **(headers or {})},
                data=data,
                params=params,
                auth=auth,
            )
            response = session.send(prepared, timeout=self._timeout, **self._environment_for(url))
        except requests.exceptions.RequestException as exc:
            kind = failure_kind(exc)
            _log.debug("%s %s failed (%s) after %.1f ms", method, path(url), kind, _ms_since(started))
            self._observe(method, url, None, started, kind)
            raise errors.CredentialsUnavailable(f"{method} {url} failed: {kind}") from exc
        _log.debug(
            "%s %s answered HTTP %d in %.1f ms", method, path(url), response.status_code, _ms_since(started)
        )
        self._observe(method, response.url or url, response.status_code, started, None)
        return response

    def close(self) -> None:
        """Close every session opened so far; a later request opens new ones."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
            self._local = threading.local()
        for session in sessions:
            session.close()

    def _observe(self, method: str, url: str, status: int | None, started: float, error: str | None) -> None:
        if self._observer is None:
            return
        try:
            self._observer(method, url, status, round(_ms_since(started)), error)
        except Exception:
            _log.exception("the exchange observer failed for %s %s", method, path(url))

    def _environment_for(self, url: str) -> dict[str, Any]:
        """``proxies`` and ``verify`` for ``url``'s origin as requests reads them from the environment
        (``NO_PROXY`` included), read once per origin."""
        origin = urlsplit(url)[:2]
        found = self._environment.get(origin)
        if found is None:
            with requests.Session() as reader:
                merged = reader.merge_environment_settings(url, {}, None, None, None)
            found = self._environment[origin] = {"proxies": merged["proxies"], "verify": merged["verify"]}
        return found

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # With trust_env, requests reads the proxy variables (and ~/.netrc) again on every request:
            # a tenth of a worker's CPU. They come from _environment_for instead, once per origin.
            session.trust_env = False
            # max_retries=0: a failed attempt surfaces at once; Dramatiq owns the retry policy.
            adapter = DeadlineAdapter(self._timeout[1], pool_maxsize=self._pool_maxsize, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.headers["User-Agent"] = self._user_agent
            session.headers["Accept"] = "application/json"
            with self._sessions_lock:
                self._sessions.append(session)
                self._local.session = session
        return session


def failure_kind(exc: requests.exceptions.RequestException) -> str:
    """What went wrong, in a few words, with the exception's class name."""
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


def path(url: str) -> str:
    """The path of ``url``: what logs show of it (never the query, which may name a learner)."""
    return urlsplit(url).path


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
