"""The HTTP plumbing of the emulator: connections, request parsing, JSON and HTML answers."""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import logging
import socket
import socketserver
import threading
import urllib.parse
from typing import Any, Protocol

logger = logging.getLogger(__name__)

TOKEN_PATH = "/oauth2/access_token"  # noqa: S105 (a path, not a secret)
ADMIN_PREFIX = "/_emulator/"
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MAX_BODY_BYTES = 10 * 1024 * 1024
# A thread per connection: idle keep-alive connections give theirs back after this long.
IDLE_CONNECTION_TIMEOUT_S = 300
# socketserver's default backlog of 5 drops connections under benchmark bursts.
LISTEN_BACKLOG = 128


class FormData(dict[str, str]):
    """A form-encoded body: each field's last value (QueryDict's ``[]``). DRF reads it as HTML input."""


@dataclasses.dataclass(frozen=True)
class Request:
    """One request as the emulator sees it."""

    method: str
    path: str  # as sent (percent-encoded); the API resolves the decoded form
    query: dict[str, list[str]]
    data: Any  # parsed JSON, or FormData for a form body; None when empty or malformed
    data_error: str | None
    base_url: str
    authorization: str | None = dataclasses.field(default=None, repr=False)  # never recorded
    query_string: str = ""
    content_type: str = ""  # the Content-Type header, "" when absent
    has_body: bool = False
    #: The JSON body nests deeper than Python's json can read: DRF's JSONParser catches ValueError
    #: only, so the RecursionError reaches Django, whose answer is its HTML 500 (data_error holds a
    #: parse error too, for the emulator's own admin API).
    data_too_deep: bool = False

    @property
    def params(self) -> dict[str, str]:
        """Query parameters, the last value of each (as Django's QueryDict.get)."""
        return {name: values[-1] for name, values in self.query.items()}

    def recorded_body(self) -> Any:
        """The body as recorded: never the client secret."""
        if self.path == TOKEN_PATH and isinstance(self.data, dict):
            return {name: self.data[name] for name in ("grant_type", "client_id") if name in self.data}
        return self.data


@dataclasses.dataclass(frozen=True)
class Response:
    """One answer: a JSON ``body``, or an HTML page when ``html`` is set.

    Every 5xx goes out as an HTML page whatever the body, as Django's error pages do.
    """

    status: int
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    html: str | None = None


def detail(status: int, detail: str, *headers: tuple[str, str]) -> Response:
    """A DRF-style ``{"detail": ...}`` answer."""
    return Response(status, {"detail": detail}, headers)


def _page(title: str) -> str:
    # The shape of credentials/templates/404.html and 500.html (which extend base.html).
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
        f"<title>{title} | Credentials</title></head>\n"
        f"<body><div><h1>{title}</h1></div></body>\n</html>\n"
    )


NOT_FOUND_PAGE = _page("Page Not Found")
SERVER_ERROR_PAGE = _page("Server Error")


def not_found_page() -> Response:
    """Django's 404 for a path no URL pattern matches."""
    return Response(404, html=NOT_FOUND_PAGE)


def server_error() -> Response:
    """Django's 500 (``handler500``) for an exception the view did not handle."""
    return Response(500, html=SERVER_ERROR_PAGE)


def redirect(location: str) -> Response:
    """A permanent redirect with an empty body (Django's HttpResponsePermanentRedirect)."""
    return Response(301, headers=(("Location", location),), html="")


def _strict_constant(name: str) -> Any:
    # DRF's JSONParser refuses NaN and Infinity (rest_framework/utils/json.py strict_constant).
    raise ValueError(f"Out of range float values are not permitted in JSON: {name!r}")


def parse_body(path: str, raw: bytes, content_type: str = "") -> tuple[Any, str | None]:
    """The body as data (form fields for the token endpoint or a form body, else JSON) and a parse error.

    JSON nested deeper than Python's json reads raises ``RecursionError``, as in DRF's JSONParser.
    """
    if not raw:
        return None, None
    media_type, _, params = content_type.partition(";")
    if path != TOKEN_PATH and media_type.strip().lower() == FORM_MEDIA_TYPE:
        return _form(raw, params), None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, f"JSON parse error - {error}"
    if path == TOKEN_PATH:
        return {name: values[-1] for name, values in urllib.parse.parse_qs(text).items()}, None
    try:
        return json.loads(text, parse_constant=_strict_constant), None
    except ValueError as error:
        return None, f"JSON parse error - {error}"


def _form(raw: bytes, params: str) -> FormData:
    """A form body as Django's QueryDict reads it: blank values kept, in the ``charset`` parameter's
    text encoding when Python has it (else UTF-8); bytes that do not decode are read as Latin-1."""
    charset = "utf-8"
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            with contextlib.suppress(LookupError, ValueError):
                "a".encode(value.strip().strip('"'))  # LookupError unless a text encoding
                charset = value.strip().strip('"')
    try:
        text = raw.decode(charset)
    except UnicodeDecodeError:
        text = raw.decode("iso-8859-1")
    return FormData(urllib.parse.parse_qsl(text, keep_blank_values=True, encoding=charset))


class Service(Protocol):
    """What a connection serves: the emulator's request handling (``dispatch.Dispatcher``)."""

    def now(self) -> float:
        """The service's clock (unix seconds): when a request arrived."""
        ...

    def handle(self, request: Request, received_at: float) -> Response | None:
        """The answer to ``request``; None to close the connection without one (a drop or a hang)."""
        ...


class Handler(http.server.BaseHTTPRequestHandler):
    """One connection: reads each request and sends the service's answer (or closes unanswered)."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY the client's delayed ACK holds
    # the second for ~40 ms on keep-alive connections (FIELD-NOTES "Measuring on 2 cores").
    disable_nagle_algorithm = True
    # A buffered writer: the whole answer leaves in one send when the handler flushes it.
    wbufsize = -1
    server_version = "credsync-emulator/1.0"
    sys_version = ""
    timeout = IDLE_CONNECTION_TIMEOUT_S
    server: Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s", self.address_string(), format % args)

    def _serve(self) -> None:
        service = self.server.service
        received_at = service.now()
        raw = self._read_body()
        if raw is None:
            return
        split = urllib.parse.urlsplit(self.path)
        host = self.headers.get("Host")  # next/previous links and certificate URLs use it, as DRF does
        too_deep = False
        try:
            data, data_error = parse_body(split.path, raw, self.headers.get("Content-Type") or "")
        except RecursionError as error:
            data, data_error, too_deep = None, f"JSON parse error - {error}", True
        request = Request(
            method=self.command,
            path=split.path,
            query=urllib.parse.parse_qs(split.query, keep_blank_values=True),
            data=data,
            data_error=data_error,
            data_too_deep=too_deep,
            base_url=f"http://{host}" if host else self.server.url,
            authorization=self.headers.get("Authorization"),
            query_string=split.query,
            content_type=self.headers.get("Content-Type") or "",
            has_body=bool(raw),
        )
        response = service.handle(request, received_at)
        if response is None:
            self.close_connection = True
            return
        self._send(response)

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering a body this server will not read."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._send(detail(411, "A Content-Length is required."), close=True)
            return None
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            self._send(detail(400, "Malformed Content-Length."), close=True)
            return None
        if not 0 <= length <= MAX_BODY_BYTES:
            self._send(detail(413, "The request body is too large."), close=True)
            return None
        return self.rfile.read(length)

    def _send(self, response: Response, *, close: bool = False) -> None:
        html = response.html
        if html is None and response.status >= 500:
            html = SERVER_ERROR_PAGE
        if html is not None:
            payload, content_type = html.encode(), "text/html; charset=utf-8"
        else:
            payload = json.dumps(response.body, separators=(",", ":")).encode()
            content_type = "application/json"
        self.send_response(response.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers:
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")  # also sets self.close_connection
        self.end_headers()
        self.wfile.write(payload)


class Server(http.server.ThreadingHTTPServer):
    """The listening socket; knows its open connections so that stopping can cut them."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], service: Service, family: socket.AddressFamily) -> None:
        self.address_family = family
        self.service = service
        self._connections: set[socket.socket] = set()
        self._connections_changed = threading.Condition()
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on a broken resolver.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    @property
    def url(self) -> str:
        """The root URL of the bound socket (``http://host:port``, an IPv6 host in brackets)."""
        host, port = self.server_address[:2]
        host = str(host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def track(self, connection: socket.socket) -> None:
        with self._connections_changed:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_changed:
            self._connections.discard(connection)
            self._connections_changed.notify_all()

    def close_connections(self, timeout_s: float) -> None:
        """Shut every open connection down and wait (up to ``timeout_s``) for their threads to end."""
        with self._connections_changed:
            for connection in self._connections:
                with contextlib.suppress(OSError):  # already closed by the client
                    connection.shutdown(socket.SHUT_RDWR)
            self._connections_changed.wait_for(lambda: not self._connections, timeout_s)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-answer is normal here (drop/hang faults, timeouts).
        logger.debug("connection from %s ended with an error", client_address, exc_info=True)
