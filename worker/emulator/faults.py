"""Injected failures: which requests get a wrong status, a delay, a dropped or a hung connection."""

from __future__ import annotations

import dataclasses
import random
from typing import Any, Literal, get_args

FaultAction = Literal["status", "latency", "drop", "hang"]
ACTIONS: frozenset[str] = frozenset(get_args(FaultAction))


@dataclasses.dataclass(frozen=True)
class Fault:
    """One injected failure rule; the first rule that matches and fires decides a request's fate.

    - ``method``: HTTP method to match (any case), None for any.
    - ``path_prefix``: the request path must start with it (``/api/v2/credentials/``, ``/oauth2/``).
      Admin paths (``/_emulator/...``) are never faulted.
    - ``action``: ``status`` answers ``status`` with ``{"detail": "injected"}`` (a 5xx with Django's
      HTML error page instead, as the real service answers every 5xx), and ``Retry-After:
      retry_after_s`` when set; ``latency`` waits ``latency_ms`` then answers normally; ``drop`` closes
      the connection without answering; ``hang`` waits ``latency_ms`` without answering, then closes.
    - ``times``: fire for the first N matching requests only (None: forever).
    - ``probability``: chance of firing for a matching request (the emulator's seeded RNG decides);
      ``times`` counts only the requests it fired for.
    """

    method: str | None = None
    path_prefix: str = "/"
    action: FaultAction = "status"
    status: int = 503
    retry_after_s: int | None = None
    latency_ms: int = 0
    times: int | None = None
    probability: float = 1.0

    def __post_init__(self) -> None:
        if self.method is not None and not isinstance(self.method, str):
            raise ValueError("method must be a string or null")
        if not isinstance(self.path_prefix, str) or not self.path_prefix.startswith("/"):
            raise ValueError("path_prefix must be a string starting with '/'")
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {sorted(ACTIONS)}")
        if not _is_int(self.status) or not 100 <= self.status <= 599:
            raise ValueError("status must be an integer HTTP status")
        if self.retry_after_s is not None and (not _is_int(self.retry_after_s) or self.retry_after_s < 0):
            raise ValueError("retry_after_s must be a non-negative integer or null")
        if not _is_int(self.latency_ms) or self.latency_ms < 0:
            raise ValueError("latency_ms must be a non-negative integer")
        if self.times is not None and (not _is_int(self.times) or self.times < 1):
            raise ValueError("times must be a positive integer or null")
        if not isinstance(self.probability, int | float) or not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")

    @classmethod
    def from_json(cls, data: object) -> Fault:
        """A fault from its JSON form (the dataclass fields); ValueError when malformed."""
        if not isinstance(data, dict):
            raise ValueError("a fault is a JSON object")
        unknown = set(data) - {field.name for field in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        """The JSON form of this fault."""
        return dataclasses.asdict(self)

    def matches(self, method: str, path: str) -> bool:
        """Whether a request with this method and path is subject to this fault."""
        return (self.method is None or self.method.upper() == method) and path.startswith(self.path_prefix)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclasses.dataclass
class _Rule:
    fault: Fault
    remaining: int | None


class FaultPlan:
    """The active faults, in the order they were added, with how often each may still fire.

    Not thread-safe: the emulator calls it under its lock.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._rules: list[_Rule] = []

    def add(self, fault: Fault) -> None:
        """Append a rule; earlier rules take precedence."""
        self._rules.append(_Rule(fault, fault.times))

    def clear(self) -> None:
        """Remove every rule."""
        self._rules.clear()

    def active(self) -> list[Fault]:
        """The rules that may still fire."""
        return [rule.fault for rule in self._rules]

    def pick(self, method: str, path: str) -> Fault | None:
        """The fault that fires for this request, if any, counting it against its ``times``."""
        for index, rule in enumerate(self._rules):
            if not rule.fault.matches(method, path):
                continue
            if rule.fault.probability < 1.0 and self._rng.random() >= rule.fault.probability:
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining == 0:
                    del self._rules[index]
            return rule.fault
        return None
