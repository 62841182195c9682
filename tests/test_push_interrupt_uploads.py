"""Ctrl-C (or SIGTERM) while a push uploads a large blob: the upload session it opened is cancelled
(DELETE of its Location, as the distribution spec allows) before the command exits 130 (143), so the
registry keeps no half-received upload until its own expiry (Distribution's: a week). A FaultProxy holds
the upload's body after its first MiBs; the session is then asked of the real registry directly, which
answers 404 BLOB_UPLOAD_UNKNOWN for a cancelled one.

The proxy holds the upload's request unforwarded: Distribution (2.8) cancels a session only through the
Location of its last answer, whose state names the bytes received so far; once part of a body has
arrived, that Location is stale, and the DELETE is answered 404 BLOB_UPLOAD_INVALID (see README)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fault_proxy import Fault, FaultProxy
from helpers import assert_stopped_by, htpasswd_file, modelpack
from hostile_registry import HostileRegistry
from registry_process import Registry

MIB = 1 << 20


def _session(line: str) -> str:
    """The upload session's URL path of a held request line ("PUT /v2/...?_state=...&digest=..."), without
    the digest that closes it."""
    path = line.split(" ", 1)[1]
    base, _, query = path.partition("?")
    kept = [part for part in query.split("&") if part and not part.startswith("digest=")]
    return base + ("?" + "&".join(kept) if kept else "")


@pytest.mark.parametrize(("how", "stop"), [("streamed", signal.SIGINT), ("streamed", signal.SIGTERM),
                                           ("whole", signal.SIGINT)])
def test_an_interrupted_push_cancels_its_upload_sessions(registry: Registry, tmp_path: Path, how: str,
                                                         stop: int) -> None:
    # streamed: a new repository's large file goes up in a PATCH hashing it, then a PUT closes the session
    # (held here: the registry holds every byte, uncommitted); whole: from the local store, a POST, then
    # the blob in one PUT (held here, unforwarded)
    data = os.urandom(40 * MIB if how == "streamed" else 2 * MIB)
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "w.bin").write_bytes(data)
    name = registry.repo().split("/", 1)[1]
    with FaultProxy(registry.host) as proxy:
        args = [str(folder), f"{proxy.host}/{name}:1"]
        if how == "whole":
            packed = modelpack("pack", str(folder), "-t", f"{proxy.host}/{name}:1")
            assert packed.code == 0, packed.err
            args = args[1:]
        closing = rf"^PUT /v2/.*/blobs/uploads/.*digest=sha256:{hashlib.sha256(data).hexdigest()}"
        held = Fault(closing, hold=True)
        proxy.faults.append(held)
        process = subprocess.Popen([sys.executable, "-m", "modelpack", "push", "--plain-http", *args],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            assert held.arrived.wait(60), "the upload never began"
            session = registry.url + _session(held.taken[0])
            assert registry.session().get(session).status_code == 204  # open, as the spec's GET says
            process.send_signal(stop)
            _, err = process.communicate(timeout=20)  # the held request ends in 30 s: not waited for
            answer = registry.session().get(session)
        finally:
            held.release.set()
            if process.poll() is None:
                process.kill()
    assert_stopped_by(stop, process.returncode, err)
    assert answer.status_code == 404 and "BLOB_UPLOAD_UNKNOWN" in answer.text, (answer.status_code, answer.text)
    tags = modelpack("ls", "--plain-http", f"{registry.host}/{name}")
    assert tags.out.strip().splitlines()[1:] == [], "nothing tagged"


def test_a_session_on_another_host_is_cancelled_without_credentials_and_without_waiting(
        fresh_registry: Callable[..., Registry], tmp_path: Path) -> None:
    # A registry (logged in to) whose upload Location names another host, which takes the body and never
    # answers anything: the interrupt's DELETE goes there with none of the registry's credentials, and the
    # command ends without its answer (a guard: the old code sent no credentials and ended too)
    locked = fresh_registry(auth_htpasswd=htpasswd_file(tmp_path / "htpasswd", "u", "Secret-Pa55"))
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "w.bin").write_bytes(os.urandom(40 * MIB))
    name = locked.repo().split("/", 1)[1]
    with HostileRegistry() as other, FaultProxy(locked.host) as proxy:
        other.routes[r"^(PATCH|PUT|DELETE) "] = other.never_answer
        auth = base64.b64encode(b"u:Secret-Pa55").decode()
        Path(os.environ["DOCKER_CONFIG"], "config.json").write_text(json.dumps({"auths": {
            proxy.host: {"auth": auth}, locked.host: {"auth": auth}}}))
        proxy.faults.append(Fault(r"^POST /v2/.*/blobs/uploads/$", status=202, headers={
            "Location": f"http://{other.host}/v2/{name}/blobs/uploads/elsewhere?_state=x"}))
        process = subprocess.Popen([sys.executable, "-m", "modelpack", "push", "--plain-http", str(folder),
                                    f"{proxy.host}/{name}:1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True)
        try:
            deadline = time.monotonic() + 60
            while not other.requests("PATCH") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert other.requests("PATCH"), "the upload never went there"
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=20)  # the other host never answers: not waited for
        finally:
            if process.poll() is None:
                process.kill()
        cancels = other.requests("DELETE /v2/")
        seen = other.authorizations()
    assert process.returncode == 130, err
    assert err.strip().splitlines() == ["error: interrupted"], err
    assert cancels, other.requests()
    assert seen == []


def test_an_interrupted_push_does_not_wait_on_a_registry_that_stopped_reading(registry: Registry,
                                                                             tmp_path: Path) -> None:
    # The proxy stops reading the upload's body after 4 MiB: the sender blocks on full socket buffers, where
    # sendall waited out the stall bound (30 s) before the interrupted push could end
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "w.bin").write_bytes(os.urandom(40 * MIB))
    name = registry.repo().split("/", 1)[1]
    with FaultProxy(registry.host) as proxy:
        held = Fault(r"^PATCH /v2/", pause_request_after=4 * MIB)
        proxy.faults.append(held)
        process = subprocess.Popen([sys.executable, "-m", "modelpack", "push", "--plain-http", str(folder),
                                    f"{proxy.host}/{name}:1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   text=True)
        try:
            assert held.arrived.wait(60), "the upload never began"
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=20)  # the stall bound, 30 s, would have ended it otherwise
        finally:
            held.release.set()
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, err
    assert err.strip().splitlines() == ["error: interrupted"], err
