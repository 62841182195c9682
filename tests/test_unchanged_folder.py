"""A folder pushed again unchanged is known from its record (unchanged_folder): one request, nothing described;
and whatever decides its manifest, changed, makes the next push describe and send it as a first push would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import modelpack as mp
from fault_proxy import FaultProxy
from helpers import git, tree
from modelpack.store.layout import LayoutStore
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True, backoff=0.01)
SETTLED = 0.05  # seconds: longer than a file's stat needs to be vouched for (hashcache.RACY_NS)


def _model(root: Path) -> Path:
    (root / "s").mkdir(parents=True)
    (root / "weights.safetensors").write_bytes(os.urandom(300_000))
    for i in range(30):
        (root / "s" / f"{i}.bin").write_bytes(os.urandom(100 + i))
    (root / "modelpack.yaml").write_text("description: first\n")
    time.sleep(SETTLED)
    return root


@pytest.fixture(autouse=True)
def _own_git_and_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # no repository above the test's folder
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


def test_an_unchanged_folder_is_pushed_again_with_one_request_and_nothing_described(
        registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    ref = proxy.host + "/" + registry.repo().split("/", 1)[1] + ":v1"
    first = mp.push(model, ref, options=PLAIN)
    proxy.clear()
    # In a process of its own, as a CLI push is: describing the folder would import pydantic (its metadata).
    script = ("import json, sys, modelpack as mp\n"
              "from modelpack.store.options import ClientOptions\n"
              f"r = mp.push({str(model)!r}, {ref!r}, options=ClientOptions(plain_http=True))\n"
              "print(json.dumps([r.descriptor.digest, r.copied, r.skipped, 'pydantic' in sys.modules]))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    digest, copied, skipped, described = json.loads(out)
    assert (digest, copied, skipped) == (first.descriptor.digest, 0, 32)
    assert not described
    manifest_path = "/v2/" + ref.split("/", 1)[1].replace(":", "/manifests/")
    assert [line.split()[:2] for line in proxy.requests()] == [["GET", manifest_path]]


def _edit_a_file_keeping_its_mtime(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = model / "s" / "7.bin"
    before = path.stat()
    path.write_bytes(os.urandom(before.st_size))  # same size, time put back: only ctime tells
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def _edit_the_metadata(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (model / "modelpack.yaml").write_text("description: second\n")


def _set_the_epoch(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")


def _add_a_file(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (model / "s" / "new.bin").write_bytes(b"new")


def _commit_elsewhere_in_the_repository(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (model.parent / "README").write_text("changed outside the model's folder: only the revision moves\n")
    git(model.parent, "add", "README")
    git(model.parent, "commit", "-q", "-m", "second")


CHANGES: dict[str, Callable[[Path, pytest.MonkeyPatch], None]] = {
    "a file's bytes (mtime put back)": _edit_a_file_keeping_its_mtime,
    "modelpack.yaml": _edit_the_metadata,
    "SOURCE_DATE_EPOCH": _set_the_epoch,
    "a new file": _add_a_file,
    "the git revision": _commit_elsewhere_in_the_repository,
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_to_what_decides_the_manifest_is_pushed(registry: Registry, tmp_path: Path, change: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    repo_dir = tmp_path / "repo"
    model = _model(repo_dir / "m")
    git(repo_dir, "init", "-q")
    git(repo_dir, "add", ".")
    git(repo_dir, "commit", "-q", "-m", "first")
    time.sleep(SETTLED)
    ref = registry.repo() + ":v1"
    first = mp.push(model, ref, options=PLAIN)
    assert mp.push(model, ref, options=PLAIN).copied == 0  # (the record is kept and used)
    CHANGES[change](model, monkeypatch)
    time.sleep(SETTLED)
    again = mp.push(model, ref, options=PLAIN)
    # What a first push of the folder as it is now gives, from a store that never saw it (same last name).
    fresh = mp.push(model, registry.repo().rsplit("/", 1)[0] + "/fresh/" + ref.rsplit("/", 1)[1],
                    options=PLAIN, store=LayoutStore(tmp_path / "fresh-store"))
    assert again.descriptor.digest == fresh.descriptor.digest != first.descriptor.digest
    assert again.copied >= 1
    mp.pull(ref, output=tmp_path / "out", options=PLAIN, store=LayoutStore(tmp_path / "other"))
    assert tree(tmp_path / "out") == tree(model)


def test_a_tag_moved_elsewhere_is_pushed_back(registry: Registry, tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    other = _model(tmp_path / "other" / "m")
    ref = registry.repo() + ":v1"
    first = mp.push(model, ref, options=PLAIN)
    mp.push(other, ref, options=PLAIN, store=LayoutStore(tmp_path / "someone-else"))
    again = mp.push(model, ref, options=PLAIN)
    assert again.descriptor.digest == first.descriptor.digest
    assert mp.inspect(ref, options=PLAIN, remote_only=True).digest == first.descriptor.digest
