"""`pack --provenance` in a model folder whose git repository came from somewhere else (a model downloaded
with its `.git`): asking whether the work tree is clean must not run the commands that repository's own
configuration names (core.fsmonitor, a filter driver's clean command), and a status git cannot give is
left out, not reported as clean."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import modelpack as mp
from conftest import missing


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   capture_output=True, text=True, check=True, timeout=60)


@pytest.fixture
def hostile_checkout(tmp_path: Path) -> tuple[Path, Path]:
    """A committed model folder whose repository config runs a marker-writing command from core.fsmonitor
    and from a required clean filter every file goes through; the files' timestamps then move, as an
    unpacked archive's do, so git has to compare their contents."""
    if shutil.which("git") is None:
        missing("git is not installed")
    repo, marker = tmp_path / "repo", tmp_path / "ran"
    repo.mkdir()
    (repo / "model.safetensors").write_bytes(b"w" * 4000)
    (repo / ".gitattributes").write_text("* filter=evil\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "model")
    git(repo, "config", "core.fsmonitor", f"echo fsmonitor >> {marker}; false #")
    git(repo, "config", "filter.evil.clean", f"echo clean >> {marker}; cat")
    git(repo, "config", "filter.evil.required", "true")
    later = time.time() + 5
    for name in ("model.safetensors", ".gitattributes"):
        os.utime(repo / name, (later, later))
    return repo, marker


def _source(packed: mp.PackResult) -> dict[str, object]:
    assert packed.provenance is not None
    source = json.loads(packed.provenance.read_text())["buildDefinition"]["externalParameters"]["source"]
    assert isinstance(source, dict)
    return source


def test_the_repository_s_own_commands_do_not_run(hostile_checkout: tuple[Path, Path], tmp_path: Path) -> None:
    repo, marker = hostile_checkout
    packed = mp.pack(repo, "localhost:5000/untrusted/git:1", provenance=True)
    assert not marker.exists(), f"pack ran the repository's commands: {marker.read_text()!r}"
    assert _source(packed)["clean"] is True  # the bytes match the commit: only the timestamps moved

    (repo / "model.safetensors").write_bytes(b"x" * 4000)  # now an edit after the commit
    packed = mp.pack(repo, "localhost:5000/untrusted/git:2", provenance=True)
    assert not marker.exists()
    assert _source(packed)["clean"] is False


def test_a_status_git_cannot_give_is_left_out_not_called_clean(hostile_checkout: tuple[Path, Path]) -> None:
    repo, _ = hostile_checkout
    (repo / ".git" / "index").write_bytes(b"not an index")  # git status fails: 'index file corrupt'
    source = _source(mp.pack(repo, "localhost:5000/untrusted/git:3", provenance=True))
    assert "clean" not in source
    assert len(str(source["revision"])) == 40  # what git could say is still recorded


def test_a_git_hook_s_environment_does_not_describe_another_repository(
        hostile_checkout: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `modelpack pack` run from another repository's hook: git sets GIT_DIR and GIT_INDEX_FILE for it, which
    # made every git call describe that repository (its commit, its remote, its index's status).
    repo, marker = hostile_checkout
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    (other / "f").write_text("other")
    git(other, "add", "-A")
    git(other, "commit", "-q", "-m", "other")
    git(other, "remote", "add", "origin", "https://example.com/other.git")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    packed = mp.pack(repo, "localhost:5000/untrusted/git:4", provenance=True)
    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_INDEX_FILE")
    own = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    source = _source(packed)
    assert (source["revision"], source["clean"]) == (own, True), source
    assert "uri" not in source  # the folder's repository has no remote; the other one's is not its
    assert not marker.exists()
