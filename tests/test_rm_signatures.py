"""`rm` of a signed model takes its signature tags along (the referrers fallback index `sha256-<hex>`, cosign's
`sha256-<hex>.sig` and `.att`), in the registry and in the local store, and never the signatures of a model
still there: judged against the real Distribution registry and `verify`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack, push_legacy_signature
from modelpack.signatures.lookup import fallback_tag
from modelpack.store.layout import LayoutStore
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)
PASSWORD = {"COSIGN_PASSWORD": "pw"}


def _model(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "w.safetensors").write_bytes(os.urandom(500))
    return folder


def _keys(tmp_path: Path) -> tuple[Path, Path]:
    result = modelpack("generate-key-pair", "-d", str(tmp_path / "keys"), env=PASSWORD)
    assert result.code == 0, result.err
    return tmp_path / "keys" / "cosign.key", tmp_path / "keys" / "cosign.pub"


def _sign(key: Path, *args: str) -> None:
    result = modelpack("sign", "--key", str(key), *args, env=PASSWORD)
    assert result.code == 0, result.err


def _tags(repo: str) -> set[str]:
    return set(mp.remote(mp.Reference.parse(repo + ":x"), PLAIN).tags())


def test_rm_all_tags_removes_the_models_signature_tags_and_keeps_the_others(registry: Registry,
                                                                             tmp_path: Path) -> None:
    repo = registry.repo()
    key, public = _keys(tmp_path)
    gone = mp.push(_model(tmp_path, "one"), f"{repo}:1", options=PLAIN).descriptor.digest
    kept = mp.push(_model(tmp_path, "two"), f"{repo}:2", options=PLAIN).descriptor.digest
    mp.tag_remote(f"{repo}:1", "champion", options=PLAIN)
    _sign(key, "--plain-http", f"{repo}:1")
    _sign(key, "--plain-http", f"{repo}:2")
    sig = push_legacy_signature(f"{repo}:1", gone, tmp_path / "legacy.pub")  # cosign 2's sha256-<hex>.sig
    att = fallback_tag(gone) + ".att"
    mp.tag_remote(f"{repo}:{sig}", att, options=PLAIN)  # an .att naming the same manifest as the .sig
    own = {fallback_tag(gone), sig, att}
    assert _tags(repo) == {"1", "champion", "2", fallback_tag(kept), *own}

    done = modelpack("rm", "--remote", "--plain-http", "--all-tags", "--yes", f"{repo}:champion")
    assert done.code == 0, done.err
    assert f"deleted {gone} (tags: " in done.out
    assert {line.removeprefix("deleted signature tag ") for line in done.out.splitlines()[1:]} == own
    assert _tags(repo) == {"2", fallback_tag(kept)}
    listed = json.loads(modelpack("ls", "--plain-http", "--json", registry.host).out)
    assert {"repository": repo.split("/", 1)[1], "tags": 1} in listed  # a signature's tag is no version
    verified = modelpack("verify", "--plain-http", "--key", str(public), f"{repo}:2")
    assert verified.code == 0, verified.err  # the model still there keeps its signature


def test_a_signature_manifest_another_tag_names_is_kept_and_said(registry: Registry, tmp_path: Path) -> None:
    repo = registry.repo()
    key, _ = _keys(tmp_path)
    gone = mp.push(_model(tmp_path, "one"), f"{repo}:1", options=PLAIN).descriptor.digest
    _sign(key, "--plain-http", f"{repo}:1")
    index = fallback_tag(gone)
    mp.tag_remote(f"{repo}:{index}", "audit-copy", options=PLAIN)  # Distribution would delete both tags at once
    done = modelpack("rm", "--remote", "--plain-http", f"{repo}:1")
    assert done.code == 0, done.err
    assert "deleted signature tag" not in done.out
    assert f"note: {index} kept: tag(s) audit-copy name the same manifest" in done.err
    assert _tags(repo) == {index, "audit-copy"}


def test_rm_in_the_local_store_takes_the_signature_along(tmp_path: Path) -> None:
    key, public = _keys(tmp_path)
    ref = "localhost:5000/team/signed"
    gone = mp.pack(_model(tmp_path, "one"), f"{ref}:1").descriptor.digest
    kept = mp.pack(_model(tmp_path, "two"), f"{ref}:2").descriptor.digest
    _sign(key, "--local", f"{ref}:1")
    _sign(key, "--local", f"{ref}:2")
    store = LayoutStore()
    before = {e.reference for e in store.entries()}
    assert {f"{ref}:{fallback_tag(gone)}", f"{ref}:{fallback_tag(kept)}"} <= before
    done = modelpack("rm", f"{ref}:1")
    assert done.code == 0, done.err
    after = {e.reference for e in store.entries()}
    removed = {line.removeprefix("removed ") for line in done.out.splitlines()}
    assert removed == before - after and removed >= {f"{ref}:1", f"{ref}:{fallback_tag(gone)}"}
    assert not any(gone.split(":")[1] in name for name in after)  # nothing of the deleted model's is left
    signatures = removed - {f"{ref}:1", f"{ref}:{fallback_tag(gone)}"}  # what the index listed, by digest
    assert signatures and all(name.startswith(f"{ref}@sha256:") for name in signatures)
    verified = modelpack("verify", "--local", "--key", str(public), f"{ref}:2")
    assert verified.code == 0, verified.err


@pytest.mark.parametrize("suffix", ["", ".sig", ".att"])
def test_a_signature_tag_naming_another_model_does_not_delete_it(registry: Registry, tmp_path: Path,
                                                                 suffix: str) -> None:
    """Distribution cannot delete a tag alone, so a signature tag goes by deleting what it names: only when
    that is a signature of the deleted model, not another model's manifest a tag was pointed at."""
    repo = registry.repo()
    gone = mp.push(_model(tmp_path, "one"), f"{repo}:1", options=PLAIN).descriptor.digest
    deployed = mp.push(_model(tmp_path, "two"), f"{repo}:2", options=PLAIN).descriptor.digest
    mp.push(_model(tmp_path, "three"), f"{repo}:2", options=PLAIN)  # 2 moves on: `deployed` is untagged now
    tag = fallback_tag(gone) + suffix
    mp.tag_remote(f"{repo}@{deployed}", tag, options=PLAIN)  # what anyone who can push can do
    done = modelpack("rm", "--remote", "--plain-http", f"{repo}:1")
    assert done.code == 0, done.err
    assert f"note: {tag} kept: it names {deployed}, which is not a signature of {gone}" in done.err
    assert mp.remote(mp.Reference.parse(f"{repo}:2"), PLAIN).find(deployed) is not None  # still there
