"""A TCP relay between the test's network namespaces and the servers on 127.0.0.1, run as a process.

``python -m tests.system.relay ROUTE...``, each ROUTE a JSON object: ``listen`` and ``target``
(``[host, port]``), optionally ``delay_ms`` and ``loss`` (a slow, lossy link). Prints ``ready``
once every route listens, relays until SIGTERM, then prints what it forwarded. SIGUSR2 switches
the impairment off (plain forwarding), SIGUSR1 on again, so one test compares both on the same
processes and connections.

The relay adds nothing by default: the partitions are real (``ip link set ... down`` on the link a
host reaches the relay through: its packets are dropped, its TCP retransmits, as across a real
network). It exists because the servers listen on 127.0.0.1 only, which another namespace cannot
reach, and it is where a slow, lossy link is made, since this kernel has no ``netem`` qdisc:

* ``delay_ms``: every chunk it forwards, in either direction, leaves that much after it arrived
  (order kept), so a round trip costs twice that.
* ``loss``: the probability that a chunk is "lost": it and everything behind it in that direction
  wait ``RTO_MS`` more, which is what a lost segment costs TCP (Linux's minimum retransmission
  timeout, 200 ms) before the retransmission gets through. The bytes themselves always arrive, as
  TCP delivers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sys
from typing import Any

#: Linux's minimum TCP retransmission timeout: what one lost segment delays a stream by, at least.
RTO_MS = 200
CHUNK = 65536


class State:
    """Whether the impairment is on, and what was forwarded (chunks, and chunks "lost")."""

    impaired = True
    chunks = 0
    lost = 0


class Link:
    """The impairment of one route: a fixed one-way delay, and a chance per chunk of a lost segment."""

    def __init__(self, delay_ms: float, loss: float, rng: random.Random) -> None:
        self.delay_s = delay_ms / 1000
        self.loss = loss
        self.rng = rng

    @property
    def clean(self) -> bool:
        return self.delay_s == 0 and self.loss == 0

    def hold_s(self) -> float:
        State.chunks += 1
        if not State.impaired:
            return 0.0
        lost = self.loss > 0 and self.rng.random() < self.loss
        State.lost += lost
        return self.delay_s + (RTO_MS / 1000 if lost else 0.0)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link) -> None:
    """Copy one direction until EOF, each chunk held as ``link`` says (in order)."""
    loop = asyncio.get_running_loop()
    if link.clean:
        while data := await reader.read(CHUNK):
            State.chunks += 1
            writer.write(data)
            await writer.drain()
    else:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def feed() -> None:
            due = 0.0
            try:
                while data := await reader.read(CHUNK):
                    due = max(due, loop.time() + link.hold_s())
                    queue.put_nowait((due, data))
            finally:
                queue.put_nowait((0.0, b""))

        feeder = asyncio.ensure_future(feed())
        try:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                await asyncio.sleep(max(0.0, due - loop.time()))
                writer.write(data)
                await writer.drain()
            await feeder  # its error (a reset), if it ended with one
        finally:
            feeder.cancel()
    if writer.can_write_eof():
        writer.write_eof()


async def _serve(route: dict[str, Any], rng: random.Random) -> asyncio.Server:
    target_host, target_port = route["target"]
    link = Link(float(route.get("delay_ms", 0)), float(route.get("loss", 0)), rng)

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_writer.close()
            return
        pipes = [
            asyncio.ensure_future(_pipe(client_reader, server_writer, link)),
            asyncio.ensure_future(_pipe(server_reader, client_writer, link)),
        ]
        try:
            # Both directions until each ends (a clean EOF ends its own direction only); one of
            # them failing (a reset) ends both.
            await asyncio.wait(pipes, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for pipe in pipes:
                pipe.cancel()
            for writer in (client_writer, server_writer):
                with contextlib.suppress(Exception):
                    writer.close()

    listen_host, listen_port = route["listen"]
    return await asyncio.start_server(handle, listen_host, listen_port, reuse_address=True)


async def main(routes: list[dict[str, Any]]) -> None:
    rng = random.Random(20261206)
    servers = [await _serve(route, rng) for route in routes]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, _switch, True)
    loop.add_signal_handler(signal.SIGUSR2, _switch, False)
    print("ready", flush=True)
    await stop.wait()
    for server in servers:
        server.close()
    print(f"forwarded {State.chunks} chunks, {State.lost} of them lost once", flush=True)


def _switch(on: bool) -> None:
    State.impaired = on
    print(f"impairment {'on' if on else 'off'} after {State.chunks} chunks ({State.lost} lost)", flush=True)


if __name__ == "__main__":
    asyncio.run(main([json.loads(arg) for arg in sys.argv[1:]]))
