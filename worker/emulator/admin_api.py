"""Serves the emulator's control methods as JSON under ``/_emulator/`` (no auth, never faulted)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from worker.emulator import transport
from worker.emulator.faults import Fault

_NOT_ALLOWED = 'Method "{}" not allowed.'


class Controls(Protocol):
    """The control methods the admin API serves (``server.Emulator``'s; see them for the contract)."""

    def configure_program(
        self, uuid: str, *, active: bool = True, course_runs: Iterable[str] = ()
    ) -> dict[str, Any]: ...
    def programs(self) -> list[dict[str, Any]]: ...
    def add_course_runs(self, keys: Iterable[str]) -> None: ...
    def course_runs(self) -> list[str]: ...
    def accounts(self) -> list[dict[str, Any]]: ...
    def configure_account(
        self, username: str, *, permissions: Iterable[str] | None = None, is_superuser: bool | None = None
    ) -> dict[str, Any]: ...
    def set_switches(
        self, admins_can_view: bool | None = None, learner_records: bool | None = None
    ) -> dict[str, bool]: ...
    def add_fault(self, fault: Fault) -> None: ...
    def faults(self) -> list[Fault]: ...
    def clear_faults(self) -> None: ...
    def revoke_tokens(self) -> None: ...
    def requests(self) -> list[dict[str, Any]]: ...
    def credentials(self) -> list[dict[str, Any]]: ...
    def course_certificates(self) -> list[dict[str, Any]]: ...
    def grades(self) -> list[dict[str, Any]]: ...
    def stats(self) -> dict[str, Any]: ...
    def reset(self) -> None: ...


def answer(emulator: Controls, request: transport.Request, *, url: str) -> transport.Response:
    """The admin API's answer to one request; ``url`` is the emulator's own (``health`` reports it)."""
    name = request.path[len(transport.ADMIN_PREFIX) :].strip("/")
    routes: dict[str, dict[str, Callable[[Any], Any]]] = {
        "health": {"GET": lambda _: {"status": "ok", "url": url}},
        "programs": {
            "GET": lambda _: emulator.programs(),
            "POST": lambda data: configure_programs(emulator, data),
        },
        "course-runs": {
            "GET": lambda _: emulator.course_runs(),
            "POST": lambda data: _add_runs(emulator, data),
        },
        "accounts": {
            "GET": lambda _: emulator.accounts(),
            "POST": lambda data: _configure_account(emulator, data),
        },
        "switches": {
            "GET": lambda _: emulator.set_switches(),
            "POST": lambda data: _switches(emulator, data),
        },
        "faults": {
            "GET": lambda _: [fault.to_json() for fault in emulator.faults()],
            "POST": lambda data: emulator.add_fault(Fault.from_json(data)),
            "DELETE": lambda _: emulator.clear_faults(),
        },
        "revoke-tokens": {"POST": lambda _: emulator.revoke_tokens()},
        "requests": {"GET": lambda _: emulator.requests()},
        "credentials": {"GET": lambda _: emulator.credentials()},
        "course-certificates": {"GET": lambda _: emulator.course_certificates()},
        "grades": {"GET": lambda _: emulator.grades()},
        "stats": {"GET": lambda _: emulator.stats()},
        "reset": {"POST": lambda _: emulator.reset()},
    }
    methods = routes.get(name)
    if methods is None:
        return transport.detail(404, "Not found.")
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


def configure_programs(emulator: Controls, data: Any) -> Any:
    """Configure one program (an object) or several (a list); returns what was configured."""
    items = data if isinstance(data, list) else [data]
    configured = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("uuid"), str):
            raise ValueError('a program is {"uuid": str, "active": bool, "course_runs": [str]}')
        configured.append(
            emulator.configure_program(
                item["uuid"],
                active=bool(item.get("active", True)),
                course_runs=item.get("course_runs") or (),
            )
        )
    return configured if isinstance(data, list) else configured[0]


def _add_runs(emulator: Controls, data: Any) -> list[str]:
    if not isinstance(data, list):
        raise ValueError("course runs are a JSON list of course run keys")
    emulator.add_course_runs(data)
    return emulator.course_runs()


def _configure_account(emulator: Controls, data: Any) -> dict[str, Any]:
    shape = '{"username": str, "permissions": [str] or null, "is_superuser": bool or null}'
    if not isinstance(data, dict) or set(data) - {"username", "permissions", "is_superuser"}:
        raise ValueError(f"an account is {shape}")
    permissions = data.get("permissions")
    if permissions is not None and not (
        isinstance(permissions, list) and all(isinstance(name, str) for name in permissions)
    ):
        raise ValueError(f"an account is {shape}")
    superuser = data.get("is_superuser")
    if not isinstance(data.get("username"), str) or not (superuser is None or isinstance(superuser, bool)):
        raise ValueError(f"an account is {shape}")
    return emulator.configure_account(data["username"], permissions=permissions, is_superuser=superuser)


def _switches(emulator: Controls, data: Any) -> dict[str, bool]:
    if not isinstance(data, dict) or set(data) - {"admins_can_view", "learner_records"}:
        raise ValueError('switches are {"admins_can_view": bool, "learner_records": bool}')
    if not all(value is None or isinstance(value, bool) for value in data.values()):
        raise ValueError("a switch is true, false or null")
    return emulator.set_switches(
        admins_can_view=data.get("admins_can_view"), learner_records=data.get("learner_records")
    )
