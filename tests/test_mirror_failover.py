"""A mirror whose blob stream breaks mid-way: the rest of the blob (or of the range) comes from the next
endpoint, asked for from the byte where the mirror stopped, and the digest is checked over the whole.
The origin is a real Distribution registry; the mirror is a FaultProxy in front of it (a mirror serving
the same content), breaking the wire the way a failing cache or CDN does."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import modelpack as mp
from fault_proxy import Fault, FaultProxy
from helpers import modelpack, tree
from modelpack.store.client import ClientOptions
from registry_process import Registry
from test_mirrors import write_conf
from test_ranged import split_at_once  # noqa: F401 - autouse: blobs of 1 MiB or more split at once

MIB = 1024 * 1024
SIZE = 8 * MIB + 4321


@pytest.fixture
def origin(fresh_registry: Callable[..., Registry]) -> Registry:
    return fresh_registry()


@pytest.fixture
def mirror(origin: Registry) -> Iterator[FaultProxy]:
    with FaultProxy(origin.host) as proxy:
        yield proxy


def _pushed(origin: Registry, tmp_path: Path) -> tuple[Path, str, str]:
    """(the model, its reference at the origin by digest, the weights' digest)."""
    import hashlib

    model = tmp_path / "model"
    model.mkdir()
    data = os.urandom(SIZE)
    (model / "w.safetensors").write_bytes(data)
    pushed = modelpack("push", "--plain-http", str(model), f"{origin.host}/team/m:1")
    assert pushed.code == 0, pushed.err
    return model, pushed.out.strip(), "sha256:" + hashlib.sha256(data).hexdigest()


def _pushed_behind_mirror(origin: Registry, mirror: FaultProxy, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, str]:
    """`_pushed`, then registries.conf naming `mirror` for the origin (for this process and its children)."""
    pushed = _pushed(origin, tmp_path)
    write_conf(tmp_path, monkeypatch, f'[[registry]]\nlocation = "{origin.host}"\n'
                                      f'[[registry.mirror]]\nlocation = "{mirror.host}"\n')
    monkeypatch.setenv("MODELPACK_HOME", str(tmp_path / "home"))
    return pushed


@pytest.mark.parametrize("fault", ["no resume", "keeps breaking"])
def test_a_mirror_breaking_a_blob_mid_way_hands_the_rest_to_the_origin(
        origin: Registry, mirror: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str) -> None:
    model, by_digest, weights = _pushed_behind_mirror(origin, mirror, tmp_path, monkeypatch)
    whole = f"GET /v2/team/m/blobs/{weights}$"
    if fault == "no resume":  # cut after 1 MiB, and the resume refused (a cache that lost the blob meanwhile)
        mirror.faults += [Fault(whole, cut_after=MIB), Fault(f"{weights} \\[Range", status=416, times=99)]
    else:  # every answer cut after 1 MiB: resumed until the stream gives up (MAX_RESUMES)
        mirror.faults += [Fault(f"/blobs/{weights}", cut_after=MIB, times=99)]

    out = tmp_path / "out"
    pulled = modelpack("pull", "-v", "--plain-http", by_digest, "-o", str(out))
    assert pulled.code == 0, pulled.err
    assert tree(out) == tree(model)
    failed = [line for line in pulled.err.splitlines() if "failed after byte" in line]
    assert len(failed) == 1 and failed[0].startswith(f"modelpack.mirrors: blob {weights}: {mirror.host} (mirror) "
                                                     "failed after byte "), pulled.err
    stopped = int(failed[0].split("failed after byte ")[1].split()[0])
    assert MIB <= stopped < SIZE
    # The origin was asked for the rest only, from where the mirror stopped.
    assert f"modelpack.mirrors: blob {weights} from byte {stopped} served by {origin.host} (origin)" in pulled.err
    assert mirror.requests("GET", weights)  # the mirror did serve the start


def test_a_range_a_mirror_breaks_is_fetched_from_the_origin(
        origin: Registry, mirror: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, by_digest, weights = _pushed_behind_mirror(origin, mirror, tmp_path, monkeypatch)
    # The whole-blob stream is served; the first range is cut and every later range request refused.
    mirror.faults += [Fault(r"\[Range", cut_after=1000), Fault(r"\[Range", status=503, times=999)]

    mp.pull(by_digest, output=tmp_path / "out", options=ClientOptions(plain_http=True, backoff=0.01))
    assert tree(tmp_path / "out") == tree(model)
    assert mirror.requests("GET", f"{weights} [Range")  # the blob was split, and its ranges asked of the mirror


def test_ranges_skip_a_mirror_once_it_failed_one(
        origin: Registry, mirror: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, by_digest, weights = _pushed_behind_mirror(origin, mirror, tmp_path, monkeypatch)
    monkeypatch.setenv("MODELPACK_RANGE_CONNECTIONS", "2")
    # Every range the mirror serves is cut after 1000 bytes: each stream resumes until it gives up.
    mirror.faults += [Fault(r"\[Range", cut_after=1000, times=999)]

    mp.pull(by_digest, output=tmp_path / "out", options=ClientOptions(plain_http=True, backoff=0.01))
    assert tree(tmp_path / "out") == tree(model)
    # Two connections held a range each when the mirror first failed; after that no range went to it
    # (each of those two: its request and MAX_RESUMES resumes). Ranges of the ~8 MiB rest: ~8.
    from modelpack.store.blobstream import MAX_RESUMES

    assert 0 < len(mirror.requests("GET", f"{weights} [Range")) <= 2 * (MAX_RESUMES + 1)
