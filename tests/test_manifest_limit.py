"""A model of more files than a manifest can name (registries take 4 MiB of manifest) is refused before
anything is hashed or sent, with the fix named; the fix (the folder as one archive layer) then pushes
and pulls it."""

from __future__ import annotations

from pathlib import Path

from fault_proxy import FaultProxy
from helpers import modelpack
from registry_process import Registry

FILES = 10_000  # ~480 bytes of manifest each: 4.6 MiB


def _many_files(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    for i in range(FILES):
        (root / "data" / f"part-{i:05d}.json").write_text(f'{{"row": {i}}}\n')
    (root / "model.safetensors").write_bytes(b"weights")
    return root


def test_too_many_files_are_refused_before_anything_is_sent(registry: Registry, proxy: FaultProxy,
                                                             tmp_path: Path) -> None:
    model = _many_files(tmp_path / "m")
    ref = proxy.host + "/" + registry.repo().split("/", 1)[1] + ":v1"
    proxy.clear()

    pushed = modelpack("push", str(model), ref, "--plain-http")

    assert pushed.code == 2, pushed.err
    lines = pushed.err.strip().splitlines()
    assert len(lines) == 1 and "over the 4 MiB registries accept" in lines[0], pushed.err
    assert "files: {archives: [FOLDER]}" in lines[0] and "data/ 10,000 files" in lines[0], pushed.err
    assert "(top level) 1 file)" in lines[0], pushed.err
    assert proxy.requests("POST") == [] and proxy.requests("PUT") == []  # no blob, no manifest

    packed = modelpack("pack", str(model), "-t", "many:v1")
    assert packed.code == 2 and "data/ 10,000 files" in packed.err, packed.err
    assert "many" not in modelpack("ls").out  # nothing stored


def test_the_named_fix_pushes_and_pulls_the_folder_as_one_layer(registry: Registry, proxy: FaultProxy,
                                                                tmp_path: Path) -> None:
    model = _many_files(tmp_path / "m")
    (model / "modelpack.yaml").write_text("files: {archives: [data]}\n")
    ref = proxy.host + "/" + registry.repo().split("/", 1)[1] + ":v1"
    proxy.clear()

    pushed = modelpack("push", str(model), ref, "--plain-http")
    assert pushed.code == 0, pushed.err
    assert len(proxy.requests("PUT", "/blobs/uploads/")) == 3  # the folder, the weights, the config

    out = tmp_path / "out"
    pulled = modelpack("pull", ref, "-o", str(out), "--plain-http")
    assert pulled.code == 0, pulled.err
    assert len(list((out / "data").iterdir())) == FILES
    assert (out / "data" / "part-04321.json").read_text() == '{"row": 4321}\n'


def test_an_archive_over_the_entries_a_pull_takes_is_refused_at_pack_and_the_named_split_works(
        registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    # A pull refuses an archive of more than MODELPACK_ARCHIVE_MAX_ENTRIES entries (100,000): pack must
    # not make one. The limit is lowered here so a few files show it.
    limit = {"MODELPACK_ARCHIVE_MAX_ENTRIES": "10"}
    model = tmp_path / "m"
    for group in ("a", "b"):
        (model / "data" / group).mkdir(parents=True)
        for i in range(6):
            (model / "data" / group / f"{i}.txt").write_text(f"{group}{i}\n")
    (model / "modelpack.yaml").write_text("files: {archives: [data]}\n")
    ref = proxy.host + "/" + registry.repo().split("/", 1)[1] + ":v1"
    proxy.clear()

    pushed = modelpack("push", str(model), ref, "--plain-http", env=limit)

    assert pushed.code == 2, pushed.err
    assert pushed.err.count("\n") == 1 and "data/ holds 15 files and folders" in pushed.err, pushed.err
    assert "MODELPACK_ARCHIVE_MAX_ENTRIES" in pushed.err and "data/a 7" in pushed.err, pushed.err
    assert proxy.requests("POST") == [] and proxy.requests("PUT") == []
    assert modelpack("pack", str(model), "-t", "many:v1", env=limit).code == 2

    (model / "modelpack.yaml").write_text("files: {archives: [data/a, data/b]}\n")
    assert modelpack("push", str(model), ref, "--plain-http", env=limit).code == 0
    pulled = modelpack("pull", ref, "-o", str(tmp_path / "out"), "--plain-http", env=limit)
    assert pulled.code == 0, pulled.err
    assert (tmp_path / "out" / "data" / "b" / "5.txt").read_text() == "b5\n"
