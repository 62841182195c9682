"""Data safety of the local store and of restored files: pulled files are independent of the store,
hard links only on request (read-only), restoring into an existing directory with --force."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import modelpack as mp
from helpers import modelpack, tree
from hostile_artifacts import add, publish, raw
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor
from modelpack.store.layout import LayoutStore
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)


def _model(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def _blob(path: Path) -> Path:
    return LayoutStore().blob_path("sha256:" + hashlib.sha256(path.read_bytes()).hexdigest())


def test_editing_a_pulled_file_leaves_the_store_intact(registry: Registry, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {"w.safetensors": os.urandom(300_000), "config.json": b'{"a": 1}'})
    ref = registry.repo() + ":1"
    mp.push(model, ref, options=PLAIN)
    out = tmp_path / "out"
    assert modelpack("pull", "--plain-http", ref, "-o", str(out), "--keep").code == 0
    blob = _blob(model / "w.safetensors")
    assert os.stat(out / "w.safetensors").st_ino != os.stat(blob).st_ino
    assert stat.S_IMODE(os.stat(blob).st_mode) & 0o222 == 0  # store blobs stay read-only
    with open(out / "w.safetensors", "ab") as f:
        f.write(b"edit")
    # The stored model is still whole: it pushes elsewhere and unpacks to the original files.
    again = modelpack("push", "--plain-http", ref)
    assert again.code == 0, again.err
    assert modelpack("unpack", ref, "-o", str(tmp_path / "again")).code == 0
    assert tree(tmp_path / "again") == tree(model)


def test_link_gives_read_only_hard_links(registry: Registry, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {"w.safetensors": os.urandom(100_000)})
    ref = registry.repo() + ":1"
    mp.push(model, ref, options=PLAIN)
    out = tmp_path / "out"
    result = modelpack("pull", "--plain-http", ref, "-o", str(out), "--link")
    assert result.code == 0, result.err
    blob = _blob(model / "w.safetensors")
    assert os.stat(out / "w.safetensors").st_ino == os.stat(blob).st_ino
    assert stat.S_IMODE(os.stat(out / "w.safetensors").st_mode) & 0o222 == 0
    linked = tmp_path / "linked"
    mp.unpack(ref, linked, link=True)
    assert os.stat(linked / "w.safetensors").st_ino == os.stat(blob).st_ino
    assert tree(linked) == {k: (v[0], 0o444) for k, v in tree(model).items()}


def test_a_damaged_store_blob_is_reported_as_damaged_not_as_a_partial_pull(registry: Registry,
                                                                            tmp_path: Path) -> None:
    # Root can write through a read-only --link output: the shared blob changes size.
    model = _model(tmp_path / "m", {"w.safetensors": os.urandom(100_000), "README.md": b"# r\n"})
    ref = registry.repo() + ":1"
    mp.push(model, ref, options=PLAIN)
    assert modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "out"), "--link").code == 0
    blob = _blob(model / "README.md")
    os.chmod(blob, 0o644)
    with open(blob, "ab") as f:
        f.write(b"edited\n")
    result = modelpack("unpack", ref, "-o", str(tmp_path / "again"))
    assert result.code == 6, result.err
    assert "damaged" in result.err and "store check --repair" in result.err and "partial" not in result.err
    assert not (tmp_path / "again").exists() or not any((tmp_path / "again").iterdir())


def test_force_replaces_only_files_that_differ(registry: Registry, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {"same.bin": b"same bytes", "changed.bin": b"new bytes",
                                    "sub/added.txt": b"added"})
    ref = registry.repo() + ":1"
    mp.push(model, ref, options=PLAIN)
    out = _model(tmp_path / "out", {"same.bin": b"same bytes", "changed.bin": b"old", "mine.txt": b"keep"})
    same_inode = os.stat(out / "same.bin").st_ino
    refused = modelpack("pull", "--plain-http", ref, "-o", str(out))
    assert refused.code == 2 and "--force" in refused.err, refused.err
    assert not LayoutStore().blobs.exists() or not list(LayoutStore().blobs.rglob("*/*")), "refused before download"
    result = modelpack("pull", "--plain-http", ref, "-o", str(out), "--force")
    assert result.code == 0, result.err
    assert (out / "changed.bin").read_bytes() == b"new bytes"
    assert (out / "sub" / "added.txt").read_bytes() == b"added"
    assert (out / "mine.txt").read_bytes() == b"keep"  # not in the artifact: left alone
    assert os.stat(out / "same.bin").st_ino == same_inode  # equal: not rewritten
    assert sorted(p.name for p in out.iterdir()) == ["changed.bin", "mine.txt", "modelpack.yaml", "same.bin", "sub"]
    # Said as it happened: two files written, one left (was "restored 3 files").
    assert f"restored 2 files into {out} (1 already the model's, left as they were)" in result.err
    again = modelpack("pull", "--plain-http", "--json", ref, "-o", str(out), "--force")
    assert again.code == 0, again.err
    assert json.loads(again.out)["unchanged"] == ["changed.bin", "same.bin", "sub/added.txt"]
    assert modelpack("pull", "--plain-http", ref).code == 0  # into the local store, then unpack: the same words
    unpacked = modelpack("unpack", ref, "-o", str(out), "--force")
    assert unpacked.code == 0, unpacked.err
    assert unpacked.out.strip() == f"restored 0 files into {out} (3 already the model's, left as they were)"


def test_force_checks_every_target_before_replacing_any(registry: Registry, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {"a.bin": b"new a", "b.bin": b"new b"})
    ref = registry.repo() + ":1"
    mp.pull(mp.push(model, ref, options=PLAIN).reference, options=PLAIN)
    out = _model(tmp_path / "out", {"a.bin": b"old a", "b.bin/inside": b"a folder where a file goes"})
    result = modelpack("unpack", ref, "-o", str(out), "--force")
    assert result.code == 2 and "b.bin" in result.err, result.err
    assert (out / "a.bin").read_bytes() == b"old a"  # nothing was replaced
    assert sorted(p.name for p in out.iterdir()) == ["a.bin", "b.bin"]  # no staging left behind
    refused = modelpack("unpack", ref, "-o", str(out))
    assert refused.code == 2 and "not empty" in refused.err


TAR_GZIP = "application/vnd.cncf.model.weight.v1.tar+gzip"
MIB = 1024 * 1024


def _archive_layer(data: bytes, media_type: str = TAR_GZIP) -> tuple[Descriptor, bytes]:
    return Descriptor(mediaType=media_type, digest=digests.of_bytes(data), size=len(data),
                      annotations={"org.cncf.model.filepath": "folder"}), data


def _gzip_bomb(unpacked: int) -> bytes:
    """A tar+gzip layer of ~1/1000 its unpacked size: one file of zeros, as concatenated gzip members."""
    info = tarfile.TarInfo("zeros.bin")
    info.size = unpacked
    zeros = gzip.compress(b"\0" * MIB, 9)
    return gzip.compress(info.tobuf(tarfile.GNU_FORMAT)) + zeros * (unpacked // MIB) + gzip.compress(b"\0" * 1024)


def _many_entries(count: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for i in range(count):
            add(tar, f"d/{i}.txt", b"")
    return buffer.getvalue()


def _pull_refused(ref: str, tmp_path: Path, env: dict[str, str] | None = None) -> str:
    out = tmp_path / "work" / "out"
    out.parent.mkdir()
    result = modelpack("pull", "--plain-http", ref, "-o", str(out), env=env)
    assert result.code == 6, result.err
    assert len(result.err.strip().splitlines()) == 1
    assert list(out.parent.iterdir()) == []  # nothing written, no staging left
    return result.err


def test_a_gzip_bomb_is_refused_before_it_is_written(registry: Registry, tmp_path: Path) -> None:
    ref = registry.repo() + ":bomb"
    layer = _archive_layer(_gzip_bomb(2 * 1024 * MIB))
    assert layer[0].size < 3 * MIB
    publish(ref, [layer])
    err = _pull_refused(ref, tmp_path)
    assert "MODELPACK_ARCHIVE_MAX_RATIO" in err and "unpacks to more than" in err


def test_archive_entry_count_is_capped_and_configurable(registry: Registry, tmp_path: Path) -> None:
    ref = registry.repo() + ":many"
    publish(ref, [_archive_layer(_many_entries(1500))])
    err = _pull_refused(ref, tmp_path, env={"MODELPACK_ARCHIVE_MAX_ENTRIES": "1000"})
    assert "more than 1000 archive entries" in err and "MODELPACK_ARCHIVE_MAX_ENTRIES" in err
    assert len(mp.pull(ref, output=tmp_path / "default", options=PLAIN).files) == 1500  # under the default limit


def test_a_huge_tar_metadata_record_is_refused(registry: Registry, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("a.txt")
        info.pax_headers = {"comment": "x" * (3 * MIB)}
        tar.addfile(info, io.BytesIO(b""))
    ref = registry.repo() + ":pax"
    publish(ref, [_archive_layer(buffer.getvalue())])
    assert "metadata record" in _pull_refused(ref, tmp_path)


def test_declared_sizes_that_cannot_fit_are_refused_before_writing(registry: Registry, tmp_path: Path) -> None:
    ref = registry.repo() + ":huge"
    desc, data = raw("w.bin")
    repo = mp.remote(mp.Reference.parse(ref), PLAIN)
    repo.push_blob(desc, lambda: io.BytesIO(data))
    publish(ref, [(desc.replace(size=10**15), data)])
    result = modelpack("pull", "--plain-http", ref)
    assert result.code == 1, result.err
    assert "not enough free space" in result.err and "909.5 TiB" in result.err and "available" in result.err
    assert len(result.err.strip().splitlines()) == 1
    store = LayoutStore()
    # Where, and the fix, as a disk found full while writing says them (it named neither).
    assert result.err.endswith(f"available (the local store MODELPACK_HOME={store.root}): free space there, or "
                               "write elsewhere (set MODELPACK_HOME to move the store)\n"), result.err
    assert not list(store.blobs.rglob("*/*")) and not list(store.ingest_dir.glob("*"))


def test_pull_o_keep_counts_the_output_copy_too(registry: Registry, tmp_path: Path) -> None:
    # A declared size that fits on the disk once but not twice (store blob + restored copy, one disk).
    size = int(shutil.disk_usage(tmp_path).free * 0.6)
    ref = registry.repo() + ":twice"
    desc, data = raw("w.bin")
    mp.remote(mp.Reference.parse(ref), PLAIN).push_blob(desc, lambda: io.BytesIO(data))
    publish(ref, [(desc.replace(size=size), data)])
    refused = modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "out"), "--keep")
    assert refused.code == 1 and "not enough free space" in refused.err, refused.err
    for once in (["-o", str(tmp_path / "files")], []):  # files only, or the store only: it fits once
        alone = modelpack("pull", "--plain-http", ref, *once)  # (then the size lie is caught)
        assert alone.code != 0 and "free space" not in alone.err, alone.err
    assert not (tmp_path / "files").exists() and not list(tmp_path.glob(".files*"))


def test_pull_o_that_cannot_fit_is_refused_before_a_byte_is_received(registry: Registry, tmp_path: Path) -> None:
    ref = registry.repo() + ":toobig"
    desc, data = raw("w.bin")
    mp.remote(mp.Reference.parse(ref), PLAIN).push_blob(desc, lambda: io.BytesIO(data))
    publish(ref, [(desc.replace(size=int(shutil.disk_usage(tmp_path).free * 1.5)), data)])
    refused = modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "out"))
    assert refused.code == 1 and "not enough free space" in refused.err, refused.err
    assert refused.err.endswith("available: free space there, or write elsewhere (give -o a folder on another "
                                "filesystem)\n"), refused.err  # (not MODELPACK_HOME: the store takes none of it)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


HOLD = """
import sys, time
from pathlib import Path
from modelpack.store.layout import LayoutStore
store = LayoutStore(Path(sys.argv[1]))
if sys.argv[2] == "ingest":
    fd, tmp = store.open_ingest("abc")
    import os; os.write(fd, b"x" * 1000)
    print(tmp, flush=True)
    time.sleep(60)
else:
    with store.writing():
        print("writing", flush=True)
        time.sleep(60)
"""


def _holder(store: LayoutStore, what: str) -> tuple[subprocess.Popen[str], str]:
    """Another process writing to the store: an ingest file in progress, or a copy under way."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(store.root), what], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def test_gc_frees_killed_transfers_and_unused_blobs_but_spares_live_writers(tmp_path: Path) -> None:
    store = LayoutStore()
    killed, leftover = _holder(store, "ingest")
    killed.kill()
    killed.wait()
    live, in_progress = _holder(store, "ingest")
    try:
        unused = os.urandom(5000)
        store.put_bytes(Descriptor(mediaType="application/octet-stream", digest=digests.of_bytes(unused),
                                   size=len(unused)), unused)
        writer, _ = _holder(store, "writing")  # a pull whose blobs the index does not name yet
        try:
            busy = modelpack("store", "gc", "--json")
            assert busy.code == 0, busy.err
            assert json.loads(busy.out) == {"freed": 1000, "blobs": 0, "blobBytes": 0, "ingestFiles": 1,
                                            "ingestBytes": 1000, "busy": True}
            assert not Path(leftover).exists() and Path(in_progress).exists()
            assert list(store.blobs.rglob("*/*"))  # left while the copy runs
        finally:
            writer.kill()
            writer.wait()
        done = modelpack("store", "gc")
        assert done.code == 0, done.err
        assert "freed 4.9 KiB: 1 unused blob, 0 unfinished downloads" in done.out
        assert not list(store.blobs.rglob("*/*")) and Path(in_progress).exists()
    finally:
        live.kill()
        live.wait()


def test_rm_also_clears_killed_transfers(registry: Registry, tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {"w.safetensors": os.urandom(1000)})
    ref = registry.repo() + ":1"
    mp.pull(mp.push(model, ref, options=PLAIN).reference, options=PLAIN)
    killed, leftover = _holder(LayoutStore(), "ingest")
    killed.kill()
    killed.wait()
    assert modelpack("rm", ref).code == 0
    assert not Path(leftover).exists()


def test_gc_forgets_where_deleted_blobs_came_from(registry: Registry, tmp_path: Path) -> None:
    store = LayoutStore()
    model = _model(tmp_path / "m", {"w.safetensors": os.urandom(1000), "config.json": b"{}"})
    ref = registry.repo() + ":1"
    first = mp.pack(model, ref).model.manifest
    mp.push(ref, options=PLAIN)  # records where the store's blobs now also are
    old = {first.config.digest, *(layer.digest for layer in first.layers)} - {_digest_of(model / "config.json")}
    streamed = _model(tmp_path / "s", {"x.safetensors": os.urandom(1000)})
    mp.push(streamed, registry.repo() + ":1", options=PLAIN)  # never in the store: a mount hint only
    (model / "w.safetensors").write_bytes(os.urandom(1000))
    mp.pack(model, ref)  # the old weight is now used by no model
    mp.push(ref, options=PLAIN)
    origins_file = store.root / "origins.json"
    before = store.origins()
    assert old <= set(before)
    reader = origins_file.open("rb")  # a reader of the file as it was, while gc rewrites it
    try:
        assert "3 unused blobs" in modelpack("store", "gc").out  # the old weight, config and manifest
        assert json.loads(reader.read()) == before  # replaced by a rename, not rewritten in place
    finally:
        reader.close()
    after = store.origins()
    assert set(before) - set(after) == old  # the current model's and the streamed push's stay
    assert not [p.name for p in store.root.iterdir() if p.name.startswith(".origins.json")]  # no temp left
    current, kept = _digest_of(model / "w.safetensors"), _digest_of(streamed / "x.safetensors")
    assert {current, kept} <= set(after)
    assert modelpack("rm", ref).code == 0  # rm's own collection forgets its blobs' origins too
    assert current not in store.origins() and kept in store.origins()


def _digest_of(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_store_check_finds_corruption_and_names_the_models_to_pull_again(registry: Registry,
                                                                        tmp_path: Path) -> None:
    model = _model(tmp_path / "m", {"w.safetensors": os.urandom(100_000), "config.json": b"{}"})
    ref = registry.repo() + ":1"
    mp.pull(mp.push(model, ref, options=PLAIN).reference, options=PLAIN)
    assert modelpack("store", "check").code == 0
    blob = _blob(model / "w.safetensors")
    os.chmod(blob, 0o644)
    with open(blob, "ab") as f:
        f.write(b"edit")
    found = modelpack("store", "check", "--json")
    assert found.code == 6, found.err
    report = json.loads(found.out)
    digest = "sha256:" + blob.name
    assert report["corrupt"] == [digest] and report["repull"] == {ref: [digest]} and not report["ok"]
    repaired = modelpack("store", "check", "--repair")
    assert repaired.code == 6 and f"needs a re-pull: {ref}" in repaired.out, repaired.out + repaired.err
    assert not blob.exists()
    mp.pull(ref, options=PLAIN)
    healthy = modelpack("store", "check")
    assert healthy.code == 0 and "checked 4 blobs" in healthy.out, healthy.out + healthy.err


def test_a_digest_naming_a_huge_blob_is_not_read_whole(tmp_path: Path) -> None:
    # `inspect REPO@<digest of a weight file>`: only the first 4 MiB may be read to see it is no manifest.
    store = LayoutStore()
    digest = "sha256:" + "ab" * 32
    store.blob_path(digest).parent.mkdir(parents=True)
    with open(store.blob_path(digest), "wb") as f:
        f.truncate(3 << 30)  # sparse: 3 GiB of zeros that take no disk
    limit = "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); " \
            "sys.argv = ['modelpack', 'inspect', 'example.com/x/y@" + digest + "']; runpy.run_module('modelpack')"
    result = subprocess.run([sys.executable, "-c", limit], capture_output=True, text=True, timeout=120)
    assert result.returncode == 6 and "over the" in result.stderr, result.stderr[-500:]
