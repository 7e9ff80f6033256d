"""The emulator's door: any request gets an HTTP answer, and none is a 500 from a crash.

Requests go over a real socket to the emulator running in this process, so its whole request
handling is exercised: the request line and headers (``http.server``), the body's framing and
parsing (``transport``), the admin API, the token endpoint and the API views (``dispatch``). A
5xx is allowed only where the emulator models one of Credentials' (it logs nothing then); an
exception in any view is logged by the dispatcher, and one that escapes it leaves the connection
without an answer: both fail the door.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests import keys
from tests import rig as rigs
from tests.fuzz import doors, strategies
from worker.emulator import server, transport

PROGRAM = "5b2b4c8e-0d7d-4c55-9a53-0f1b5d1e3a11"
RUN = strategies.RUN
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
PATHS = [
    "/api/v2/credentials/",
    "/api/v2/credentials",
    "/api/v2/credentials/0a1b2c3d-0000-4000-8000-000000000000/",
    "/api/v2/credentials.json",
    "/api/v2/course_certificates/",
    f"/api/v2/course_certificates/{RUN}/",
    "/api/v2/course_certificates/course-v1:edX+DemoX.x+2026/",
    "/api/v2/",
    "/api/v2/.api",
    "/oauth2/access_token",
    *[
        f"/_emulator/{name}"
        for name in [
            "health",
            "programs",
            "course-runs",
            "accounts",
            "switches",
            "faults",
            "revoke-tokens",
            "requests",
            "credentials",
            "course-certificates",
            "stats",
            "reset",
            "nothing",
        ]
    ],
    "/",
    "*",
]
CONTENT_TYPES = [
    None,
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/json; charset=latin-1",
]
QUERY_NAMES = ["username", "status", "type", "program_uuid", "page", "page_size", "only_visible", "format"]

#: Text that can travel in a header, or in a request line: no CR or LF, and in a target nothing
#: ``str.split()`` takes for a space (a request line of more or fewer than three words is the
#: standard library's to refuse, which it does in HTTP/0.9 style, without a status line).
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)
target_text = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x85\xa0"), max_size=40
)


def _token(username: str, *, staff: bool = False, expired: bool = False, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": keys.ISSUER,
        "aud": keys.AUDIENCE,
        "iat": now,
        "exp": now - 10 if expired else now + 600,
        "preferred_username": username,
        "email": f"{username}@example.com",
        "administrator": staff,
        "version": "1.2.0",
        **overrides,
    }
    return jwt.encode(claims, keys.SECRET, algorithm="HS256")


AUTHORIZATIONS = [
    None,
    f"JWT {_token(rigs.SERVICE_USERNAME, staff=True)}",
    f"JWT {_token(rigs.SERVICE_USERNAME, staff=True)}",
    f"JWT {_token('ada')}",
    f"JWT {_token('ada', expired=True)}",
    f"JWT {_token('ada', preferred_username=None)}",
    f"JWT {_token('ada', administrator='yes', email=5)}",
    f"Bearer {_token('ada')}",
    "JWT",
    "JWT not.a.token",
    "JWT a b",
    "Basic Y3JlZHN5bmM6Y3JlZHN5bmMtc2VjcmV0",
]


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """A body: a credential or certificate as clients send them with arbitrary parts, any JSON, a
    token form, or any bytes."""
    values = strategies.values(dirty=True, max_leaves=6)
    shape = draw(st.integers(0, 5))
    if shape == 5:
        return draw(st.binary(max_size=200))
    if shape == 4:
        names = st.sampled_from(["grant_type", "client_id", "client_secret", "token_type"]) | header_text
        known = st.sampled_from(["client_credentials", "credsync", "credsync-secret", "jwt"])
        form = draw(st.dictionaries(names, known | header_text, max_size=5))
        return urllib.parse.urlencode(form).encode()
    if shape == 3:
        value = draw(values)
    else:
        attribute = st.fixed_dictionaries({}, optional={"name": values, "value": values})
        credential = st.fixed_dictionaries(
            {},
            optional={
                "program_uuid": st.just(PROGRAM) | st.uuids().map(str) | values,
                "course_run_key": st.sampled_from(strategies.PLAUSIBLE) | values,
                "mode": st.sampled_from(["verified", "honor", "professional", "audit"]) | values,
                "type": values,
            },
        )
        value = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "username": st.sampled_from(["ada", "bob", rigs.SERVICE_USERNAME]) | values,
                    "credential": credential | values,
                    "status": st.sampled_from(["awarded", "revoked"]) | values,
                    "attributes": st.lists(attribute | values, max_size=3) | values,
                    "date_override": values,
                    "course_id": st.sampled_from(strategies.PLAUSIBLE) | values,
                    "certificate_type": st.sampled_from(["verified", "honor"]) | values,
                    "certificate_available_date": values,
                    "is_active": values,
                    "uuid": st.just(PROGRAM) | values,
                    "active": values,
                    "course_runs": st.lists(st.sampled_from(strategies.PLAUSIBLE) | values, max_size=3)
                    | values,
                    "action": st.sampled_from(["status", "drop", "latency"]) | values,
                    "status_code": st.integers(100, 599) | values,
                    "latency_ms": st.integers(0, 50) | values,
                },
            )
        )
    text = draw(strategies.json_text(value))
    return text.encode("utf-8", "surrogatepass")


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, bytes]:
    """A method and the raw request for it (one request, ``Connection: close``)."""
    # Half the requests are writes to the API's two collections: their bodies are what is parsed most.
    if draw(st.booleans()):
        method, path = "POST", draw(st.sampled_from(["/api/v2/credentials/", "/api/v2/course_certificates/"]))
    else:
        method, path = draw(st.sampled_from(METHODS)), draw(st.sampled_from(PATHS))
    if draw(st.integers(0, 3)) == 3:
        path += draw(target_text)
    query = draw(st.lists(st.tuples(st.sampled_from(QUERY_NAMES) | target_text, target_text), max_size=3))
    target = path + ("?" + "&".join(f"{name}={value}" for name, value in query) if query else "")
    headers = [("Host", draw(st.sampled_from(["127.0.0.1", "credentials.example:8150", "", "a b"])))]
    # Half the requests carry the service user's token, so that most bodies reach a view.
    authorization = (
        AUTHORIZATIONS[1] if draw(st.booleans()) else draw(st.sampled_from(AUTHORIZATIONS) | header_text)
    )
    if authorization is not None:
        headers.append(("Authorization", authorization))
    json_type = draw(st.booleans())
    content_type = "application/json" if json_type else draw(st.sampled_from(CONTENT_TYPES) | header_text)
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    names = st.sampled_from(["Accept", "X-Forwarded-Host", "Cookie"]) | st.from_regex(r"\A[A-Za-z-]{1,20}\Z")
    headers += draw(st.lists(st.tuples(names, header_text), max_size=3))
    body = draw(bodies()) if method in ("POST", "PUT", "PATCH") or draw(st.booleans()) else b""
    # The body's framing: its exact length, or a length the server refuses without waiting for bytes
    # that never come (a promise of more bytes than sent would only time out, as any server would).
    framing = draw(st.integers(0, 9))
    if framing == 9:
        refused = ["-1", "x", "1e3", str(transport.MAX_BODY_BYTES + 1), "0x10"]
        headers.append(("Content-Length", draw(st.sampled_from(refused))))
    elif framing == 8:
        headers.append(("Transfer-Encoding", "chunked"))
    elif framing == 7 and body:
        headers.append(("Content-Length", str(draw(st.integers(0, len(body) - 1)))))
    elif body:
        headers.append(("Content-Length", str(len(body))))
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return method, head.encode("latin-1") + b"Connection: close\r\n\r\n" + body


@pytest.fixture
def emulator() -> Iterator[server.Emulator]:
    with rigs.emulator(throttle_rate_per_min=1_000_000_000) as running:
        yield running


def _prepare(emulator: server.Emulator) -> None:
    """A fresh default install with a run and a program, whatever the previous input changed."""
    emulator.reset()
    emulator.add_course_runs([RUN])
    emulator.configure_program(PROGRAM, course_runs=[RUN])


def _answer(url: str, method: str, raw: bytes) -> int:
    """Send ``raw`` and read the status of the answer; an exception when none comes."""
    parts = urllib.parse.urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        # A server may answer (413, 411, 400) and close before it read the whole body: read the answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(raw)
        response = http.client.HTTPResponse(connection, method=method)
        response.begin()
        response.read()
        return response.status


@doors.EXAMPLES
@given(request=requests())
def test_every_request_is_answered_and_never_with_a_500_from_a_crash(
    emulator: server.Emulator, caplog: pytest.LogCaptureFixture, request: tuple[str, bytes]
) -> None:
    method, raw = request
    with doors.attempt("emulator"):
        # Given a default install with a run and a program
        _prepare(emulator)
        caplog.clear()
        caplog.set_level(logging.DEBUG, logger="worker.emulator")
        # When the request is sent
        status = _answer(emulator.url, method, raw)
        # Then it is answered, and any 5xx is one the emulator models, not an exception it met
        crashes = [r for r in caplog.records if r.exc_info is not None]
        assert not crashes, crashes[0].getMessage()
        assert 200 <= status < 600, status
        doors.answered("emulator", f"HTTP {status}")


@doors.EXAMPLES
@given(path=st.sampled_from(PATHS) | target_text, raw=st.binary(max_size=300) | bodies())
def test_any_body_parses_to_data_or_a_parse_error(path: str, raw: bytes) -> None:
    with doors.attempt("emulator body parsing"):
        # Given any bytes as a body, When the emulator parses them for a path
        try:
            data, error = transport.parse_body(path, raw)
        except RecursionError:
            # JSON nested too deep: as in DRF's JSONParser, which lets it through to Django's 500
            assert path != transport.TOKEN_PATH
            assert raw.lstrip()[:1] in (b"[", b"{")
            doors.answered("emulator body parsing", "nested too deep")
            return
        # Then it is data (JSON or the token form), or nothing with a DRF-style parse error
        assert error is None or (data is None and error.startswith("JSON parse error - "))
        json.dumps(data)
        doors.answered("emulator body parsing", "parsed" if error is None else "parse error")
