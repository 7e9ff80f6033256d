"""The task registry: what a kind of sync job declares so the machinery can run its rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

import pydantic

from worker import errors, migrate, outcomes

Deps = TypeVar("Deps")
Payload = TypeVar("Payload", bound=pydantic.BaseModel)


@dataclasses.dataclass(frozen=True)
class TaskSpec(Generic[Deps]):
    """One kind of sync job.

    ``required_keys`` are checked by the database at INSERT (missing or null is rejected there);
    ``payload_model`` then checks types and values in the worker (a mismatch fails the row);
    rows with equal ``ordering_keys`` values run one at a time in insert order.
    """

    name: str
    payload_model: type[pydantic.BaseModel]
    run: Callable[[Deps, Any], outcomes.Outcome]
    required_keys: tuple[str, ...]
    ordering_scope: str
    ordering_keys: tuple[str, ...]

    def parse(self, payload: Mapping[str, Any]) -> pydantic.BaseModel:
        """Validate a row's payload; a mismatch is a ``PermanentSyncError`` saying what is wrong."""
        try:
            return self.payload_model.model_validate(payload)
        except pydantic.ValidationError as exc:
            raise errors.PermanentSyncError(f"invalid payload for {self.name}: {describe(exc)}") from None

    def execute(self, deps: Deps, payload: Mapping[str, Any]) -> outcomes.Outcome:
        """Validate the payload and run the handler."""
        return self.run(deps, self.parse(payload))

    def registration(self) -> migrate.TaskRegistration:
        return migrate.TaskRegistration(
            self.name, self.required_keys, self.ordering_scope, self.ordering_keys
        )


class Registry(Generic[Deps]):
    """The tasks a worker handles, by name."""

    def __init__(self, specs: Iterable[TaskSpec[Deps]]) -> None:
        self._specs: dict[str, TaskSpec[Deps]] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"task {spec.name!r} is registered twice")
            self._specs[spec.name] = spec

    def __getitem__(self, name: str) -> TaskSpec[Deps]:
        return self._specs[name]

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[TaskSpec[Deps]]:
        return iter(self._specs.values())

    def names(self) -> list[str]:
        return list(self._specs)

    def registrations(self) -> list[migrate.TaskRegistration]:
        return [spec.registration() for spec in self]


def describe(exc: pydantic.ValidationError) -> str:
    """A one-line, human-readable account of a payload validation error."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "payload"
        value = error.get("input")
        shown = "" if error["type"] == "missing" else f" (got {value!r:.80})"
        parts.append(f"{where}: {error['msg']}{shown}")
    return "; ".join(parts)
