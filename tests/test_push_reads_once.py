"""A push that is not the unchanged fast path asked git its three questions twice (the unchanged-folder
fingerprint, then the metadata thread), read modelpack.yaml three times and opened the store's hash cache as
two objects: each is done once per push, and the facts the fingerprint keeps are the ones the manifest
records. Against the real registry; git's runs counted by a git on PATH that logs each call."""

from __future__ import annotations

import builtins
import io
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

import modelpack as mp
from helpers import git, modelpack
from modelpack.packing import hashcache
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)
GIT_FACTS = ["rev-parse --is-inside-work-tree", "rev-parse HEAD", "remote get-url origin"]


def _model_ingit(root: Path) -> Path:
    model = root / "m"
    model.mkdir(parents=True)
    (model / "weights.safetensors").write_bytes(os.urandom(50_000))
    (model / "config.json").write_text("{}")
    (model / "modelpack.yaml").write_text("description: counted\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    git(root, "remote", "add", "origin", "https://git.example/team/m.git")
    time.sleep(0.05)  # past hashcache.RACY_NS: the files' digests are kept
    return model


@pytest.fixture(autouse=True)
def _owngit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


def _logginggit(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose PATH finds a git that logs its arguments, then runs the real one."""
    real = shutil.which("git")
    assert real is not None
    folder, log = tmp_path / "bin", tmp_path / "git.log"
    folder.mkdir()
    (folder / "git").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    (folder / "git").chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}, log


def _calls(log: Path) -> list[str]:
    """Each git run's command (what follows the hardening options and `-C FOLDER`); the log emptied."""
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    commands = []
    for line in lines:
        words = line.split()
        at = words.index("-C")
        rest = words[at + 2:]
        while rest and rest[0] == "-c":
            rest = rest[2:]
        commands.append(" ".join(rest))
    return sorted(commands)


def test_a_push_asks_git_its_facts_once(registry: Registry, tmp_path: Path) -> None:
    model = _model_ingit(tmp_path / "repo")
    env, log = _logginggit(tmp_path)
    ref = registry.repo("git-once") + ":v1"
    first = modelpack("push", "--plain-http", str(model), ref, env=env)  # a new tag: packed and sent
    assert first.code == 0, first.err
    assert _calls(log) == sorted(GIT_FACTS)
    (model / "config.json").write_text('{"changed": true}')  # the tag there, the folder changed: sent again
    time.sleep(0.05)
    again = modelpack("push", "--plain-http", str(model), ref, env=env)
    assert again.code == 0, again.err
    assert _calls(log) == sorted(GIT_FACTS)
    unchanged = modelpack("push", "--plain-http", str(model), ref, env=env)  # the fast path: the fingerprint's
    assert unchanged.code == 0, unchanged.err
    assert _calls(log) == sorted(GIT_FACTS)
    config = mp.inspect(ref, options=PLAIN, remote_only=True).metadata
    assert config["revision"] == git(tmp_path / "repo", "rev-parse", "HEAD")
    assert config["sourceURL"] == "https://git.example/team/m.git"


def test_a_push_reads_its_metadata_file_and_opens_and_saves_the_hash_cache_once(registry: Registry, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model_ingit(tmp_path / "repo")
    ref = registry.repo("read-once") + ":v1"
    mp.push(model, ref, options=PLAIN)
    (model / "config.json").write_text('{"changed": true}')
    time.sleep(0.05)
    metadata_file = os.path.realpath(model / "modelpack.yaml")
    cache_file = os.path.realpath(mp.api.core._store(None).root / "hash-cache")
    opened: list[str] = []
    cache_written: list[str] = []
    real_open, real_replace, real_rename = open, os.replace, os.rename

    # Wrappers, not an audit hook: a Python audit hook stays for the rest of the test process, and on
    # CPython 3.11 a thread that starts while another is inside sys.settrace (coverage's per-thread hook
    # runs the audit hook) dies before its target runs ("Cannot install a trace function while another
    # trace function is being installed"): a later test's server thread died so in a CI run.
    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, str | os.PathLike) and os.path.realpath(file) == metadata_file:
            opened.append(os.fspath(file))
        return real_open(file, *args, **kwargs)

    def counting_replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(dst, str | os.PathLike) and os.path.realpath(dst) == cache_file:
            cache_written.append(os.fspath(dst))
        return real_replace(src, dst, *args, **kwargs)

    def counting_rename(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(dst, str | os.PathLike) and os.path.realpath(dst) == cache_file:
            cache_written.append(os.fspath(dst))
        return real_rename(src, dst, *args, **kwargs)

    caches: list[Path] = []
    init = hashcache.HashCache.__init__

    def counted(self: hashcache.HashCache, path: Path) -> None:
        caches.append(path)
        init(self, path)

    with monkeypatch.context() as patched:
        patched.setattr(hashcache.HashCache, "__init__", counted)
        patched.setattr(builtins, "open", counting_open)
        patched.setattr(io, "open", counting_open)  # (Path.open's)
        patched.setattr(os, "replace", counting_replace)
        patched.setattr(os, "rename", counting_rename)
        again = mp.push(model, ref, options=PLAIN)
    assert again.copied >= 1  # (not the unchanged fast path)
    assert len(opened) == 1
    assert len(caches) == 1
    assert len(cache_written) == 1  # the changed file's digest and the folder's record saved together
    assert json.loads(json.dumps(mp.inspect(ref, options=PLAIN, remote_only=True).metadata))["description"] \
        == "counted"
