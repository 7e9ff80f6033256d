"""The emulator itself: a Credentials service (SPEC §5) and the LMS's token endpoint on one socket."""

from __future__ import annotations

import datetime as dt
import logging
import random
import socket
import threading
import time
import types
from collections.abc import Callable, Iterable
from typing import Any

from worker.emulator import (
    accounts,
    admin_api,
    certificates,
    dispatch,
    faults,
    grades,
    oauth,
    recorder,
    routes,
    state,
    tokens,
    transport,
    user_credentials,
    views,
)
from worker.emulator.faults import Fault

__all__ = ["COURSE_CERTIFICATES_PATH", "CREDENTIALS_PATH", "DEFAULT_PORT", "GRADES_PATH", "Emulator", "Fault"]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 18150
#: The API paths clients call (fault rules match them by prefix).
CREDENTIALS_PATH = f"{routes.API_ROOT}{routes.CREDENTIALS}/"
COURSE_CERTIFICATES_PATH = f"{routes.API_ROOT}{routes.COURSE_CERTIFICATES}/"
GRADES_PATH = f"{routes.API_ROOT}{routes.GRADES}/"
# How often the serving loop checks for stop(): bounds how long stopping takes.
POLL_INTERVAL_S = 0.05
STOP_TIMEOUT_S = 1.0


class Emulator:
    """An in-memory Credentials service on a real socket, served from a daemon thread.

    It models a default install of openedx/credentials as measured (SPEC §5.7), never a more
    lenient one; ``set_switches`` changes what an operator could change. It also serves the LMS's
    ``/oauth2/access_token`` (client-credentials grant) for ``service_username``.

    Thread-safe: one lock guards all state; it is never held while sleeping or doing socket I/O.
    ``clock`` (unix seconds) drives token times, timestamps, ``only_visible`` and the throttle.
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
        audience: str = "credentials",
        signing_jwk: str | None = None,
        service_username: str = "credentials_service_user",
        throttle_rate_per_min: int = 15,
    ) -> None:
        if page_size < 1 or max_recorded < 0 or token_lifetime_s < 1 or throttle_rate_per_min < 0:
            raise ValueError(
                "page_size and token_lifetime_s must be positive, max_recorded and "
                "throttle_rate_per_min not negative"
            )
        self._host = host
        self._port = port
        self._max_recorded = max_recorded
        self._seed = seed
        self._clock = clock
        self._issuer = issuer
        self._throttle_rate_per_min = throttle_rate_per_min
        self._lock = threading.Lock()
        self._tokens = tokens.TokenAuthority(
            lifetime_s=token_lifetime_s,
            clock=clock,
            audience=audience,
            signing_key=signing_key,
            signing_jwk=signing_jwk,
        )
        self._store, self._faults, self._recorder = self._fresh_state()
        self._server: transport.Server | None = None
        self._url = ""
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._dispatcher = dispatch.Dispatcher(
            lock=self._lock,
            clock=clock,
            stopping=self._stopping,
            faults=lambda: self._faults,
            recorder=lambda: self._recorder,
            admin=lambda request: admin_api.answer(self, request, url=self._url),
            token_endpoint=oauth.TokenEndpoint(
                client_id=client_id,
                client_secret=client_secret,
                username=service_username,
                authority=self._tokens,
                issuer=self._token_issuer,
            ),
            api=views.Api(
                lock=self._lock,
                authority=self._tokens,
                issuer=self._token_issuer,
                store=lambda: self._store,
                page_size=page_size,
                clock=clock,
            ),
        )

    def _fresh_state(self) -> tuple[state.Store, faults.FaultPlan, recorder.Recorder]:
        # Separate generators: injected faults must not shift the uuids credentials get.
        # Seeded for reproducible runs; nothing here is a secret (S311).
        store = state.Store(
            random.Random(f"{self._seed}:uuids"),  # noqa: S311
            self._now,
            throttle_rate_per_min=self._throttle_rate_per_min,
        )
        plan = faults.FaultPlan(random.Random(f"{self._seed}:faults"))  # noqa: S311
        return store, plan, recorder.Recorder(self._max_recorded)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind the socket and serve from a daemon thread; OSError when the port is taken."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        self._stopping.clear()
        self._server = transport.Server((self._host, self._port), self._dispatcher, family)
        self._url = self._server.url
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

    def configure_program(
        self, uuid: str, *, active: bool = True, course_runs: Iterable[str] = ()
    ) -> dict[str, Any]:
        """Create or update a program's ProgramCertificate and catalog entry (its runs join the catalog).

        Returns it (``id`` is its credential_id); ``course_runs`` decide its visibility.
        """
        with self._lock:
            program = self._store.configure_program(uuid, active=active, course_runs=course_runs)
            return self._store.serialize_program(program)

    def programs(self) -> list[dict[str, Any]]:
        """Every configured ProgramCertificate."""
        with self._lock:
            return [self._store.serialize_program(program) for program in self._store.programs.values()]

    def add_course_runs(self, keys: Iterable[str]) -> None:
        """Add course runs to Credentials' catalog (as ``copy_catalog`` would)."""
        with self._lock:
            self._store.catalog.add_runs(keys)

    def course_runs(self) -> list[str]:
        """Every course run in the catalog, in the order added."""
        with self._lock:
            return self._store.catalog.runs()

    def accounts(self) -> list[dict[str, Any]]:
        """Every account authentication created: ``username, email, is_staff, is_superuser, groups``."""
        with self._lock:
            return [accounts.serialize(account) for account in self._store.accounts.all()]

    def configure_account(
        self, username: str, *, permissions: Iterable[str] | None = None, is_superuser: bool | None = None
    ) -> dict[str, Any]:
        """Create or change an account as an operator would in Django's admin: its own ``permissions``
        (replaced; e.g. ``records.add_usergrade``) and ``is_superuser`` (None keeps either)."""
        with self._lock:
            return self._store.configure_account(username, perms=permissions, is_superuser=is_superuser)

    def set_switches(
        self, admins_can_view: bool | None = None, learner_records: bool | None = None
    ) -> dict[str, bool]:
        """Change the install's configuration (None keeps a switch); returns every switch.

        ``admins_can_view`` grants ``view_usercredential`` to Admins (default False);
        ``learner_records`` is the site's records_enabled (default True).
        """
        with self._lock:
            switches = self._store.switches
            if admins_can_view is not None:
                switches.admins_can_view = bool(admins_can_view)
            if learner_records is not None:
                switches.learner_records = bool(learner_records)
            return switches.to_json()

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
        """Make every token this emulator issued so far answer 401 (later ones, and tokens signed
        elsewhere, keep working)."""
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
            return [user_credentials.serialize(item, base_url) for item in self._store.credentials.all()]

    def course_certificates(self) -> list[dict[str, Any]]:
        """Every CourseCertificate, serialized as the API does, in creation order."""
        with self._lock:
            return [certificates.serialize(item) for item in self._store.certificates.all()]

    def grades(self) -> list[dict[str, Any]]:
        """Every UserGrade, serialized as the grades API does, in creation order."""
        with self._lock:
            return [grades.serialize(grade) for grade in self._store.grades.all()]

    def stats(self) -> dict[str, Any]:
        """Unbounded counters: ``token`` (tokens issued), ``requests``, ``faults``, ``by_endpoint``."""
        with self._lock:
            return self._recorder.stats()

    def reset(self) -> None:
        """Back to a fresh default install: no programs, catalog, accounts, certificates,
        credentials, grades, throttle history, faults, recordings or counters; switches at defaults.

        The client id/secret and the signing keys stay, so tokens already issued keep working
        (and revoked ones stay revoked).
        """
        with self._lock:
            self._store, self._faults, self._recorder = self._fresh_state()

    # -- shared with the request handling (called from handler threads) --------------------------

    def _token_issuer(self) -> str:
        """The ``iss`` of the tokens it mints and accepts: its own OAuth root unless given."""
        return self._issuer or f"{self._base_url()}/oauth2"

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC)

    def _base_url(self) -> str:
        return self._url or f"http://{self._host}:{self._port}"
