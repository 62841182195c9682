"""`modelpack serve REF@DIGEST` restarted while its registry is down: the model a pull left in the local
store is served (its blobs verified as they are unpacked), with one warning; what only the registry can say
(a tag, a digest the store lacks) still fails as unreachable (exit 5)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack
from registry_process import Registry
from test_serve_lifecycle import PLAIN, SAID, answer, onnx_model, start
from test_serve_lifecycle import processes as processes
from test_serve_lifecycle import scratch as scratch


@pytest.fixture
def pulled_then_down(fresh_registry: Callable[..., Registry], tmp_path: Path) -> tuple[str, str]:
    """A model pushed and pulled by digest, then its registry stopped: (REPO:TAG, REPO@DIGEST)."""
    registry = fresh_registry()
    tagged = registry.repo() + ":1.0"
    pushed = mp.push(onnx_model(tmp_path / "linear"), tagged, options=PLAIN)
    pinned = tagged.rsplit(":", 1)[0] + "@" + pushed.descriptor.digest
    mp.pull(pinned, options=PLAIN)
    registry.stop()
    return tagged, pinned


@pytest.mark.parametrize(("workers", "trusted"), [("1", False), ("2", False), ("1", True)])
def test_a_pulled_digest_is_served_from_the_store_while_its_registry_is_down(
        pulled_then_down: tuple[str, str], scratch: Path, processes: list[subprocess.Popen[str]],
        workers: str, trusted: bool) -> None:
    _, pinned = pulled_then_down
    # Trusted, the manifest is read first all the same: serve says the stand-in in its own words, not pull's.
    trust = ("--trust-unverified-pickle",) if trusted else ()
    proc, port = start(scratch, pinned, "--plain-http", "--workers", workers, *trust)
    processes.append(proc)
    reply = answer(port)
    assert reply.startswith(b"HTTP/1.1 200"), reply
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["outputs"][0]["data"] == [6.0, 6.0]
    warnings = [line for line in SAID[proc.pid] if line.startswith("warning: ")]
    assert len(warnings) == 1, SAID[proc.pid]
    assert warnings[0].endswith(f"; serving the local store's copy of {pinned} instead (every blob verified)\n"), \
        SAID[proc.pid]
    assert "cannot connect to" in warnings[0]


def test_what_only_the_registry_can_say_still_needs_it(pulled_then_down: tuple[str, str], tmp_path: Path) -> None:
    tagged, pinned = pulled_then_down
    absent = pinned.split("@")[0] + "@sha256:" + "0" * 64
    for ref in (tagged, absent):
        out = modelpack("serve", ref, "--plain-http", "--port", "0")
        assert out.code == 5 and out.err.startswith("error: cannot connect to "), out.err


def test_a_tag_names_the_digest_the_store_recorded(fresh_registry: Callable[..., Registry], tmp_path: Path) -> None:
    registry = fresh_registry()
    tagged = registry.repo() + ":1.0"
    digest = mp.push(onnx_model(tmp_path / "linear"), tagged, options=PLAIN).descriptor.digest
    mp.pull(tagged, options=PLAIN)
    registry.stop()
    out = modelpack("serve", tagged, "--plain-http", "--port", "0")
    assert out.code == 5 and out.err.startswith("error: cannot connect to "), out.err
    pinned = tagged.rsplit(":", 1)[0] + "@" + digest
    assert out.err.endswith(f"; the local store last recorded {tagged} as {digest}: name {pinned} to use that copy "
                            "while the registry is down\n"), out.err
