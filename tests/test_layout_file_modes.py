"""Files written for others to read follow the user's umask, as any program's new files do: an `oci:` layout's
index.json and oci-layout were left 0600 (the temporary file's mode) while its blobs were readable, so another
user (a registry serving the folder, skopeo or CRI-O run as someone else) could not open the layout; and a pulled
folder's modelpack.yaml was 0644 whatever the umask said. `pull -o` restores each file's recorded mode less the
umask (as tar run by a user does), makes folders as mkdir does, and keeps an empty output folder's own mode."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from registry_process import Registry


def _run(umask: int, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "modelpack", *args], capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: os.umask(umask))  # only os.umask, in the child before exec
    assert done.returncode == 0, done.stderr


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077], ids=oct)
def test_a_layout_and_a_pulled_folder_follow_the_umask(tmp_path: Path, umask: int) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.safetensors").write_bytes(b"w" * 100)
    layout = tmp_path / "layout"
    _run(umask, "push", str(model), f"oci:{layout}:1")
    for name in ("index.json", "oci-layout"):
        assert _mode(layout / name) == 0o666 & ~umask, name
    out = tmp_path / "out"
    _run(umask, "pull", f"oci:{layout}:1", "-o", str(out))
    assert _mode(out / "modelpack.yaml") == 0o666 & ~umask


def _model(folder: Path, archives: bool) -> Path:
    """A model whose files record 0644, 0755 and 0600, in nested folders; with `archives`, one folder packed as a
    gzip tar layer (so `pull -o` unpacks after the download instead of receiving each file at its path)."""
    (folder / "sub" / "deep").mkdir(parents=True)
    (folder / "w.safetensors").write_bytes(b"w" * 100)
    (folder / "sub" / "deep" / "t.bin").write_bytes(b"t" * 50)
    (folder / "run.sh").write_text("#!/bin/sh\n")
    (folder / "run.sh").chmod(0o755)
    (folder / "sub" / "private.txt").write_text("p")
    (folder / "sub" / "private.txt").chmod(0o600)
    if archives:
        (folder / "tok" / "inner").mkdir(parents=True)
        (folder / "tok" / "inner" / "v.json").write_text("{}")
        (folder / "modelpack.yaml").write_text("name: m\nfiles:\n  archives: [tok]\n  compress: gzip\n")
    return folder


@pytest.mark.parametrize("archives", [False, True], ids=["files", "archive"])
@pytest.mark.parametrize("umask", [0o022, 0o077], ids=oct)
def test_pull_o_gives_every_file_and_folder_the_umask_s_modes(registry: Registry, tmp_path: Path, umask: int,
                                                               archives: bool) -> None:
    # Files were given their recorded mode as it was (0644 under umask 077) and the output folder 0755.
    model = _model(tmp_path / "m", archives)
    ref = f"{registry.repo()}:1"
    _run(0o022, "push", "--plain-http", str(model), ref)
    out, kept = tmp_path / "out", tmp_path / "kept"
    kept.mkdir()
    kept.chmod(0o750)  # an empty folder of the user's: its mode is the user's choice
    for folder in (out, kept):
        _run(umask, "pull", "--plain-http", ref, "-o", str(folder))
    recorded = {"w.safetensors": 0o644, "sub/deep/t.bin": 0o644, "run.sh": 0o755, "sub/private.txt": 0o600,
                "modelpack.yaml": 0o666}
    if archives:
        recorded["tok/inner/v.json"] = 0o644
    for folder in (out, kept):
        found = {str(p.relative_to(folder)): _mode(p) for p in folder.rglob("*")}
        folders = {name for name in found if (folder / name).is_dir()}
        assert {name: found[name] for name in found if name not in folders} == \
            {name: mode & ~umask for name, mode in recorded.items()}, folder
        assert {name: found[name] for name in folders} == {name: 0o777 & ~umask for name in folders}, folder
        assert folders >= {"sub", "sub/deep"}
    assert (_mode(out), _mode(kept)) == (0o777 & ~umask, 0o750)
