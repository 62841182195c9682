"""`pull -o DIR` where the user may not write: the tests run as root, whom no permission stops, so this
runs the real command as an unprivileged user (nobody, through setpriv or runuser). Each case must end in
one line naming the place, why, and what to do (exit 1, as README's exit codes say of a place not writable
by this user; the store's line names MODELPACK_HOME), leave nothing behind, and never a traceback.
Before: `cannot write in DIR: Permission denied` (-o) and `Permission denied: STORE/ingest` (the store)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelpack as mp
from modelpack.store.options import ClientOptions

NOBODY = 65534


def _as_nobody() -> list[str]:
    if shutil.which("setpriv"):
        command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    elif shutil.which("runuser"):
        command = ["runuser", "-u", "nobody", "--"]
    else:
        pytest.skip("neither setpriv nor runuser is installed")
    if not _nobody_can_run(tuple(command)):
        # A checkout in a folder only root may enter (a `mktemp -d` clone, /root): nobody cannot start this
        # interpreter or read modelpack there, so the command under test would never run.
        pytest.skip(f"user {NOBODY} cannot run {sys.executable} with modelpack from this checkout")
    return command


@functools.cache
def _nobody_can_run(command: tuple[str, ...]) -> bool:
    probe = subprocess.run([*command, sys.executable, "-c", "import modelpack.cli.entry"], capture_output=True,
                           cwd="/", timeout=60)
    return probe.returncode == 0


@pytest.fixture
def place() -> Iterator[Path]:
    """A folder nobody can enter (pytest's own tmp_path is root's alone), owned by root."""
    if os.geteuid() != 0:
        pytest.skip("needs root to start a process as another user")
    folder = Path(tempfile.mkdtemp(prefix="modelpack-nobody-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def _pull(place: Path, ref: str, out: Path | None, *extra: str, store: Path | None = None
          ) -> subprocess.CompletedProcess[str]:
    """`modelpack pull --plain-http REF -o OUT` as nobody, with a store (`store`, else one of its own), config and
    policy of its own; without `out`, into the store."""
    own = place / "nobody"
    for folder in (own, own / "home", own / "store", own / "docker", own / "docker" / "registries.conf.d"):
        folder.mkdir(exist_ok=True)
        os.chown(folder, NOBODY, NOBODY)
    (own / "docker" / "registries.conf").write_text("")
    policy = own / "docker" / "policy.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}\n')
    env = {key: value for key, value in os.environ.items() if not key.startswith("COVERAGE")}  # root's data file
    env |= {"HOME": str(own / "home"), "MODELPACK_HOME": str(store or own / "store"),
            "DOCKER_CONFIG": str(own / "docker"),
            "CONTAINERS_REGISTRIES_CONF": str(own / "docker" / "registries.conf"),
            "MODELPACK_REGISTRIES_CONF_D": str(own / "docker" / "registries.conf.d"),
            "MODELPACK_SIGNATURE_POLICY": str(policy), "XDG_RUNTIME_DIR": str(own / "home"),
            "XDG_CONFIG_HOME": str(own / "home" / ".config")}
    return subprocess.run([*_as_nobody(), sys.executable, "-m", "modelpack", "pull", "--plain-http", ref,
                           *(["-o", str(out)] if out else []), *extra],
                          capture_output=True, text=True, env=env, cwd=own / "home", timeout=120)


@pytest.fixture
def model_ref(registry, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(os.urandom(50_000))
    (model / "README.md").write_text("a model\n")
    ref = registry.repo() + ":v1"
    mp.push(model, ref, options=ClientOptions(plain_http=True))
    return ref


def _one_line(run: subprocess.CompletedProcess[str], path: Path) -> str:
    lines = run.stderr.splitlines()
    assert run.returncode == 1, run.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    assert str(path) in lines[0], run.stderr
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr
    return lines[0]


def test_an_output_whose_parent_the_user_cannot_write_is_refused_in_one_line(place: Path, model_ref: str) -> None:
    parent = place / "root-only"
    parent.mkdir(mode=0o755)
    run = _pull(place, model_ref, parent / "model")
    line = _one_line(run, parent)
    assert line == f"error: not writable by this user: {parent}: write elsewhere, or give this user write access there"
    assert list(parent.iterdir()) == []  # no hidden download folder left beside it


@pytest.mark.parametrize("force", [False, True], ids=["empty", "force"])
def test_an_existing_output_the_user_cannot_write_is_refused_in_one_line(place: Path, model_ref: str,
                                                                        force: bool) -> None:
    out = place / "root-owned"
    out.mkdir(mode=0o755)
    if force:
        (out / "old.txt").write_text("kept\n")
    run = _pull(place, model_ref, out, *(["--force"] if force else []))
    line = _one_line(run, out)
    assert line == f"error: not writable by this user: {out}: write elsewhere, or give this user write access there"
    assert sorted(p.name for p in out.iterdir()) == (["old.txt"] if force else [])
    assert sorted(p.name for p in place.iterdir()) == ["nobody", "root-owned"]


def test_the_same_pull_into_a_folder_the_user_owns_succeeds(place: Path, model_ref: str) -> None:
    # the refusals above are about the output's permissions, not about running as nobody at all
    out = place / "nobody" / "home" / "model"
    run = _pull(place, model_ref, out)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["README.md", "model.safetensors",
                                                                                       "modelpack.yaml"]


@pytest.mark.parametrize("made", [True, False], ids=["store-made", "store-not-made"])
def test_a_store_the_user_cannot_write_is_named_as_the_store(place: Path, model_ref: str, made: bool) -> None:
    shared = place / "shared"
    shared.mkdir(mode=0o755)
    store = shared / "modelpack"
    if made:
        store.mkdir(mode=0o755)
    run = _pull(place, model_ref, None, store=store)
    line = _one_line(run, store)
    assert line.startswith(f"error: Permission denied: {store}"), line
    assert line.endswith(f" (the local store MODELPACK_HOME={store}): set MODELPACK_HOME to a directory this user "
                         "can write, or give this user write access there"), line
