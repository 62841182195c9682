#!/usr/bin/env python3
"""The least a Python client can do to pull a model: what the hardware leaves for any Python tool.

Not a tool: no authentication, no TLS, no redirects, no retries, no resume, no limits, no progress,
no signature lookup, no CLI, plain HTTP on a trusted loopback registry only. It fetches the manifest,
then each layer over a connection of its own (three at once, as oras does), `recv_into` one reused
1 MiB buffer, writes it to the file and hashes it inline, and checks every digest. `floor.py` runs it
beside modelpack and oras: the gap between it and oras is what start-up-free Python can win on these
cores, the gap between it and modelpack what modelpack's start-up and bookkeeping cost.

    python benchmarks/bare_pull.py HOST:PORT REPOSITORY TAG OUTPUT_DIR
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CHUNK = 1024 * 1024
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _get(host: str, path: str, accept: str = "") -> tuple[socket.socket, int, bytes]:
    """Send one GET; return the connection, the body's length and the body bytes already received."""
    name, port = host.rsplit(":", 1)
    conn = socket.create_connection((name, int(port)), timeout=60)
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{f'Accept: {accept}' + chr(13) + chr(10) if accept else ''}"
                 "Connection: close\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        more = conn.recv(65536)
        if not more:
            raise SystemExit(f"{path}: connection closed before the headers")
        head += more
    head, rest = head.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    if lines[0].split()[1] != "200":
        raise SystemExit(f"{path}: {lines[0]}")
    length = next(int(v) for k, v in (line.split(":", 1) for line in lines[1:]) if k.lower() == "content-length")
    return conn, length, rest


def fetch_layer(host: str, repo: str, layer: dict, out: Path) -> None:
    conn, length, rest = _get(host, f"/v2/{repo}/blobs/{layer['digest']}")
    digest = hashlib.sha256(rest)
    buffer = memoryview(bytearray(CHUNK))
    fd = os.open(out / layer["annotations"]["org.opencontainers.image.title"], os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        os.write(fd, rest)
        got = len(rest)
        while got < length:
            n = conn.recv_into(buffer, min(CHUNK, length - got))
            if not n:
                raise SystemExit(f"{layer['digest']}: cut at {got} bytes")
            os.write(fd, buffer[:n])
            digest.update(buffer[:n])
            got += n
    finally:
        os.close(fd)
        conn.close()
    if f"sha256:{digest.hexdigest()}" != layer["digest"]:
        raise SystemExit(f"{layer['digest']}: digest mismatch")


def main() -> None:
    host, repo, tag, out = sys.argv[1:5]
    conn, length, body = _get(host, f"/v2/{repo}/manifests/{tag}", MANIFEST)
    while len(body) < length:
        body += conn.recv(65536)
    conn.close()
    layers = json.loads(body)["layers"]
    Path(out).mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda layer: fetch_layer(host, repo, layer, Path(out)), layers))


if __name__ == "__main__":
    main()
