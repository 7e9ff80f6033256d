"""The emulator's request handling in one place: admin API, injected faults, token endpoint, API, record."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from worker.emulator import oauth, transport, views
from worker.emulator.faults import FaultPlan
from worker.emulator.recorder import Recorder

logger = logging.getLogger(__name__)


class Dispatcher:
    """Answers each request a connection reads (``transport.Service``), in this order.

    Admin requests (``/_emulator/``) go to ``admin``, never faulted nor recorded. Any other request
    meets the fault rules first: ``drop`` and ``hang`` leave it unanswered, ``status`` answers
    instead of the service, ``latency`` waits before it. The token path goes to ``token_endpoint``,
    everything else to ``api``; an exception there is Django's HTML 500. Every such request is
    recorded before its answer leaves.

    ``faults`` and ``recorder`` reach the emulator's current ones (a reset replaces them), used
    under ``lock``; waits end early when ``stopping`` is set.
    """

    def __init__(
        self,
        *,
        lock: threading.Lock,
        clock: Callable[[], float],
        stopping: threading.Event,
        faults: Callable[[], FaultPlan],
        recorder: Callable[[], Recorder],
        admin: Callable[[transport.Request], transport.Response],
        token_endpoint: oauth.TokenEndpoint,
        api: views.Api,
    ) -> None:
        self._lock = lock
        self._clock = clock
        self._stopping = stopping
        self._faults = faults
        self._recorder = recorder
        self._admin = admin
        self._token_endpoint = token_endpoint
        self._api = api

    def now(self) -> float:
        """The emulator's clock (unix seconds)."""
        return self._clock()

    def handle(self, request: transport.Request, received_at: float) -> transport.Response | None:
        """The answer to ``request``, or None when an injected drop or hang leaves it unanswered."""
        if request.path.startswith(transport.ADMIN_PREFIX):
            return self._admin(request)
        with self._lock:
            fault = self._faults().pick(request.method, request.path)
        action = None if fault is None else fault.action
        if fault is not None and fault.action in ("drop", "hang"):
            self._record(request, received_at, None, action)
            if fault.action == "hang":
                self._pause(fault.latency_ms)
            return None
        if fault is not None and fault.action == "status":
            retry_after = () if fault.retry_after_s is None else (("Retry-After", str(fault.retry_after_s)),)
            response = transport.detail(fault.status, "injected", *retry_after)  # an HTML page when 5xx
        else:
            if fault is not None:
                self._pause(fault.latency_ms)
            try:
                response = self._answer(request)
            except Exception:
                logger.exception("emulator failed on %s %s", request.method, request.path)
                response = transport.server_error()
        # Recorded before answering, so a client that has its answer also sees the record.
        self._record(request, received_at, response.status, action)
        return response

    def _pause(self, milliseconds: int) -> None:
        self._stopping.wait(milliseconds / 1000)

    def _record(self, request: transport.Request, at: float, status: int | None, fault: str | None) -> None:
        with self._lock:
            self._recorder().record(
                at=at,
                method=request.method,
                path=request.path,
                query=request.params,
                body=request.recorded_body(),
                status=status,
                fault=fault,
            )

    def _answer(self, request: transport.Request) -> transport.Response:
        """The answer to a request that no fault intercepted."""
        if request.path != transport.TOKEN_PATH:
            return self._api.respond(request)
        refused = self._token_endpoint.refusal(request)
        if refused is not None:
            return refused
        with self._lock:
            token = self._token_endpoint.issue()
            self._recorder().count_token()
        return self._token_endpoint.answer(token)
