"""What the Credentials client's unit tests share: the endpoints, fake clocks, a hold book, call readers."""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import parse_qs

import responses

CREDENTIALS_ROOT = "https://credentials.example.com/"
CREDENTIALS_API = "https://credentials.example.com/api/v2/"
LMS_ROOT = "https://lms.example.com"
TOKEN_URL = "https://lms.example.com/oauth2/access_token"
CLIENT_ID = "credsync-worker"
SECRET = "very-secret-client-value-42"
MITX_ROOT = "https://mitx-credentials.example.com/some/prefix/"
MITX_API = "https://mitx-credentials.example.com/api/v2/"
AWARD = {"username": "ada", "credential": {"program_uuid": "a1b2"}, "status": "awarded"}


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class WallClock:
    """A wall clock that stands still until told to move (``advance(seconds=...)``)."""

    def __init__(self, start: datetime.datetime) -> None:
        self.at = start

    def __call__(self) -> datetime.datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += datetime.timedelta(**delta)


class Book:
    """An in-memory hold book on the time of ``now`` (the production one is ``credsync.cooldown``)."""

    def __init__(self, now: WallClock) -> None:
        self.now = now
        self.entries: dict[str, tuple[float, str, str]] = {}

    def until(self, destination: str) -> float | None:
        found = self.entries.get(destination)
        return found[0] if found and found[0] > self.now().timestamp() else None

    def reason(self, destination: str) -> str | None:
        return self.entries[destination][1] if self.until(destination) is not None else None

    def record(self, destination: str, until: float, reason: str, kind: str = "retry_after") -> bool:
        started = self.until(destination) is None
        self.entries[destination] = (until, reason, kind)
        return started


def given_tokens(http: responses.RequestsMock, *tokens: str, expires_in: int = 3600) -> None:
    """The token endpoint hands out ``tokens`` in order (the last one repeats)."""
    for token in tokens:
        http.post(TOKEN_URL, json={"access_token": token, "token_type": "JWT", "expires_in": expires_in})


def calls_to(http: responses.RequestsMock, url: str) -> list[Any]:
    return [call for call in http.calls if str(call.request.url).split("?")[0] == url]


def timeouts_of(http: responses.RequestsMock) -> list[Any]:
    """The ``timeout`` each recorded request was sent with (``responses`` keeps the send kwargs)."""
    return [getattr(call.request, "req_kwargs", {}).get("timeout") for call in http.calls]


def form_of(call: Any) -> dict[str, list[str]]:
    return parse_qs(str(call.request.body))


def authorization_of(call: Any) -> str:
    return str(call.request.headers["Authorization"])
