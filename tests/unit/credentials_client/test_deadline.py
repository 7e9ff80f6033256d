"""A request the client gave up on is discarded by the kernel, not delivered after a network heals.

The behaviour itself (a partition, a read timeout, the heal) is proven in the partition tier
(tests/faults/test_partitions.py); here, on a real loopback connection, that every connection the
client opens carries the option that bounds it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from worker.clients import transport

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "TCP_USER_TIMEOUT"), reason="TCP_USER_TIMEOUT is a Linux socket option"
)


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v2/credentials/"
    server.shutdown()
    server.server_close()


def _pooled_socket(sender: transport.Transport, url: str) -> socket.socket:
    """The socket of the one connection the thread's requests left in their pools for reuse."""
    pools = sender._session().get_adapter(url).poolmanager.pools
    kept = [
        connection.sock
        for key in pools.keys()  # noqa: SIM118 (urllib3's pool container cannot be iterated)
        for connection in list(pools[key].pool.queue)  # type: ignore[union-attr]
        if connection is not None and connection.sock is not None
    ]
    assert len(kept) == 1, f"expected one connection kept for reuse, found {len(kept)}"
    return kept[0]  # type: ignore[no-any-return]


def test_a_connection_drops_data_left_unacknowledged_longer_than_the_read_timeout(url: str) -> None:
    # Given a client with a 2.5 s read timeout
    sender = transport.Transport(timeout=(1.0, 2.5), user_agent="credsync-test/1", pool_maxsize=1)
    try:
        # When it sends a request over a real connection
        response = sender.send("GET", url)
        sock = _pooled_socket(sender, url)
        # Then the connection gives unacknowledged data 2,500 ms, and still sends without Nagle's delay
        assert response.status_code == 200
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 2500
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        sender.close()


def test_the_bound_follows_the_configured_read_timeout(url: str) -> None:
    # Given a client with a 30 s read timeout
    sender = transport.Transport(timeout=(5.0, 30.0), user_agent="credsync-test/1", pool_maxsize=1)
    try:
        # When it sends a request, then its connection carries 30,000 ms
        sender.send("GET", url)
        assert _pooled_socket(sender, url).getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 30000
    finally:
        sender.close()
