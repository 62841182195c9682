"""A large blob whose connection is slow is fetched in ranges over several connections: reassembled and
verified over the whole, each range resumed when cut, a server that ignores Range served by one stream,
wrong bytes refused with nothing kept, ranges of a redirected blob sent to the redirect target with that
host's credentials only. The decision to split is forced here (the policy's thresholds), never timed."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

import modelpack as mp
from fault_proxy import Fault, FaultProxy
from helpers import tree
from hostile_registry import (
    HostileRegistry,
    crafted_model,
    model_content,
    raw_layer,
    reply,
    serve_content,
    weights_digest,
)
from modelpack.errors import IntegrityError, NotFoundError, TransportError, UsageError
from modelpack.store import ranged
from modelpack.store.client import ClientOptions
from modelpack.store.layout import LayoutStore
from registry_process import Registry
from test_credentials_hosts import assert_never_saw_the_secret, basic_only, bearer_host, login_to
from test_transfer import _repo

MIB = 1024 * 1024
PLAIN = ClientOptions(plain_http=True, backoff=0.01)
BOUNDED = re.compile(r"\[Range: bytes=(\d+)-(\d+)\]")


@pytest.fixture(autouse=True)
def split_at_once(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Split every blob of 1 MiB or more after its first piece, into 1 MiB ranges."""
    monkeypatch.setattr(ranged, "POLICY", ranged.Policy(min_bytes=MIB, window=0, max_rate=float("inf"), min_waiting=0,
                                                         max_cpu=float("inf"), min_rest=MIB, piece_min=MIB,
                                                         piece_max=MIB))
    monkeypatch.delenv("MODELPACK_RANGE_CONNECTIONS", raising=False)
    yield


def _model(root: Path, size: int) -> Path:
    root.mkdir(parents=True)
    (root / "w.safetensors").write_bytes(os.urandom(size))
    return root


def _digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _bounded(lines: list[str]) -> list[tuple[int, int]]:
    return [(int(m.group(1)), int(m.group(2))) for line in lines if (m := BOUNDED.search(line))]


def test_a_large_blob_is_fetched_in_ranges_and_verified(registry: Registry, proxy: FaultProxy,
                                                        tmp_path: Path) -> None:
    model = _model(tmp_path / "m", 12 * MIB + 12345)
    ref = _repo(registry, proxy) + ":1"
    mp.push(model, ref, options=PLAIN)
    digest = _digest(model / "w.safetensors")
    proxy.clear()
    mp.pull(ref, output=tmp_path / "out", options=PLAIN)
    assert tree(tmp_path / "out") == tree(model)
    ranges = sorted(_bounded(proxy.requests("GET", digest)))
    assert len(ranges) >= 8, proxy.requests("GET", digest)
    # 1 MiB pieces, back to back up to the blob's end (the first stream read the start and maybe more).
    assert all(end - start + 1 == MIB for start, end in ranges[:-1]) and ranges[-1][1] == 12 * MIB + 12345 - 1
    assert all(a[1] + 1 == b[0] or (b[0] - a[1] - 1) % MIB == 0 for a, b in itertools.pairwise(ranges))
    # Into the local store (no -o): the same ranged download, the blob verified and kept under its digest.
    proxy.clear()
    mp.pull(ref, options=PLAIN)
    assert len(_bounded(proxy.requests("GET", digest))) >= 8
    stored = LayoutStore().blob_path(digest)
    assert _digest(stored) == digest
    assert list(LayoutStore().ingest_dir.iterdir()) == []


def test_the_connections_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelpack.store.copy import BlobPipeline, CopyOptions
    from modelpack.store.memory import MemoryStore

    monkeypatch.setenv("MODELPACK_RANGE_CONNECTIONS", "0")
    with pytest.raises(UsageError, match="MODELPACK_RANGE_CONNECTIONS"):
        ranged.default_connections()
    # A transfer stops at its start on it, before any blob is asked for.
    with pytest.raises(UsageError, match="MODELPACK_RANGE_CONNECTIONS"):
        BlobPipeline(MemoryStore(), CopyOptions(workers=1))
    monkeypatch.setenv("MODELPACK_RANGE_CONNECTIONS", "3")
    assert ranged.default_connections() == 3


def test_one_connection_when_ranges_are_turned_off(registry: Registry, proxy: FaultProxy, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model(tmp_path / "m", 6 * MIB)
    ref = _repo(registry, proxy) + ":1"
    mp.push(model, ref, options=PLAIN)
    monkeypatch.setenv("MODELPACK_RANGE_CONNECTIONS", "1")
    proxy.clear()
    mp.pull(ref, output=tmp_path / "out", options=PLAIN)
    assert tree(tmp_path / "out") == tree(model)
    assert proxy.requests("GET", _digest(model / "w.safetensors")) == [
        line for line in proxy.requests("GET", _digest(model / "w.safetensors")) if "Range" not in line]


def test_a_cut_range_is_resumed(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", 8 * MIB)
    ref = _repo(registry, proxy) + ":1"
    mp.push(model, ref, options=PLAIN)
    digest = _digest(model / "w.safetensors")
    proxy.faults.append(Fault(rf"GET .*/blobs/{digest} \[Range: bytes=\d+-\d+\]", times=2, cut_after=300_000))
    proxy.clear()
    mp.pull(ref, output=tmp_path / "out", options=PLAIN)
    assert tree(tmp_path / "out") == tree(model)
    ranges = _bounded(proxy.requests("GET", digest))
    ends = [end for _, end in ranges]
    resumed = [(start, end) for start, end in ranges if ends.count(end) > 1 and
               start > min(s for s, e in ranges if e == end)]
    assert len(resumed) == 2, ranges  # each cut range asked again from where it broke, to the same end
    assert all((start - min(s for s, e in ranges if e == end)) >= 300_000 - 65536 for start, end in resumed)


def test_a_range_that_keeps_breaking_fails_the_pull_and_leaves_nothing(registry: Registry, proxy: FaultProxy,
                                                                     tmp_path: Path) -> None:
    model = _model(tmp_path / "m", 8 * MIB)
    ref = _repo(registry, proxy) + ":1"
    mp.push(model, ref, options=PLAIN)
    digest = _digest(model / "w.safetensors")
    proxy.faults.append(Fault(rf"GET .*/blobs/{digest} \[Range: bytes=\d+-\d+\]", times=1000, cut_after=0))
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(TransportError, match="kept breaking"):
        mp.pull(ref, output=work / "out", options=PLAIN)
    assert list(work.iterdir()) == []


class RangeServer:
    """Answer a blob GET with the whole blob, or a Range with a 206 of exactly that range; bytes at or
    after `corrupt_after` asked for by a Range are inverted. `ranges` records the Range headers."""

    def __init__(self, data: bytes, corrupt_after: int | None = None, accept_ranges: bool = True,
                 pace: float = 0, stream_pace: float = 0, shift_from: int | None = None) -> None:
        self.data, self.corrupt_after, self.accept_ranges = data, corrupt_after, accept_ranges
        self.pace, self.stream_pace = pace, stream_pace  # seconds between pieces of 64 KiB of a range, of a 200
        self.shift_from = shift_from  # from this bounded Range on (1: the first), each answered one byte later
        self.ranges: list[str] = []

    def __call__(self, handler: BaseHTTPRequestHandler) -> None:
        data, corrupt_after, accept_ranges = self.data, self.corrupt_after, self.accept_ranges
        if handler.headers.get("Range"):
            self.ranges.append(handler.headers["Range"])
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", handler.headers.get("Range", ""))
        headers = {"Content-Type": "application/octet-stream"}
        if accept_ranges:
            headers["Accept-Ranges"] = "bytes"
        if not match:
            self._send(handler, 200, data, headers, self.stream_pace)
            return
        start = int(match.group(1))
        end = int(match.group(2)) + 1 if match.group(2) else len(data)
        bounded = sum(1 for asked in self.ranges if re.fullmatch(r"bytes=\d+-\d+", asked))
        if self.shift_from is not None and match.group(2) and bounded >= self.shift_from and end < len(data):
            start, end = start + 1, end + 1  # the range next to the one asked for
        body = data[start:end]
        if corrupt_after is not None and end > corrupt_after:
            body = body[:max(0, corrupt_after - start)] + bytes(b ^ 0xFF for b in body[max(0, corrupt_after - start):])
        self._send(handler, 206, body, {**headers, "Content-Range": f"bytes {start}-{end - 1}/{len(data)}"},
                   self.pace)

    def _send(self, handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str],
              pace: float) -> None:
        if not pace:
            reply(handler, status, body, headers)
            return
        handler.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            handler.send_header(key, value)
        handler.end_headers()
        for at in range(0, len(body), 65536):
            time.sleep(pace)
            handler.wfile.write(body[at:at + 65536])


def test_a_server_that_ignores_range_is_read_by_one_stream(tmp_path: Path) -> None:
    blob = os.urandom(5 * MIB)
    content = model_content(blob)
    layer = weights_digest(content)
    with HostileRegistry() as registry:
        registry.routes[r"^(GET|HEAD) /v2/a/b/"] = serve_content(content)  # a 200 with everything, always
        mp.pull(f"{registry.host}/a/b:1", output=tmp_path / "out", options=PLAIN)
        gets = registry.requests(f"blobs/{layer}")
    assert (tmp_path / "out" / "w.bin").read_bytes() == blob
    assert len(gets) == 2, gets  # the stream, and one probe answered with the whole blob: no more


def test_a_range_with_wrong_bytes_is_refused_and_nothing_is_kept(tmp_path: Path) -> None:
    blob = os.urandom(6 * MIB)
    content = model_content(blob)
    layer = weights_digest(content)
    with HostileRegistry() as registry:
        answer = RangeServer(blob, corrupt_after=5 * MIB)
        registry.routes[f"GET /v2/a/b/blobs/{layer}"] = answer
        registry.routes[r"^(GET|HEAD) /v2/a/b/"] = serve_content(content)
        work = tmp_path / "work"
        work.mkdir()
        with pytest.raises(IntegrityError, match="digest mismatch"):
            mp.pull(f"{registry.host}/a/b:1", output=work / "out", options=PLAIN)
        assert list(work.iterdir()) == []
        with pytest.raises(IntegrityError, match="digest mismatch"):
            mp.pull(f"{registry.host}/a/b:1", options=PLAIN)
        assert len(answer.ranges) > 4  # it was fetched in ranges
    store = LayoutStore()
    assert not store.blob_path(layer).exists()
    assert list(store.ingest_dir.iterdir()) == []


def test_a_shifted_range_after_good_ones_falls_back_to_one_plain_stream(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    blob = os.urandom(12 * MIB)
    content = model_content(blob)
    layer = weights_digest(content)
    with HostileRegistry() as registry:
        answer = RangeServer(blob, shift_from=4)  # three good ranges, then shifted ones
        registry.routes[f"GET /v2/a/b/blobs/{layer}"] = answer
        registry.routes[r"^(GET|HEAD) /v2/a/b/"] = serve_content(content)
        with caplog.at_level("INFO", logger="modelpack.registry"):
            mp.pull(f"{registry.host}/a/b:1", output=tmp_path / "out", options=PLAIN)
        gets = [line for line in registry.requests(f"blobs/{layer}") if line.startswith("GET")]
    assert (tmp_path / "out" / "w.bin").read_bytes() == blob  # (and its digest was checked on the way)
    assert len(answer.ranges) >= 4, answer.ranges
    assert len(gets) - len(answer.ranges) == 2, gets  # the first stream, and the plain stream the rest came from
    said = [r.getMessage() for r in caplog.records if "one plain stream" in r.getMessage()]
    assert len(said) == 1 and "did not serve bytes" in said[0] and layer in said[0], said


def test_a_mirror_shifting_a_range_falls_back_to_one_plain_stream_from_it(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    blob = os.urandom(12 * MIB)
    content = model_content(blob)
    layer = weights_digest(content)
    with HostileRegistry() as origin, HostileRegistry() as mirror:
        origin.routes[r"^(GET|HEAD) /v2/a/b/"] = serve_content(content)
        answer = RangeServer(blob, shift_from=4)
        mirror.routes[f"GET /v2/a/b/blobs/{layer}"] = answer
        mirror.routes[r"^(GET|HEAD) /v2/a/b/"] = serve_content(content)
        conf = tmp_path / "registries.conf"
        conf.write_text(f'[[registry]]\nlocation = "{origin.host}"\n[[registry.mirror]]\nlocation = "{mirror.host}"\n')
        monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
        mp.pull(f"{origin.host}/a/b:1", output=tmp_path / "out", options=PLAIN)
        gets = [line for line in mirror.requests(f"blobs/{layer}") if line.startswith("GET")]
        assert not origin.requests(f"blobs/{layer}")  # the mirror served it all
    assert (tmp_path / "out" / "w.bin").read_bytes() == blob
    assert len(answer.ranges) >= 4 and len(gets) - len(answer.ranges) == 2, gets


@pytest.mark.parametrize("storage_auth", ["presigned", "own token"])
def test_ranges_of_a_redirected_blob_go_to_the_target_with_its_own_credentials(tmp_path: Path,
                                                                              storage_auth: str) -> None:
    blob = os.urandom(8 * MIB)
    content = model_content(blob)
    layer = weights_digest(content)
    answer = RangeServer(blob, accept_ranges=False)  # a 206 to a Range, but no Accept-Ranges header
    with HostileRegistry() as registry, HostileRegistry() as storage:
        if storage_auth == "own token":
            bearer_host(storage, answer)  # storage asks for a bearer token of its own
        else:
            storage.routes[""] = answer  # the URL's signature is the credential: no Authorization at all
        redirect = lambda h: reply(h, 307, b"", {"Location": f"http://localhost:{storage.port}/blob/{layer}?sig=x"})  # noqa: E731
        registry.routes[f"GET /v2/a/b/blobs/{layer}"] = basic_only(redirect)
        registry.routes[r"^(GET|HEAD) /v2/a/b/"] = basic_only(serve_content(content))
        registry.routes["/v2/"] = basic_only(lambda h: reply(h, 200, b"{}"))
        login_to(registry.host)
        mp.pull(f"{registry.host}/a/b:1", output=tmp_path / "out", options=PLAIN)
    assert (tmp_path / "out" / "w.bin").read_bytes() == blob
    assert len(answer.ranges) >= 4 and all(re.fullmatch(r"bytes=\d+-\d+", r) for r in answer.ranges), answer.ranges
    gets = [auth for line, auth in storage.seen if line == f"GET /blob/{layer}?sig=x"]
    if storage_auth == "own token":
        assert_never_saw_the_secret(storage)
        assert len(gets) == len(answer.ranges) + 2  # the stream (asked twice: first without the token), the ranges
        assert gets[1:] == ["Bearer b-token"] * (len(gets) - 1)
    else:
        assert gets == [""] * (len(answer.ranges) + 1)  # the stream and every range: no Authorization header
    # The registry was asked for the blob once (twice when storage's 401 restarted the request): no range.
    asked = [line for line in registry.requests(f"blobs/{layer}") if line.startswith("GET")]
    assert len(asked) == (2 if storage_auth == "own token" else 1), asked


def test_a_failed_sibling_stops_every_range_of_a_blob(tmp_path: Path) -> None:
    big, small = os.urandom(16 * MIB), os.urandom(1000)
    big_desc, big_entry = raw_layer("big.bin", big)
    small_desc, small_entry = raw_layer("small.bin", small)
    content = crafted_model(layers=[big_desc, small_desc])
    content.update([big_entry, small_entry])
    answer = RangeServer(big, pace=0.1, stream_pace=0.01)  # 1.6 s per 1 MiB range: one round of them at most

    def lost_late(handler: BaseHTTPRequestHandler) -> None:
        deadline = time.monotonic() + 10
        while len(answer.ranges) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # until the big blob's ranges are under way
        reply(handler, 404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"gone"}]}')

    with HostileRegistry() as registry:
        registry.routes[f"GET /v2/a/b/blobs/{big_desc['digest']}"] = answer
        registry.routes[f"GET /v2/a/b/blobs/{small_desc['digest']}"] = lost_late
        registry.routes[r"^(GET|HEAD) /v2/a/b/"] = serve_content(content)
        work = tmp_path / "work"
        work.mkdir()
        with pytest.raises(NotFoundError):
            mp.pull(f"{registry.host}/a/b:1", output=work / "out", options=PLAIN)
        started = len(answer.ranges)
    # The first round (7 helpers, and the first stream once it gave up its stream) had started; no piece
    # of 16 was asked for after the failure.
    assert 2 <= started <= 8, answer.ranges
    assert list(work.iterdir()) == []


def test_a_download_resumed_mid_blob_is_fetched_in_ranges_too(registry: Registry, proxy: FaultProxy,
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rest of a blob an earlier process stopped receiving (see resumable_ingest) goes over several
    connections like a fresh download: on a capped link it is where resuming matters most."""
    from modelpack.store import resumable_ingest

    monkeypatch.setattr(resumable_ingest, "RESUME_MIN_BYTES", MIB)
    model = _model(tmp_path / "m", 12 * MIB + 12345)
    ref = _repo(registry, proxy) + ":1"
    mp.push(model, ref, options=PLAIN)
    digest = _digest(model / "w.safetensors")
    kept = 3 * MIB + 777
    store = LayoutStore()
    store.ingest_dir.mkdir(parents=True, exist_ok=True)
    (store.ingest_dir / f"{digest.split(':')[1]}.partial").write_bytes((model / "w.safetensors").read_bytes()[:kept])
    proxy.clear()
    mp.pull(ref, options=PLAIN)
    gets = proxy.requests("GET", digest)
    assert f"[Range: bytes={kept}-{12 * MIB + 12345 - 1}]" in gets[0]  # the rest, asked for first
    ranges = sorted(_bounded(gets[1:]))
    assert len(ranges) >= 4 and all(start >= kept for start, _ in ranges), gets
    assert _digest(store.blob_path(digest)) == digest
    assert list(store.ingest_dir.iterdir()) == []
