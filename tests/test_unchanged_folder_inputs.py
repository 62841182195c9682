"""The record of an unchanged folder (unchanged_folder) is kept under exactly what its manifest was built from:
modelpack.yaml or the git revision changed during a push and put back, or modelpack's own code changed under
the same version, must not leave a record that answers the next push with another manifest's digest. And
changes made through links and other names of a file are seen (these held before; kept as checks)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import modelpack as mp
from helpers import git as _git
from modelpack.store.layout import LayoutStore
from registry_process import Registry
from test_unchanged_folder import PLAIN, SETTLED, _own_git_and_epoch  # noqa: F401 (an autouse fixture)


def _model(root: Path) -> Path:
    """A small model with a `.DS_Store`: describing it says so through `warn`, between the record's
    fingerprint and the metadata's building (a hook to change the folder at that moment)."""
    (root / "blobs").mkdir(parents=True)
    (root / "blobs" / "a").write_bytes(os.urandom(5000))
    (root / "blobs" / "b").write_bytes(os.urandom(5000))
    os.symlink("blobs/a", root / "w.safetensors")
    (root / ".DS_Store").write_bytes(b"x")
    (root / "modelpack.yaml").write_text("description: first\n")
    time.sleep(SETTLED)
    return root


def _fresh(registry: Registry, model: Path, tmp_path: Path, ref: str) -> str:
    """What a first push of the folder as it is now gives, from a store that never saw it (same last name)."""
    where = f"{registry.repo().rsplit('/', 1)[0]}/fresh{time.time_ns()}/{ref.rsplit('/', 1)[1]}"
    store = LayoutStore(tmp_path / f"fresh-store-{time.time_ns()}")
    return mp.push(model, where, options=PLAIN, store=store).descriptor.digest


def test_metadata_edited_during_a_push_and_put_back_is_pushed_as_it_is(registry: Registry, tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    ref = registry.repo() + ":v1"

    def edit(_: str) -> None:  # after the record's fingerprint, before the metadata is read
        (model / "modelpack.yaml").write_text("description: second\n")

    mp.push(model, ref, options=PLAIN, warn=edit)
    (model / "modelpack.yaml").write_text("description: first\n")  # put back, byte for byte
    again = mp.push(model, ref, options=PLAIN, warn=lambda _: None)
    assert again.descriptor.digest == _fresh(registry, model, tmp_path, ref)
    assert mp.inspect(ref, options=PLAIN, remote_only=True).metadata["description"] == "first"


def test_a_revision_moved_during_a_push_and_back_is_pushed_as_it_is(registry: Registry, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    model = _model(repo / "m")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first")
    revision = _git(repo, "rev-parse", "HEAD")
    ref = registry.repo() + ":v1"

    def commit(_: str) -> None:  # after the record's fingerprint, before the metadata is built
        (repo / "README").write_text("outside the model's folder: only the revision moves\n")
        _git(repo, "add", "README")
        _git(repo, "commit", "-q", "-m", "second")

    mp.push(model, ref, options=PLAIN, warn=commit)
    _git(repo, "reset", "-q", "--hard", revision)
    time.sleep(SETTLED)
    again = mp.push(model, ref, options=PLAIN, warn=lambda _: None)
    assert again.descriptor.digest == _fresh(registry, model, tmp_path, ref)
    assert mp.inspect(ref, options=PLAIN, remote_only=True).metadata["revision"] == revision


_PUSH = ("import json, sys, modelpack as mp\n"
         "from modelpack.store.layout import LayoutStore\n"
         "from modelpack.store.options import ClientOptions\n"
         "from pathlib import Path\n"
         "store = LayoutStore(Path(sys.argv[3])) if len(sys.argv) > 3 else None\n"
         "r = mp.push(sys.argv[1], sys.argv[2], options=ClientOptions(plain_http=True), store=store)\n"
         "print(json.dumps([r.descriptor.digest, r.copied, mp.__file__]))\n")


def test_modelpack_code_changed_under_the_same_version_packs_again(registry: Registry, tmp_path: Path) -> None:
    package = tmp_path / "code"
    shutil.copytree(Path(mp.__file__).parent, package / "modelpack", ignore=shutil.ignore_patterns("__pycache__"))
    # Not measured by coverage (the copy is no source of ours, and it is gone when the report is made).
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_PROCESS_")}
    env["PYTHONPATH"] = str(package)

    def push(*args: str) -> tuple[str, int]:
        done = subprocess.run([sys.executable, "-c", _PUSH, *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        digest, copied, where = json.loads(done.stdout)
        assert where.startswith(str(package))  # (the copy runs, not the installed package)
        return digest, copied

    model = _model(tmp_path / "m")
    ref = registry.repo() + ":v1"
    first, _ = push(str(model), ref)
    # A newer modelpack of the same version titles a model otherwise: the same folder packs to another manifest.
    mapping = package / "modelpack" / "metadata" / "mapping.py"
    text = mapping.read_text()
    assert "out.setdefault(mt.A_TITLE, meta.name)" in text
    mapping.write_text(text.replace("out.setdefault(mt.A_TITLE, meta.name)",
                                    "out.setdefault(mt.A_TITLE, meta.name + ' (titled anew)')"))
    again, _ = push(str(model), ref)
    fresh, _ = push(str(model), ref.replace(":v1", ":fresh"), str(tmp_path / "fresh-store"))
    assert again == fresh != first
    assert mp.inspect(ref, options=PLAIN, remote_only=True).digest == fresh  # (the tag was moved to it)


def _retarget_the_link(model: Path, tmp_path: Path) -> None:
    os.unlink(model / "w.safetensors")
    os.symlink("blobs/b", model / "w.safetensors")


def _swap_the_link_targets(model: Path, tmp_path: Path) -> None:
    blobs = model / "blobs"
    os.rename(blobs / "a", blobs / "t")
    os.rename(blobs / "b", blobs / "a")
    os.rename(blobs / "t", blobs / "b")


def _edit_through_a_hard_link_outside(model: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    os.link(model / "blobs" / "a", outside)
    before = outside.stat()
    with open(outside, "r+b") as f:
        f.write(b"Z")
    os.utime(outside, ns=(before.st_atime_ns, before.st_mtime_ns))  # time put back: only ctime tells


def _retarget_the_folder_link(model: Path, tmp_path: Path) -> None:
    other = _model(tmp_path / "other")
    (other / "modelpack.yaml").write_text("description: first\n")
    os.unlink(tmp_path / "current")
    os.symlink(other, tmp_path / "current")


CHANGES: dict[str, Callable[[Path, Path], None]] = {
    "a link retargeted": _retarget_the_link,
    "two files swapped by rename": _swap_the_link_targets,
    "bytes written through a hard link outside": _edit_through_a_hard_link_outside,
    "the folder's own link retargeted": _retarget_the_folder_link,
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_through_another_name_is_pushed(registry: Registry, tmp_path: Path, change: str) -> None:
    os.symlink(_model(tmp_path / "m"), tmp_path / "current")
    model = tmp_path / "current"
    ref = registry.repo() + ":v1"
    first = mp.push(model, ref, options=PLAIN, warn=lambda _: None)
    assert mp.push(model, ref, options=PLAIN, warn=lambda _: None).copied == 0  # (the record is kept and used)
    CHANGES[change](tmp_path / "m", tmp_path)
    time.sleep(SETTLED)
    again = mp.push(model, ref, options=PLAIN, warn=lambda _: None)
    assert again.descriptor.digest == _fresh(registry, model, tmp_path, ref) != first.descriptor.digest
