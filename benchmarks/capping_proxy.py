#!/usr/bin/env python3
"""A TCP proxy that caps every connection at RATE bytes per second in each direction, as a link whose
connections are shaped one by one (object storage, a registry behind a per-connection limit) does, and/or
delays every byte, as a link with a round-trip time does.

    python benchmarks/capping_proxy.py UPSTREAM_HOST:PORT [--rate 24e6] [--delay-ms 0] [--port 0] [--idle 600]

`--delay-ms D` adds D ms to every round trip: each direction is a delay line that forwards each piece it
reads D/2 ms after reading it, in order, holding at most HOLD bytes per direction and connection (then it
stops reading, and TCP's flow control slows the sender, as a real link's window would). A new connection
costs one round trip too: the client's first bytes go on no earlier than 1.5 D after it connected, when
they would arrive after a real handshake. `--rate 0` takes
the cap away (a pure delay line). Prints the port it listens on (127.0.0.1), then serves until it has had
no connection for `--idle` seconds or its parent process has gone, and exits by itself: a benchmark that
dies leaves nothing running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

PIECE = 64 * 1024  # bytes per paced write: at 24 MB/s one every ~2.7 ms
# Bytes in one direction's delay line: 4 MiB per 5 ms one way lets ~800 MB/s through one connection, past
# what Linux's default TCP window (tcp_rmem's 6 MiB) allows at 10 ms, so the line is not the limit.
HOLD = 4 * 1024 * 1024


class DelayLine:
    """Pieces leave `delay` seconds after they came in (and not before `not_before`), in order; at most
    HOLD bytes are held."""

    def __init__(self, delay: float, not_before: float = 0.0) -> None:
        self.delay, self.not_before = delay, not_before
        self.pieces: deque[tuple[float, bytes]] = deque()
        self.held = 0
        self.changed = asyncio.Condition()

    async def put(self, data: bytes) -> None:
        """Add `data` (b"" for the end of the stream), waiting while the line is full."""
        async with self.changed:
            await self.changed.wait_for(lambda: self.held < HOLD)
            self.pieces.append((max(time.monotonic() + self.delay, self.not_before), data))
            self.held += len(data)
            self.changed.notify_all()

    async def get(self) -> bytes:
        """The oldest piece, once its time has come."""
        async with self.changed:
            await self.changed.wait_for(lambda: bool(self.pieces))
            due, data = self.pieces.popleft()
            self.held -= len(data)
            self.changed.notify_all()
        if (wait := due - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        return data


async def fill(reader: asyncio.StreamReader, line: DelayLine) -> None:
    """Read until EOF (or a broken connection) into `line`, then mark its end."""
    try:
        while data := await reader.read(PIECE):
            await line.put(data)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    await line.put(b"")


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rate: float, delay: float,
               not_before: float = 0.0) -> None:
    """Copy until EOF, each piece `delay` seconds after it was read (and not before `not_before`) and never
    faster than `rate` (0: no cap) on average; an idle pause earns no credit (no burst)."""
    line = DelayLine(delay, not_before)
    reading = asyncio.create_task(fill(reader, line))
    due = time.monotonic()
    try:
        while data := await line.get():
            writer.write(data)
            await writer.drain()
            if rate:
                due = max(due, time.monotonic()) + len(data) / rate
                if (pause := due - time.monotonic()) > 0:
                    await asyncio.sleep(pause)
    except ConnectionError:
        pass
    finally:
        reading.cancel()
        with contextlib.suppress(Exception):  # the other side has gone: nothing to do
            writer.close()


class Proxy:
    def __init__(self, upstream: str, rate: float, delay: float) -> None:
        host, _, port = upstream.rpartition(":")
        self.host, self.port, self.rate, self.delay = host or "127.0.0.1", int(port), rate, delay
        self.active = 0
        self.last = time.monotonic()

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.active += 1
        handshake = time.monotonic() + 3 * self.delay  # SYN, SYN-ACK, then the client's first bytes
        try:
            server_reader, server_writer = await asyncio.open_connection(self.host, self.port)
            await asyncio.gather(pump(client_reader, server_writer, self.rate, self.delay, handshake),
                                 pump(server_reader, client_writer, self.rate, self.delay))
        except OSError:
            client_writer.close()
        finally:
            self.active -= 1
            self.last = time.monotonic()


async def serve(upstream: str, rate: float, delay: float, port: int, idle: float) -> None:
    proxy = Proxy(upstream, rate, delay)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", port)
    print(server.sockets[0].getsockname()[1], flush=True)
    parent = os.getppid()
    async with server:
        while True:
            await asyncio.sleep(0.5)
            if os.getppid() != parent:
                return  # the benchmark that started us has died
            if not proxy.active and time.monotonic() - proxy.last > idle:
                return


@contextlib.contextmanager
def running(upstream: str, rate: float, delay_ms: float = 0, idle: float = 120) -> Iterator[str]:
    """This proxy as a child process in front of `upstream` while a `with` block runs (none when it would
    neither cap nor delay).

    Args:
        upstream: HOST:PORT to forward to.
        rate: bytes per second per connection and direction (0: no cap).
        delay_ms: milliseconds added to every round trip (half each way).
        idle: seconds without a connection after which the proxy exits by itself.

    Yields:
        The proxy's address, 127.0.0.1:PORT (`upstream` itself when there is no proxy).
    """
    if not rate and not delay_ms:
        yield upstream
        return
    proxy = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), upstream, "--rate", str(rate),
                              "--delay-ms", str(delay_ms), "--idle", str(idle)], stdout=subprocess.PIPE, text=True)
    try:
        assert proxy.stdout is not None
        yield f"127.0.0.1:{proxy.stdout.readline().strip()}"
    finally:
        proxy.terminate()
        proxy.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("upstream", help="HOST:PORT to forward to")
    parser.add_argument("--rate", type=float, default=24e6,
                        help="bytes per second per connection and direction (0: no cap)")
    parser.add_argument("--delay-ms", type=float, default=0, help="milliseconds added to every round trip")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--idle", type=float, default=600, help="exit after this many seconds without a connection")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.upstream, args.rate, args.delay_ms / 2000, args.port, args.idle))
    return 0


if __name__ == "__main__":
    sys.exit(main())
