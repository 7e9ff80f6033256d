"""Serves the emulated Credentials API (SPEC §5), its OAuth2 token endpoint and an admin API over HTTP."""

from __future__ import annotations

import argparse
import datetime as dt
import hmac
import json
import logging
import math
import random
import signal
import socket
import sys
import threading
import time
import types
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from worker.emulator import faults, recorder, state, tokens, transport
from worker.emulator.faults import Fault

__all__ = ["DEFAULT_PORT", "Emulator", "Fault", "main"]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 18150
CREDENTIALS_PATH = "/api/v2/credentials/"
COURSE_CERTIFICATES_PATH = "/api/v2/course_certificates/"
TOKEN_SCOPE = "read write email profile"  # noqa: S105 (scopes, not a secret)
# How often the serving loop checks for stop(): bounds how long stopping takes.
POLL_INTERVAL_S = 0.05
STOP_TIMEOUT_S = 1.0

_NOT_FOUND = transport.detail(404, "Not found.")
_NOT_ALLOWED = 'Method "{}" not allowed.'


class Emulator:
    """An in-memory Credentials service on a real socket, served from a daemon thread.

    Thread-safe: one lock guards all state; it is never held while sleeping or doing socket I/O.
    ``clock`` (unix seconds) drives token expiry, timestamps and ``only_visible``; tests may fake it.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = "credsync",
        client_secret: str = "credsync-secret",  # noqa: S107 (the local demo client)
        token_lifetime_s: int = 3600,
        page_size: int = 20,
        max_recorded: int = 100_000,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        signing_key: bytes | None = None,
        issuer: str | None = None,
    ) -> None:
        if page_size < 1 or max_recorded < 0 or token_lifetime_s < 1:
            raise ValueError("page_size and token_lifetime_s must be positive, max_recorded not negative")
        self._host = host
        self._port = port
        self._client_id = client_id
        self._client_secret = client_secret
        self._page_size = page_size
        self._max_recorded = max_recorded
        self._seed = seed
        self._clock = clock
        self._issuer = issuer
        self._lock = threading.Lock()
        self._tokens = tokens.TokenAuthority(token_lifetime_s, clock, signing_key)
        self._store, self._faults, self._recorder = self._fresh_state()
        self._server: transport.Server | None = None
        self._url = ""
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._routes: dict[str, dict[str, Callable[[transport.Request], transport.Response]]] = {
            transport.TOKEN_PATH: {"POST": self._issue_token},
            CREDENTIALS_PATH: {"GET": self._list_credentials, "POST": self._upsert_credential},
            COURSE_CERTIFICATES_PATH: {"POST": self._upsert_course_certificate},
        }

    def _fresh_state(self) -> tuple[state.Store, faults.FaultPlan, recorder.Recorder]:
        # Separate generators: injected faults must not shift the uuids credentials get.
        # Seeded for reproducible runs; nothing here is a secret (S311).
        store = state.Store(random.Random(f"{self._seed}:uuids"), self._now)  # noqa: S311
        plan = faults.FaultPlan(random.Random(f"{self._seed}:faults"))  # noqa: S311
        return store, plan, recorder.Recorder(self._max_recorded)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind the socket and serve from a daemon thread; OSError when the port is taken."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        self._stopping.clear()
        self._server = transport.Server((self._host, self._port), self, family)
        host, port = self._server.server_address[:2]
        host = str(host)
        self._url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL_S},
            name="credsync-emulator",
            daemon=True,
        )
        self._thread.start()
        logger.debug("credsync emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections (ending injected hangs) and close the socket."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections(STOP_TIMEOUT_S)
        server.server_close()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
            self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The Credentials root (``http://host:port``), also the OAuth root; only while running."""
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return self._url

    # -- control (also served under /_emulator/) -------------------------------------------------

    def _token_issuer(self) -> str:
        """The ``iss`` of the tokens it mints and accepts: its own OAuth root unless shared."""
        return self._issuer or f"{self._url}/oauth2"

    def configure_program(
        self, uuid: str, *, active: bool = True, course_runs: Iterable[str] = ()
    ) -> dict[str, Any]:
        """Create or update a program's ProgramCertificate; returns it (``id`` is its credential_id)."""
        with self._lock:
            program = self._store.configure_program(uuid, active=active, course_runs=course_runs)
            return state.serialize_program(program)

    def programs(self) -> list[dict[str, Any]]:
        """Every configured ProgramCertificate."""
        with self._lock:
            return [state.serialize_program(program) for program in self._store.programs()]

    def add_fault(self, fault: Fault) -> None:
        """Add a fault rule after the existing ones."""
        with self._lock:
            self._faults.add(fault)

    def faults(self) -> list[Fault]:
        """The fault rules that may still fire."""
        with self._lock:
            return self._faults.active()

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        with self._lock:
            self._faults.clear()

    def revoke_tokens(self) -> None:
        """Make every token issued so far answer 401 (tokens issued later work)."""
        with self._lock:
            self._tokens.revoke_all()

    def requests(self) -> list[dict[str, Any]]:
        """The recorded API and token requests, oldest first (at most ``max_recorded``)."""
        with self._lock:
            return self._recorder.records()

    def credentials(self) -> list[dict[str, Any]]:
        """Every UserCredential, serialized as the API does, in creation order."""
        with self._lock:
            base_url = self._base_url()
            return [state.serialize_credential(item, base_url) for item in self._store.credentials()]

    def course_certificates(self) -> list[dict[str, Any]]:
        """Every CourseCertificate, serialized as the API does, in creation order."""
        with self._lock:
            return [state.serialize_course_certificate(item) for item in self._store.course_certificates()]

    def stats(self) -> dict[str, Any]:
        """Unbounded counters: ``token`` (tokens issued), ``requests``, ``faults``, ``by_endpoint``."""
        with self._lock:
            return self._recorder.stats()

    def reset(self) -> None:
        """Forget programs, certificates, credentials, faults, recordings and counters.

        The client id/secret and the token signing key stay, so tokens already issued keep working
        (and revoked ones stay revoked).
        """
        with self._lock:
            self._store, self._faults, self._recorder = self._fresh_state()

    # -- serving (called from handler threads) ---------------------------------------------------

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC)

    def _base_url(self) -> str:
        return self._url or f"http://{self._host}:{self._port}"

    def _pick_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            return self._faults.pick(method, path)

    def _pause(self, milliseconds: int) -> None:
        self._stopping.wait(milliseconds / 1000)

    def _record(self, request: transport.Request, at: float, status: int | None, fault: str | None) -> None:
        with self._lock:
            self._recorder.record(
                at=at,
                method=request.method,
                path=request.path,
                query=request.params,
                body=request.recorded_body(),
                status=status,
                fault=fault,
            )

    def _answer(self, request: transport.Request) -> transport.Response:
        """The API's answer to a request that no fault intercepted."""
        methods = self._routes.get(request.path)
        if methods is None:
            return _NOT_FOUND
        if request.path != transport.TOKEN_PATH:
            # DRF authenticates before it looks for the method handler.
            problem = self._authentication_problem(request)
            if problem is not None:
                return transport.detail(401, problem, ("WWW-Authenticate", 'JWT realm="api"'))
        handler = methods.get(request.method)
        if handler is None:
            return transport.detail(405, _NOT_ALLOWED.format(request.method))
        if request.path != transport.TOKEN_PATH and request.data_error is not None:
            return transport.detail(400, request.data_error)
        try:
            return handler(request)
        except state.ValidationFailed as invalid:
            return transport.Response(400, invalid.errors)

    def _issue_token(self, request: transport.Request) -> transport.Response:
        form = request.data if isinstance(request.data, dict) else {}
        client_id, secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
        good_client = hmac.compare_digest(client_id.encode(), self._client_id.encode())
        good_secret = hmac.compare_digest(secret.encode(), self._client_secret.encode())
        if not (good_client and good_secret):
            return transport.Response(401, {"error": "invalid_client"})
        if form.get("grant_type") != "client_credentials":
            return transport.Response(400, {"error": "unsupported_grant_type"})
        if form.get("token_type", "").lower() != "jwt":
            return transport.Response(
                400, {"error": "invalid_request", "error_description": "token_type must be jwt"}
            )
        with self._lock:
            token = self._tokens.issue(self._token_issuer())
            self._recorder.count_token()
        body = {
            "access_token": token,
            "token_type": "JWT",
            "expires_in": self._tokens.lifetime_s,
            "scope": TOKEN_SCOPE,
        }
        return transport.Response(200, body, (("Cache-Control", "no-store"),))

    def _authentication_problem(self, request: transport.Request) -> str | None:
        scheme, _, token = (request.authorization or "").partition(" ")
        if scheme != "JWT" or not token.strip():
            return "Authentication credentials were not provided."
        with self._lock:
            return self._tokens.problem(token.strip(), self._token_issuer())

    def _upsert_credential(self, request: transport.Request) -> transport.Response:
        with self._lock:
            credential = self._store.upsert_credential(_object_or_empty(request.data))
            return transport.Response(201, state.serialize_credential(credential, request.base_url))

    def _upsert_course_certificate(self, request: transport.Request) -> transport.Response:
        with self._lock:
            certificate = self._store.upsert_course_certificate(_object_or_empty(request.data))
            return transport.Response(201, state.serialize_course_certificate(certificate))

    def _list_credentials(self, request: transport.Request) -> transport.Response:
        params = request.params
        with self._lock:
            matches = self._store.list_credentials(params)
            pages = max(1, math.ceil(len(matches) / self._page_size))
            raw_page = params.get("page") or "1"
            number = pages if raw_page == "last" else int(raw_page) if raw_page.isdigit() else 0
            if not 1 <= number <= pages:
                return transport.detail(404, "Invalid page.")
            start = (number - 1) * self._page_size
            results = [
                state.serialize_credential(item, request.base_url)
                for item in matches[start : start + self._page_size]
            ]
        body = {
            "count": len(matches),
            "next": _page_link(request, number + 1) if number < pages else None,
            "previous": _page_link(request, number - 1) if number > 1 else None,
            "results": results,
        }
        return transport.Response(200, body)

    # -- admin API -------------------------------------------------------------------------------

    def _admin(self, request: transport.Request) -> transport.Response:
        """The admin API's answer: the control methods above as JSON over HTTP, no auth."""
        name = request.path[len(transport.ADMIN_PREFIX) :].strip("/")
        routes: dict[str, dict[str, Callable[[Any], Any]]] = {
            "health": {"GET": lambda _: {"status": "ok", "url": self._url}},
            "programs": {"GET": lambda _: self.programs(), "POST": self._admin_programs},
            "faults": {
                "GET": lambda _: [fault.to_json() for fault in self.faults()],
                "POST": lambda data: self.add_fault(Fault.from_json(data)),
                "DELETE": lambda _: self.clear_faults(),
            },
            "revoke-tokens": {"POST": lambda _: self.revoke_tokens()},
            "requests": {"GET": lambda _: self.requests()},
            "credentials": {"GET": lambda _: self.credentials()},
            "course-certificates": {"GET": lambda _: self.course_certificates()},
            "stats": {"GET": lambda _: self.stats()},
            "reset": {"POST": lambda _: self.reset()},
        }
        methods = routes.get(name)
        if methods is None:
            return _NOT_FOUND
        handler = methods.get(request.method)
        if handler is None:
            return transport.detail(405, _NOT_ALLOWED.format(request.method))
        if request.data_error is not None:
            return transport.detail(400, request.data_error)
        try:
            result = handler(request.data)
        except (ValueError, TypeError) as error:
            return transport.detail(400, str(error))
        return transport.Response(200, {"ok": True} if result is None else result)

    def _admin_programs(self, data: Any) -> Any:
        items = data if isinstance(data, list) else [data]
        configured = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("uuid"), str):
                raise ValueError('a program is {"uuid": str, "active": bool, "course_runs": [str]}')
            configured.append(
                self.configure_program(
                    item["uuid"],
                    active=bool(item.get("active", True)),
                    course_runs=item.get("course_runs") or (),
                )
            )
        return configured if isinstance(data, list) else configured[0]


def _object_or_empty(data: Any) -> Any:
    # DRF reads an empty body as an empty object: every required field is then reported missing.
    return {} if data is None else data


def _page_link(request: transport.Request, number: int) -> str:
    """DRF's page links: the same URL with ``page`` replaced (dropped for page 1), params sorted."""
    query = {name: values for name, values in request.query.items() if name != "page"}
    if number > 1:
        query["page"] = [str(number)]
    encoded = urllib.parse.urlencode(sorted(query.items()), doseq=True)
    return f"{request.base_url}{request.path}" + (f"?{encoded}" if encoded else "")


def _load_programs(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as file:
        programs = json.load(file)
    if not isinstance(programs, list) or not all(isinstance(item, dict) for item in programs):
        raise ValueError('expected a JSON list of {"uuid", "active", "course_runs"} objects')
    return programs


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until SIGTERM or SIGINT; returns the exit status."""
    parser = argparse.ArgumentParser(prog="credsync emulator", description="Local Credentials service.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--client-id", default="credsync")
    parser.add_argument("--client-secret", default="credsync-secret")
    parser.add_argument("--token-lifetime-s", type=int, default=3600)
    parser.add_argument("--page-size", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--programs", metavar="FILE", help='JSON list of {"uuid", "active", "course_runs"}')
    args = parser.parse_args(argv)
    emulator = Emulator(
        host=args.host,
        port=args.port,
        client_id=args.client_id,
        client_secret=args.client_secret,
        token_lifetime_s=args.token_lifetime_s,
        page_size=args.page_size,
        seed=args.seed,
    )
    try:
        for program in _load_programs(args.programs) if args.programs else []:
            emulator._admin_programs(program)
    except (OSError, ValueError) as error:
        print(f"credsync emulator: --programs {args.programs}: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, frame: types.FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            emulator.start()
        except OSError as error:
            print(f"credsync emulator: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
            return 1
        print(f"credsync emulator listening on {emulator.url}", flush=True)
        while not stop.wait(POLL_INTERVAL_S):
            pass
        return 0
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
