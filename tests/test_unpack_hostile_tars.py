"""Tar layers that write one path twice, a file where a folder goes, sparse maps or impossible times:
refused (or restored) in one line, nothing half-written, and never written through a link into the store."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import modelpack
from hostile_artifacts import add, publish, raw, tar_layer
from modelpack.oci import digest as digests
from registry_process import Registry

_Layers = Callable[[], list]

REFUSED: dict[str, _Layers] = {
    # an archive entry over a raw file layer's file (the reverse order was already refused)
    "raw-then-tar": lambda: [raw("folder/a.txt", b"raw"), tar_layer(lambda t: add(t, "folder/a.txt", b"tar"))],
    "one-tar-twice": lambda: [tar_layer(lambda t: (add(t, "d.txt", b"1"), add(t, "d.txt", b"2")))],
    "two-tars": lambda: [tar_layer(lambda t: add(t, "f/a", b"1"), "f"), tar_layer(lambda t: add(t, "f/a", b"2"), "g")],
    "file-then-folder": lambda: [tar_layer(lambda t: (add(t, "x", b"f"), add(t, "x", kind=tarfile.DIRTYPE)))],
    "file-under-file": lambda: [tar_layer(lambda t: (add(t, "x", b"f"), add(t, "x/y")))],
    # tarfile reads a sparse map whole from the entry's data, unbounded; a malformed one raised ValueError
    "sparse-1.0-malformed": lambda: [tar_layer(lambda t: add(t, "big", b"", pax={
        "GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "big",
        "GNU.sparse.realsize": str(10**15)}))],
    "sparse-0.1": lambda: [tar_layer(lambda t: add(t, "big", b"x", pax={"GNU.sparse.map": "0,1",
                                                                            "GNU.sparse.size": "1"}))],
    "sparse-gnu": lambda: [tar_layer(lambda t: add(t, "big", kind=tarfile.GNUTYPE_SPARSE),
                                     tar_format=tarfile.GNU_FORMAT)],
}


@pytest.mark.parametrize("force", [False, True], ids=["new", "force"])
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_an_archive_writing_a_path_twice_or_sparse_is_refused_and_nothing_written(
        registry: Registry, tmp_path: Path, case: str, force: bool) -> None:
    ref = registry.repo() + ":evil"
    publish(ref, REFUSED[case]())
    out = tmp_path / "out"
    if force:  # merging into a folder of the user's
        out.mkdir()
        (out / "keep").write_text("mine")
    result = modelpack("pull", "--plain-http", ref, "-o", str(out), *(["--force"] if force else []))
    assert result.code == 6, result.err
    assert result.err.startswith("error: refused") and len(result.err.strip().splitlines()) == 1, result.err
    assert not case.startswith("sparse") or "entry 'big': sparse" in result.err  # the file, not its pax header
    assert sorted(p.name for p in tmp_path.iterdir()) == (["out"] if force else [])  # no staging folder left
    assert not force or [p.name for p in out.iterdir()] == ["keep"]


def test_unpack_link_never_writes_an_archive_entry_into_a_store_blob(registry: Registry, tmp_path: Path) -> None:
    # --link hard-links a raw layer's file to its blob; tarfile opened the same path to write the entry.
    ref = registry.repo() + ":evil"
    publish(ref, REFUSED["raw-then-tar"]())
    assert modelpack("pull", "--plain-http", ref).code == 0
    result = modelpack("unpack", ref, "-o", str(tmp_path / "out"), "--link")
    assert result.code == 6 and "'folder/a.txt' is written twice" in result.err, result.err
    blob = Path(os.environ["MODELPACK_HOME"], "blobs", *digests.of_bytes(b"raw").split(":"))
    assert blob.read_bytes() == b"raw"


@pytest.mark.parametrize("mtime", ["nan", "1e300", "-1e300"])
def test_an_entry_with_a_time_no_clock_holds_is_restored(registry: Registry, tmp_path: Path, mtime: str) -> None:
    ref = registry.repo() + ":odd-time"
    publish(ref, [tar_layer(lambda t: add(t, "folder/w.bin", b"weights", pax={"mtime": mtime}))])
    out = tmp_path / "out"
    result = modelpack("pull", "--plain-http", ref, "-o", str(out))
    assert result.code == 0, result.err
    assert (out / "folder" / "w.bin").read_bytes() == b"weights"


def test_a_tar_made_in_its_folder_restores_without_its_dot_entry(registry: Registry, tmp_path: Path) -> None:
    # `tar -C model -cf - .` begins with "./", the folder itself: nothing to write, not an unsafe path.
    ref = registry.repo() + ":dot"
    publish(ref, [tar_layer(lambda t: (add(t, "./", kind=tarfile.DIRTYPE), add(t, "./sub", kind=tarfile.DIRTYPE),
                                       add(t, "./sub/w.bin", b"weights")), path="sub")])
    out = tmp_path / "out"
    result = modelpack("pull", "--plain-http", ref, "-o", str(out))
    assert result.code == 0, result.err
    assert (out / "sub" / "w.bin").read_bytes() == b"weights"


@pytest.mark.parametrize("force", [False, True], ids=["new", "force"])
def test_an_entry_named_with_backslashes_is_written_where_it_is_listed(registry: Registry, tmp_path: Path,
                                                                       force: bool) -> None:
    # Its path was checked and listed as dir/file.txt (as a file layer's is), but written as one file named
    # "dir\file.txt"; merging (--force) then found nothing to move, failed and left "dir" behind.
    ref = registry.repo() + ":windows"
    publish(ref, [tar_layer(lambda t: add(t, "dir\\file.txt", b"weights"), path="dir")])
    out = tmp_path / "out"
    if force:
        out.mkdir()
    result = modelpack("pull", "--plain-http", ref, "-o", str(out), *(["--force"] if force else []))
    assert result.code == 0, result.err
    assert (out / "dir" / "file.txt").read_bytes() == b"weights"
    assert not (out / "dir\\file.txt").exists()
