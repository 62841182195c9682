"""Which Distribution registry `make bench` measures the clients against, and how it was built.

The registry shares the machine's two cores with the client it serves, so its own CPU per request and
per GiB sets a floor under every row. Debian 12's `docker-registry` (2.8.2) is built with Go 1.19, whose
SHA-256 has no SHA-NI code: it spends ~3.2 s of CPU receiving 1 GiB where Debian stable's build of 2.8.3
(Go 1.24) spends ~1.4 s (measured here: one `curl -T` PUT, registry CPU from /proc, 3 trials each).
`make bench` therefore fetches Debian stable's package into .tools/stable (`scripts/fetch-oci-tools`,
verified by apt against Debian's archive key) and uses it when present; `--registry-bin` or
$MODELPACK_REGISTRY_BIN choose another, e.g. /usr/bin/docker-registry for Debian 12's.
"""

from __future__ import annotations

import mmap
import os
import shutil
import subprocess
from pathlib import Path

BIN_ENV = "MODELPACK_REGISTRY_BIN"  # read by tests/registry_process.py's start_registry
_BUILDINFO_MAGIC = b"\xff Go buildinf:"


def choose(explicit: str | None, tools_dir: Path) -> str:
    """The registry binary to run: `explicit`, else $MODELPACK_REGISTRY_BIN, else Debian stable's in
    `tools_dir`/stable/bin, else `docker-registry` on PATH. Exported in $MODELPACK_REGISTRY_BIN so every
    registry the bench starts is that one.

    Raises:
        SystemExit: no such registry binary.
    """
    candidates = [explicit, os.environ.get(BIN_ENV), str(tools_dir / "stable" / "bin" / "docker-registry"),
                  "docker-registry"]
    for candidate in filter(None, candidates):
        found = shutil.which(candidate)
        if found:
            os.environ[BIN_ENV] = found
            return found
        if candidate in (explicit, os.environ.get(BIN_ENV)):
            raise SystemExit(f"registry binary {candidate!r} not found")
    raise SystemExit("no Distribution registry: run `make bench` (it fetches one) or apt-get install docker-registry")


def describe(binary: str) -> str:
    """`docker-registry --version`'s version and the Go release that built it, e.g. "2.8.3+ds1, go1.24.4"."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False).stdout.split()
    version = out[-1] if out else "unknown version"
    return f"{version}, {go_version(Path(binary)) or 'Go release unknown'}"


def go_version(binary: Path) -> str | None:
    """The Go release recorded in a Go binary's build information (Go ≥ 1.18 layout: inline strings)."""
    try:
        with binary.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            # Mapped, not read: the bench's own peak RSS would otherwise show in its children's (a child
            # forked from it starts with the parent's resident pages).
            return _version_in(mapped)
    except (OSError, ValueError):
        return None


def _version_in(data: mmap.mmap) -> str | None:
    at = data.find(_BUILDINFO_MAGIC)
    if at < 0 or len(data) < at + 33 or not data[at + 15] & 2:
        return None
    length, shift, pos = 0, 0, at + 32
    while pos < len(data) and shift < 64:  # a uvarint: the version string's length
        byte = data[pos]
        length |= (byte & 0x7F) << shift
        pos += 1
        shift += 7
        if not byte & 0x80:
            break
    text = data[pos:pos + min(length, 64)].decode("ascii", "replace")
    return text if text.startswith("go") else None
