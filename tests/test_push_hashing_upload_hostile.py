"""A push into a new repository hashes each large file (>= 32 MiB) while uploading it (`FileBody.hashed`,
`submit_unhashed(..., hashing=True)`): what a hostile or broken registry does to that upload, and a file
that changes while it is sent. Each case ends in a verified artifact (pulled back and compared) or one
error line with a documented exit code, within a bounded time, never a traceback.

A real registry behind `FaultProxy` (which breaks only the wire: a PATCH answered by the proxy, cut, held,
redirected); `HostileRegistry` stands for another host an upload is sent to."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from fault_proxy import Fault, FaultProxy, change_when_held
from helpers import Run, htpasswd_file, modelpack
from hostile_registry import HostileRegistry
from registry_process import Registry

MIB = 1 << 20
LARGE = 40 * MIB  # hashed by its upload (>= 32 MiB)
PATCH = r"^PATCH /v2/"
POST = r"^POST /v2/.*/blobs/uploads/$"


def _model(folder: Path, **files: bytes) -> Path:
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _push(host: str, folder: Path, repo: str) -> Run:
    return modelpack("push", "--plain-http", str(folder), f"{host}/{repo}:1", timeout=180)


def _pulled(registry: Registry, repo: str, out: Path) -> dict[str, bytes]:
    run = modelpack("pull", "--plain-http", f"{registry.host}/{repo}:1", "-o", str(out), timeout=180)
    assert run.code == 0, run.err
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and not p.name.startswith(".")
            and p.name != "modelpack.yaml"}


def _one_line(run: Run, codes: tuple[int, ...]) -> str:
    lines = run.err.strip().splitlines()
    assert run.code in codes, run.err
    assert len(lines) == 1 and lines[0].startswith("error: "), run.err
    assert "Traceback" not in run.err and "internal error" not in run.err, run.err
    return lines[0]


def _repo(registry: Registry) -> str:
    return registry.repo().split("/", 1)[1]


@pytest.mark.parametrize("where", [POST, PATCH], ids=["post", "patch"])
def test_an_upload_location_on_another_host_gets_no_credentials(fresh_registry: Callable[..., Registry],
                                                                tmp_path: Path, where: str) -> None:
    locked = fresh_registry(auth_htpasswd=htpasswd_file(tmp_path / "htpasswd", "u", "Secret-Pa55"))
    data = os.urandom(LARGE)
    folder = _model(tmp_path / "m", **{"w.bin": data})
    repo = _repo(locked)
    with HostileRegistry() as other, FaultProxy(locked.host) as proxy:
        auth = base64.b64encode(b"u:Secret-Pa55").decode()
        Path(os.environ["DOCKER_CONFIG"], "config.json").write_text(json.dumps({"auths": {
            proxy.host: {"auth": auth}, locked.host: {"auth": auth}}}))
        elsewhere = f"http://{other.host}/v2/{repo}/blobs/uploads/stolen?_state=x"
        proxy.faults.append(Fault(where, status=202, headers={"Location": elsewhere}))
        run = _push(proxy.host, folder, repo)
        sent_there = other.requests()
        seen = other.authorizations()
    assert run.code == 0, run.err
    assert sent_there  # the upload did go to the other host
    assert seen == []  # with none of the registry's credentials
    assert _pulled(locked, repo, tmp_path / "out") == {"w.bin": data}


@pytest.mark.parametrize(("where", "ends"), [(PATCH, 0), (POST, 1)], ids=["patch-loop", "post-loop"])
def test_a_redirect_loop_ends_bounded(registry: Registry, tmp_path: Path, where: str, ends: int) -> None:
    data = os.urandom(LARGE)
    folder = _model(tmp_path / "m", **{"w.bin": data})
    repo = _repo(registry)
    with FaultProxy(registry.host) as proxy:
        loop = f"http://{proxy.host}/v2/{repo}/blobs/uploads/loop"
        proxy.faults.append(Fault(where, times=1000, status=307, headers={"Location": loop}))
        proxy.faults.append(Fault(r"^(PATCH|POST|PUT) /v2/.*/blobs/uploads/loop", times=1000, status=307,
                                  headers={"Location": loop}))
        run = _push(proxy.host, folder, repo)
    if ends == 0:  # the streamed upload failed: the file is sent the ordinary way
        assert run.code == 0, run.err
        assert _pulled(registry, repo, tmp_path / "out") == {"w.bin": data}
    else:
        line = _one_line(run, (1,))
        assert "redirects" in line, line


@pytest.mark.parametrize("status", [201, 202])
def test_an_answer_before_all_bytes_arrived_is_not_taken_for_the_blob(registry: Registry, tmp_path: Path,
                                                                      status: int) -> None:
    data = os.urandom(LARGE)
    folder = _model(tmp_path / "m", **{"w.bin": data})
    repo = _repo(registry)
    with FaultProxy(registry.host) as proxy:
        proxy.faults.append(Fault(PATCH, status=status, answer_after=MIB,
                                  headers={"Location": f"/v2/{repo}/blobs/uploads/early"}))
        run = _push(proxy.host, folder, repo)
    assert run.code == 0, run.err
    assert _pulled(registry, repo, tmp_path / "out") == {"w.bin": data}


def test_a_cut_upload_is_sent_again(registry: Registry, tmp_path: Path) -> None:
    data = os.urandom(LARGE)
    folder = _model(tmp_path / "m", **{"w.bin": data})
    repo = _repo(registry)
    with FaultProxy(registry.host) as proxy:
        proxy.faults.append(Fault(PATCH, cut_request_after=8 * MIB))
        run = _push(proxy.host, folder, repo)
    assert run.code == 0, run.err
    assert _pulled(registry, repo, tmp_path / "out") == {"w.bin": data}


def test_a_registry_claiming_another_digest_fails_the_push_in_one_line(registry: Registry, tmp_path: Path) -> None:
    folder = _model(tmp_path / "m", **{"w.bin": os.urandom(LARGE)})
    repo = _repo(registry)
    with FaultProxy(registry.host) as proxy:
        # the upload's closing PUT "succeeds" without reaching the registry, naming a digest of its own
        proxy.faults.append(Fault(r"^PUT /v2/.*/blobs/uploads/.*digest=", times=10, status=201,
                                  headers={"Docker-Content-Digest": "sha256:" + "0" * 64}))
        run = _push(proxy.host, folder, repo)
    line = _one_line(run, (6,))  # said where the lie is, not later as the manifest's unknown blob
    assert f"registry {proxy.host} answered the upload of sha256:" in line and f"as 'sha256:{'0' * 64}'" in line, line


def test_a_small_blob_answered_as_another_digest_is_refused(registry: Registry, tmp_path: Path) -> None:
    # small blobs go up as callbacks of the curl engine (quick_upload), checked as the large ones are
    folder = _model(tmp_path / "m", **{"w.bin": os.urandom(4096)})
    repo = _repo(registry)
    with FaultProxy(registry.host) as proxy:
        proxy.faults.append(Fault(r"^PUT /v2/.*/blobs/uploads/.*digest=", times=10, status=201,
                                  headers={"Docker-Content-Digest": "sha256:" + "0" * 64}))
        run = _push(proxy.host, folder, repo)
    line = _one_line(run, (6,))
    assert f"registry {proxy.host} answered the upload of sha256:" in line and f"as 'sha256:{'0' * 64}'" in line, line


@pytest.mark.parametrize("change", ["same-size", "grows", "shrinks"])
def test_a_file_changing_while_it_is_uploaded(registry: Registry, tmp_path: Path, change: str) -> None:
    data = os.urandom(LARGE)
    folder = _model(tmp_path / "m", **{"w.bin": data})
    weights = folder / "w.bin"
    repo = _repo(registry)
    tail = os.urandom(MIB)
    with FaultProxy(registry.host) as proxy:
        held = Fault(PATCH, pause_request_after=4 * MIB)
        proxy.faults.append(held)
        editor = change_when_held(held, weights, change, tail)
        run = _push(proxy.host, folder, repo)
        held.release.set()
        editor.join()
    if change == "same-size":  # the upload's own hash is of the torn bytes sent: refused before they are stored
        line = _one_line(run, (6,))
        assert line == "error: w.bin changed while it was being packed; run again once nothing writes to it", line
        assert modelpack("ls", "--plain-http", repo).out.strip().splitlines()[1:] == [], "nothing tagged"
    else:
        line = _one_line(run, (6,))
        assert f"w.bin {'grew' if change == 'grows' else 'shrank'} while it was being uploaded" in line, line
        assert line.startswith("error: w.bin ") and line.endswith("push again once nothing writes to it"), line


def test_two_equal_large_files_go_up_once(registry: Registry, tmp_path: Path) -> None:
    data = os.urandom(64 * MIB)
    folder = _model(tmp_path / "m", **{"a.bin": data, "b.bin": data})
    repo = _repo(registry)
    with FaultProxy(registry.host) as proxy:
        run = _push(proxy.host, folder, repo)
        patches = proxy.requests("PATCH")
        puts = proxy.requests("PUT", f"digest=sha256:{hashlib.sha256(data).hexdigest()}")
    assert run.code == 0, run.err
    assert len(patches) == 1 and len(puts) == 1, (patches, puts)  # one upload of the bytes, one closing PUT
    assert _pulled(registry, repo, tmp_path / "out") == {"a.bin": data, "b.bin": data}
