"""Drives a running emulator (thread or process) through its ``/_emulator/...`` admin API."""

from __future__ import annotations

import time
import types
from collections.abc import Iterable
from typing import Any

import requests

from worker.emulator import faults

REQUEST_TIMEOUT_S = 10.0
READY_POLL_INTERVAL_S = 0.05


class EmulatorAdmin:
    """The ``server.Emulator`` control methods over HTTP; ``requests.HTTPError`` on a refused call.

    Holds a keep-alive session: ``close()`` it, or use it as a context manager.
    """

    def __init__(self, base_url: str, *, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        self._admin_url = f"{base_url.rstrip('/')}/_emulator/"
        self._timeout_s = timeout_s
        self._session = requests.Session()

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def __enter__(self) -> EmulatorAdmin:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self.close()

    def wait_until_ready(self, timeout_s: float) -> None:
        """Poll the health endpoint until it answers; TimeoutError after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            try:
                with self._session.get(f"{self._admin_url}health", timeout=max(remaining, 0.1)) as response:
                    if response.ok:
                        return
            except requests.RequestException:
                pass  # not listening yet
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the emulator at {self._admin_url} was not ready within {timeout_s} s")
            time.sleep(READY_POLL_INTERVAL_S)

    def configure_program(
        self, uuid: str, *, active: bool = True, course_runs: Iterable[str] = ()
    ) -> dict[str, Any]:
        """Create or update a program's ProgramCertificate; returns it."""
        result: dict[str, Any] = self._call(
            "POST", "programs", {"uuid": uuid, "active": active, "course_runs": list(course_runs)}
        )
        return result

    def programs(self) -> list[dict[str, Any]]:
        """Every configured ProgramCertificate."""
        result: list[dict[str, Any]] = self._call("GET", "programs")
        return result

    def add_course_runs(self, keys: Iterable[str]) -> None:
        """Add course runs to Credentials' catalog."""
        self._call("POST", "course-runs", list(keys))

    def course_runs(self) -> list[str]:
        """Every course run in the catalog."""
        result: list[str] = self._call("GET", "course-runs")
        return result

    def accounts(self) -> list[dict[str, Any]]:
        """Every account authentication created."""
        result: list[dict[str, Any]] = self._call("GET", "accounts")
        return result

    def configure_account(
        self, username: str, *, permissions: Iterable[str] | None = None, is_superuser: bool | None = None
    ) -> dict[str, Any]:
        """Create or change an account as an operator would (its own permissions, superuser flag)."""
        body = {
            "username": username,
            "permissions": None if permissions is None else list(permissions),
            "is_superuser": is_superuser,
        }
        result: dict[str, Any] = self._call("POST", "accounts", body)
        return result

    def set_switches(
        self, admins_can_view: bool | None = None, learner_records: bool | None = None
    ) -> dict[str, bool]:
        """Change the install's switches (None keeps one); returns every switch."""
        body = {"admins_can_view": admins_can_view, "learner_records": learner_records}
        result: dict[str, bool] = self._call("POST", "switches", body)
        return result

    def add_fault(self, fault: faults.Fault) -> None:
        """Add a fault rule after the existing ones."""
        self._call("POST", "faults", fault.to_json())

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._call("DELETE", "faults")

    def revoke_tokens(self) -> None:
        """Make every token the emulator issued so far answer 401."""
        self._call("POST", "revoke-tokens")

    def requests(self) -> list[dict[str, Any]]:
        """The recorded API and token requests, oldest first."""
        result: list[dict[str, Any]] = self._call("GET", "requests")
        return result

    def credentials(self) -> list[dict[str, Any]]:
        """Every UserCredential, serialized as the API does."""
        result: list[dict[str, Any]] = self._call("GET", "credentials")
        return result

    def course_certificates(self) -> list[dict[str, Any]]:
        """Every CourseCertificate, serialized as the API does."""
        result: list[dict[str, Any]] = self._call("GET", "course-certificates")
        return result

    def grades(self) -> list[dict[str, Any]]:
        """Every UserGrade, serialized as the grades API does, in creation order."""
        result: list[dict[str, Any]] = self._call("GET", "grades")
        return result

    def stats(self) -> dict[str, Any]:
        """The emulator's counters."""
        result: dict[str, Any] = self._call("GET", "stats")
        return result

    def reset(self) -> None:
        """Back to a fresh default install; the client credentials and keys stay (tokens keep working)."""
        self._call("POST", "reset")

    def _call(self, method: str, name: str, body: object = None) -> Any:
        with self._session.request(
            method, f"{self._admin_url}{name}", json=body, timeout=self._timeout_s
        ) as response:
            response.raise_for_status()
            return response.json()
