"""Two pulls into one empty folder: the second to finish found it filled by the first between its check
and its rename, and failed with `error: Directory not empty` (exit 1), even with --force (2 of 20 runs of
two concurrent `pull -o DIR --force`). Now --force merges into it, and without it the error says what
happened (exit 2). The other process is played here by the blob source, which fills the folder when the
first blob is asked for: exactly inside that window, every time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import modelpack as mp
from modelpack.errors import UsageError
from modelpack.oci.descriptor import Descriptor, Manifest, parse_manifest
from modelpack.oci.reference import Reference
from modelpack.store.layout import LayoutStore
from modelpack.streams import ByteStream
from modelpack.unpacking import unpack_manifest


class _FilledMeanwhile:
    """The local store's blobs; asking for the first one fills `output` (another pull finishing)."""

    def __init__(self, store: LayoutStore, output: Path) -> None:
        self.store, self.output, self.filled = store, output, False

    def open_blob(self, desc: Descriptor) -> ByteStream:
        return self.store.open_blob(desc)

    def verified_path(self, desc: Descriptor) -> Path | None:
        if not self.filled:
            (self.output / "theirs.txt").write_text("the other pull's\n")
            self.filled = True
        return self.store.verified_path(desc)


def _packed(tmp_path: Path) -> tuple[Manifest, LayoutStore, dict[str, bytes]]:
    model = tmp_path / "m"
    model.mkdir()
    files = {"w.safetensors": os.urandom(100_000), "config.json": b'{"a": 1}'}
    for name, data in files.items():
        (model / name).write_bytes(data)
    mp.pack(model, "local/m:1")
    store = LayoutStore()
    manifest = parse_manifest(store.read_blob_bytes(store.resolve(Reference.parse("local/m:1"))))
    assert isinstance(manifest, Manifest)
    return manifest, store, files


def test_force_merges_into_a_folder_another_pull_filled(tmp_path: Path) -> None:
    manifest, store, files = _packed(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    unpack_manifest(manifest, _FilledMeanwhile(store, out), out, force=True)
    assert sorted(p.name for p in out.iterdir()) == sorted([*files, "theirs.txt"])
    assert all((out / name).read_bytes() == data for name, data in files.items())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_without_force_the_second_pull_says_what_happened_and_writes_nothing(tmp_path: Path) -> None:
    manifest, store, _ = _packed(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UsageError, match="filled by another process while this one ran; nothing was written"):
        unpack_manifest(manifest, _FilledMeanwhile(store, out), out)
    assert [p.name for p in out.iterdir()] == ["theirs.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("force", [True, False])
def test_files_received_at_their_paths_meet_a_folder_filled_meanwhile_the_same_way(tmp_path: Path,
                                                                                   force: bool) -> None:
    # `pull -o` into a new output receives each file at its path in a hidden folder (staged_files), renamed
    # to be the output at the end: that rename meets the other pull's files as unpacking's does.
    from modelpack.store.directory import DirectoryTarget

    manifest, store, files = _packed(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    target = DirectoryTarget(manifest, out, force=force)
    try:
        target.prepare_blobs([manifest.config, *manifest.layers])
        for blob in [manifest.config, *manifest.layers]:
            assert target.accept_bytes(blob, store.read_blob_bytes(blob))
        (out / "theirs.txt").write_text("the other pull's\n")
        if force:
            target.push_manifest(manifest.config, b"")
            assert sorted(p.name for p in out.iterdir()) == sorted([*files, "theirs.txt"])
            assert all((out / name).read_bytes() == data for name, data in files.items())
        else:
            with pytest.raises(UsageError, match="filled by another process while this one ran; nothing was written"):
                target.push_manifest(manifest.config, b"")
            assert [p.name for p in out.iterdir()] == ["theirs.txt"]
    finally:
        target.close()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no hidden folder left
