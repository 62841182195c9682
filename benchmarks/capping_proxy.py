#!/usr/bin/env python3
"""A TCP proxy that caps every connection at RATE bytes per second in each direction, as a link whose
connections are shaped one by one (object storage, a registry behind a per-connection limit) does.

    python benchmarks/capping_proxy.py UPSTREAM_HOST:PORT [--rate 24e6] [--port 0] [--idle 600]

Prints the port it listens on (127.0.0.1), then serves until it has had no connection for `--idle`
seconds or its parent process has gone, and exits by itself: a benchmark that dies leaves nothing running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time

PIECE = 64 * 1024  # bytes per paced write: at 24 MB/s one every ~2.7 ms


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rate: float) -> None:
    """Copy until EOF, never faster than `rate` on average; an idle pause earns no credit (no burst)."""
    due = time.monotonic()
    try:
        while data := await reader.read(PIECE):
            writer.write(data)
            await writer.drain()
            due = max(due, time.monotonic()) + len(data) / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):  # the other side has gone: nothing to do
            writer.close()


class Proxy:
    def __init__(self, upstream: str, rate: float) -> None:
        host, _, port = upstream.rpartition(":")
        self.host, self.port, self.rate = host or "127.0.0.1", int(port), rate
        self.active = 0
        self.last = time.monotonic()

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.active += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(self.host, self.port)
            await asyncio.gather(pump(client_reader, server_writer, self.rate),
                                 pump(server_reader, client_writer, self.rate))
        except OSError:
            client_writer.close()
        finally:
            self.active -= 1
            self.last = time.monotonic()


async def serve(upstream: str, rate: float, port: int, idle: float) -> None:
    proxy = Proxy(upstream, rate)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("upstream", help="HOST:PORT to forward to")
    parser.add_argument("--rate", type=float, default=24e6, help="bytes per second per connection and direction")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--idle", type=float, default=600, help="exit after this many seconds without a connection")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.upstream, args.rate, args.port, args.idle))
    return 0


if __name__ == "__main__":
    sys.exit(main())
