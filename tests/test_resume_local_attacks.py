"""What a resumed download into the local store finds in ingest/ is not to be trusted: another local user
or process may have put a symlink or a hard link to a file elsewhere (~/.bashrc), a directory or a FIFO at
a partial's name. The pull never writes through it, follows it or waits on it: it is removed, the blob
fetched afresh, the file elsewhere untouched; `store gc` (and the sweep every pull starts with) passes
over what is no file. A download killed between being made read-only and its rename is named by the next
pull, not refused forever; a full disk mid-resume keeps what was written for the next pull; two pulls of
one blob, the first killed mid-way, end with the second resuming from the first's bytes; a manifest that
declares another size for a digest whose download was kept gets nothing stored."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

import modelpack as mp
from fault_proxy import Fault, FaultProxy
from helpers import modelpack, push_weight
from hostile_artifacts import publish, raw
from hostile_registry import HostileRegistry, model_content, reply, serve_content, weights_digest
from modelpack.errors import IntegrityError, ModelpackError
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor
from modelpack.store import resumable_ingest
from modelpack.store.client import ClientOptions
from modelpack.store.layout import LayoutStore
from modelpack.store.target import BlobOpener
from registry_process import Registry
from test_concurrent_pulls import _wait_for
from test_resumed_pull import HELD_AT, WEIGHT
from test_transfer import _repo

MIB = 1024 * 1024
PLAIN = ClientOptions(plain_http=True, backoff=0.01, timeout=5)
BLOB = os.urandom(3 * MIB + 12345)
CONTENT = model_content(BLOB)
LAYER = weights_digest(CONTENT)
NOBODY = 65534


@pytest.fixture(autouse=True)
def resume_small_blobs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(resumable_ingest, "RESUME_MIN_BYTES", MIB)
    yield


@contextlib.contextmanager
def _serving(ranges: list[str] | None = None) -> Iterator[str]:
    """The model of BLOB; Range requests of its blob answered with a 206 (recorded in `ranges`)."""

    def blob(handler: BaseHTTPRequestHandler) -> None:
        asked = handler.headers.get("Range", "")
        if ranges is not None:
            ranges.append(asked)
        if not asked:
            reply(handler, 200, BLOB)
            return
        start = int(asked.removeprefix("bytes=").split("-")[0])
        reply(handler, 206, BLOB[start:], {"Content-Range": f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}"})

    with HostileRegistry() as registry:
        registry.routes[f"GET /v2/a/b/blobs/{LAYER}"] = blob
        registry.routes[r"^(GET|HEAD) /v2/a/b/"] = serve_content(CONTENT)
        yield f"{registry.host}/a/b:1"


def _partial() -> Path:
    store = LayoutStore()
    store.ingest_dir.mkdir(parents=True, exist_ok=True)
    return store.ingest_dir / f"{LAYER.split(':')[1]}.partial"


def _plant(kind: str, partial: Path, victim: Path) -> None:
    if kind == "symlink":
        partial.symlink_to(victim)
    elif kind == "hard link":
        os.link(victim, partial)
    elif kind == "directory":
        partial.mkdir()
    elif kind == "fifo":
        os.mkfifo(partial)
    elif kind == "another user's file":
        if os.geteuid() != 0:
            pytest.skip("needs root to make a file of another user")
        partial.write_bytes(b"\0" * (MIB + 5))  # bytes another user chose: never resumed from
        os.chown(partial, NOBODY, NOBODY)


@pytest.mark.parametrize("kind", ["symlink", "hard link", "directory", "fifo", "another user's file"])
def test_a_planted_partial_is_never_written_through_followed_or_waited_on(tmp_path: Path, kind: str) -> None:
    victim = tmp_path / "bashrc"
    victim.write_bytes(b"export PATH=$HOME/bin:$PATH\n" * 40)  # 1120 bytes: a "kept" prefix to resume from
    before = (victim.read_bytes(), victim.stat().st_mode)
    partial = _partial()
    _plant(kind, partial, victim)
    ranges: list[str] = []
    with _serving(ranges) as ref:
        mp.pull(ref, options=PLAIN)
    assert ranges == [""]  # fetched whole: nothing planted was resumed from
    blob = LayoutStore().blob_path(LAYER)
    assert blob.read_bytes() == BLOB and blob.stat().st_nlink == 1
    assert (victim.read_bytes(), victim.stat().st_mode) == before
    assert not os.path.lexists(partial)


def test_a_planted_directory_that_cannot_be_removed_fails_in_one_line(tmp_path: Path) -> None:
    partial = _partial()
    partial.mkdir()
    (partial / "x").write_bytes(b"x")
    with _serving() as ref, pytest.raises(ModelpackError, match="is a directory modelpack did not make; remove it"):
        mp.pull(ref, options=PLAIN)
    assert [p.name for p in partial.iterdir()] == ["x"] and (partial / "x").read_bytes() == b"x"


@pytest.mark.parametrize("kind", ["directory", "symlink", "another user's file, held locked"])
def test_a_planted_fetch_lock_neither_fails_nor_holds_the_pull(tmp_path: Path, kind: str) -> None:
    """Each blob is fetched under a lock file, ingest/<hex>.fetching: something planted there failed the
    pull (a directory, a symlink), or, another user's file held locked by its owner, kept it waiting forever."""
    lock = _partial().with_suffix(".fetching")
    with contextlib.ExitStack() as held:
        if kind == "directory":
            lock.mkdir()
        elif kind == "symlink":
            lock.symlink_to(tmp_path / "elsewhere")
        else:
            if os.geteuid() != 0:
                pytest.skip("needs root to make a file of another user")
            fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o666)
            held.callback(os.close, fd)
            os.fchown(fd, NOBODY, NOBODY)
            fcntl.flock(fd, fcntl.LOCK_EX)
        with _serving() as ref:
            run = modelpack("pull", "--plain-http", ref, timeout=60)
    assert run.code == 0, run.err
    assert "not made by modelpack for this user" in run.err
    assert LayoutStore().blob_path(LAYER).read_bytes() == BLOB
    assert not (tmp_path / "elsewhere").exists()


def test_gc_and_pulls_pass_over_a_fifo_or_directory_in_ingest(tmp_path: Path) -> None:
    """Opening a FIFO for reading waits for a writer: `store gc`, and the sweep each pull starts with, hung."""
    ingest = LayoutStore().ingest_dir
    ingest.mkdir(parents=True)
    os.mkfifo(ingest / "0123abcd.fifo")
    (ingest / "0123abcd.dir").mkdir()
    (ingest / "leftover.0").write_bytes(b"x" * 100)  # a dead process's temp file: swept as before
    gc = modelpack("store", "gc", "--json", timeout=60)
    assert gc.code == 0, gc.err
    assert json.loads(gc.out)["ingestFiles"] == 1, gc.out
    with _serving() as ref:
        mp.pull(ref, options=PLAIN)
    assert LayoutStore().blob_path(LAYER).read_bytes() == BLOB
    assert sorted(p.name for p in ingest.iterdir()) == ["0123abcd.dir", "0123abcd.fifo"]


def _without_root_powers() -> list[str]:
    """A command prefix that lets a child meet file modes as a user does: root's own 0444 file is writable to
    it (CAP_DAC_OVERRIDE) unless that capability is dropped."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("as root, needs setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def test_a_download_stopped_between_read_only_and_its_rename_is_named_by_the_next_pull(
        modelpack_home: Path) -> None:
    """ingest_resumable makes the verified file read-only, then renames it: a kill between the two left a
    file its owner cannot open for writing, and every later pull of the blob failed on it."""
    partial = _partial()
    partial.write_bytes(BLOB)
    partial.chmod(0o444)
    ranges: list[str] = []
    with _serving(ranges) as ref:
        script = ("import modelpack as mp; from modelpack.store import resumable_ingest as r; "
                  f"r.RESUME_MIN_BYTES = {MIB}; mp.pull({ref!r}, options=mp.ClientOptions(plain_http=True))")
        run = subprocess.run([*_without_root_powers(), sys.executable, "-c", script], capture_output=True,
                             text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert ranges == []  # every byte was there already
    blob = LayoutStore().blob_path(LAYER)
    assert blob.read_bytes() == BLOB and stat.S_IMODE(blob.stat().st_mode) == 0o444
    assert not partial.exists()


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """MODELPACK_HOME on an 8 MiB tmpfs (root only; skipped where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small filesystem needs root (and a mount namespace that allows it)")
    try:
        monkeypatch.setenv("MODELPACK_HOME", str(mount / "home"))
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_disk_filled_mid_resume_keeps_what_was_written_for_the_next_pull(small_disk: Path) -> None:
    kept = MIB + 4321
    partial = _partial()
    partial.write_bytes(BLOB[:kept])
    filler = small_disk / "filler"
    ranges: list[str] = []

    def fill_then_send(handler: BaseHTTPRequestHandler) -> None:
        ranges.append(handler.headers.get("Range", ""))
        if len(ranges) == 1:  # another program takes the rest of the disk as the rest arrives
            with open(filler, "wb") as f, contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
        start = int(ranges[-1].removeprefix("bytes=").split("-")[0])
        reply(handler, 206, BLOB[start:], {"Content-Range": f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}"})

    with HostileRegistry() as registry:
        registry.routes[f"GET /v2/a/b/blobs/{LAYER}"] = fill_then_send
        registry.routes[r"^(GET|HEAD) /v2/a/b/"] = serve_content(CONTENT)
        with pytest.raises(OSError) as failed:
            mp.pull(f"{registry.host}/a/b:1", options=PLAIN)
        assert failed.value.errno == errno.ENOSPC, failed.value
        assert partial.read_bytes()[:kept] == BLOB[:kept]  # kept, not thrown away with the failure
        filler.unlink()
        mp.pull(f"{registry.host}/a/b:1", options=PLAIN)
    assert all(r.startswith("bytes=") and int(r[6:].split("-")[0]) >= kept for r in ranges), ranges
    assert LayoutStore().blob_path(LAYER).read_bytes() == BLOB


def test_two_pulls_of_one_blob_the_first_killed_the_second_resumes_its_bytes(
        registry: Registry, proxy: FaultProxy, tmp_path: Path, modelpack_home: Path) -> None:
    ref, weight, digest = push_weight(_repo(registry, proxy), tmp_path, WEIGHT)
    partial = modelpack_home / "ingest" / f"{digest}.partial"
    stall = Fault(f"GET .*/blobs/sha256:{digest}", times=1, stall_after=HELD_AT)
    proxy.faults.append(stall)
    command = [sys.executable, "-m", "modelpack", "pull", "--plain-http", "-v", ref]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = None
    said: list[str] = []
    try:
        _wait_for(lambda: partial.exists() and partial.stat().st_size >= HELD_AT - MIB, "the weight is part-received")
        second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        reader = threading.Thread(target=lambda: said.extend(second.stderr), daemon=True)  # type: ignore[union-attr, arg-type]
        reader.start()
        _wait_for(lambda: any("another process is fetching it" in line for line in said), "the second waits")
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        assert second.wait(timeout=120) == 0, "".join(said)
        reader.join(10)
    finally:
        stall.release.set()
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.communicate()
    gets = [line.split(" ", 2)[2:] for line in proxy.requests("GET", f"/blobs/sha256:{digest}")]
    assert gets[0] == [] and len(gets) == 2, gets  # the first's whole request; the second's, for the rest
    start = int(gets[1][0].split("bytes=")[1].split("-")[0])
    assert HELD_AT - MIB <= start <= HELD_AT, gets
    assert (modelpack_home / "blobs" / "sha256" / digest).read_bytes() == weight
    assert not partial.exists()


@pytest.mark.parametrize("declared", [len(BLOB) + 1000, len(BLOB) - 1000], ids=["larger", "smaller"])
def test_a_manifest_declaring_another_size_for_a_kept_digest_stores_nothing(registry: Registry, declared: int) -> None:
    """A hostile manifest names the digest of a blob whose download was kept, with another size: a real
    registry's answer to the Range asked for from that size (416, or a range of another total) ends in
    the blob fetched whole and refused; nothing is stored under the digest."""
    ref = registry.repo() + ":lie"
    desc, data = raw("w.bin", BLOB)
    publish(ref, [(desc.replace(size=declared), data)])
    partial = LayoutStore().ingest_dir / f"{desc.digest.split(':')[1]}.partial"
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(BLOB[:MIB + 99])
    with pytest.raises(IntegrityError):
        mp.pull(ref, options=PLAIN)
    assert not LayoutStore().blob_path(desc.digest).exists()
    assert hashlib.sha256(BLOB).hexdigest() == desc.digest.split(":")[1]


class _Bytes:
    """A source of bytes that can start mid-way (what `BlobOpener` resumes from): local, no registry."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def open_blob(self, desc: Descriptor) -> io.BytesIO:
        return io.BytesIO(self.data)

    def open_blob_from(self, desc: Descriptor, start: int) -> io.BytesIO:
        return io.BytesIO(self.data[start:])


@pytest.mark.parametrize("size", [len(BLOB), 4096], ids=["resumable", "small"])
def test_a_file_swapped_in_before_the_rename_never_gets_the_blobs_name(tmp_path: Path, size: int) -> None:
    """Whoever can write ingest/ renames a file of their own over the download once its bytes are in and
    verified, before it is named: the store would hold their bytes as the blob, its digest never checked."""
    data = BLOB[:size]
    desc = Descriptor(mediaType="application/octet-stream", digest=digests.of_bytes(data), size=size)
    store = LayoutStore()
    store.ingest_dir.mkdir(parents=True, exist_ok=True)
    victim = tmp_path / "bashrc"
    victim.write_bytes(b"echo hi\n")
    swapped: list[str] = []

    def swap(_: int) -> None:
        names = [p for p in store.ingest_dir.iterdir() if p.name.startswith(desc.digest[7:23]) and
                 not p.name.endswith(".fetching")]
        if names and not swapped and names[0].stat().st_size == size:
            evil = store.ingest_dir / "evil"
            evil.symlink_to(victim)
            os.rename(evil, names[0])
            swapped.append(names[0].name)

    source = _Bytes(data)
    with pytest.raises(IntegrityError, match="was replaced by another file"):
        store.push_blob(desc, BlobOpener(source, desc) if size > MIB else lambda: source.open_blob(desc), swap)
    assert swapped, "the download was never seen in ingest/: the test proves nothing"
    assert not os.path.lexists(store.blob_path(desc.digest))
    assert victim.read_bytes() == b"echo hi\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644


@pytest.mark.parametrize("kind", ["hard link", "fifo"])
def test_pull_into_a_folder_never_writes_through_what_is_planted_in_its_resume_folder(
        tmp_path: Path, kind: str) -> None:
    """`pull -o DIR` keeps its large downloads in .DIR.partial-resume/ beside DIR: the same planted names."""
    out = tmp_path / "out"
    kept = tmp_path / ".out.partial-resume"
    kept.mkdir(mode=0o700)
    victim = tmp_path / "bashrc"
    victim.write_bytes(b"export PATH=$HOME/bin:$PATH\n" * 40)
    before = (victim.read_bytes(), victim.stat().st_mode)
    _plant(kind, kept / f"{LAYER.split(':')[1]}.partial", victim)
    ranges: list[str] = []
    with _serving(ranges) as ref:
        mp.pull(ref, output=out, options=PLAIN)
    assert ranges == [""]
    assert (out / "w.bin").read_bytes() == BLOB and (out / "w.bin").stat().st_nlink == 1
    assert (victim.read_bytes(), victim.stat().st_mode) == before


def test_pull_into_a_folder_does_not_keep_downloads_in_another_users_resume_folder(tmp_path: Path) -> None:
    """Beside DIR may be a shared folder (/tmp, a team volume): .DIR.partial-resume made there first by
    another user is theirs to rename, replace or read from; the blob is received as any other."""
    if os.geteuid() != 0:
        pytest.skip("needs root to make a folder of another user")
    out = tmp_path / "out"
    kept = tmp_path / ".out.partial-resume"
    kept.mkdir(mode=0o777)
    (kept / "theirs").write_bytes(b"x")
    os.chown(kept, NOBODY, NOBODY)
    seen: list[list[str]] = []

    def blob(handler: BaseHTTPRequestHandler) -> None:
        seen.append(sorted(os.listdir(kept)))  # while the blob is received
        reply(handler, 200, BLOB)

    with HostileRegistry() as registry:
        registry.routes[f"GET /v2/a/b/blobs/{LAYER}"] = blob
        registry.routes[r"^(GET|HEAD) /v2/a/b/"] = serve_content(CONTENT)
        mp.pull(f"{registry.host}/a/b:1", output=out, options=PLAIN)
    assert seen == [["theirs"]]
    assert (out / "w.bin").read_bytes() == BLOB
    assert sorted(os.listdir(kept)) == ["theirs"]  # nor are their files swept as our leftovers
