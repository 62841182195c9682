"""`diff` reads a side from the local store when the store holds that reference, and the store's tag may
name another digest than the registry's (a newcomer packed again without a `--set`): the diff then left
out a change the registry's versions have, and nothing said which digest was compared. One note line on
stderr now names each side read from the store and its digest, and the flag that reads the registry."""

from __future__ import annotations

import json
from pathlib import Path

import modelpack as mp
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)


def _model(root: Path, yaml_text: str) -> Path:
    root.mkdir(parents=True)
    (root / "weights.bin").write_bytes(b"w" * 100)
    (root / "modelpack.yaml").write_text(yaml_text)
    return root


def test_a_side_read_from_the_local_store_is_named_with_its_digest(registry: Registry, tmp_path: Path) -> None:
    repo = registry.repo()
    pushed = mp.push(_model(tmp_path / "a", "name: m\nversion: '1'\nmetrics: {accuracy: 0.9, f1: 0.8}\n"),
                     f"{repo}:1", options=PLAIN)
    mp.push(_model(tmp_path / "b", "name: m\nversion: '2'\nmetrics: {accuracy: 0.95}\n"), f"{repo}:2", options=PLAIN)
    stale = mp.pack(_model(tmp_path / "c", "name: m\nversion: '1'\nmetrics: {accuracy: 0.9}\n"), f"{repo}:1")
    assert stale.descriptor.digest != pushed.descriptor.digest  # the store's tag 1 is not the registry's

    run = modelpack("diff", "--plain-http", f"{repo}:1", "2")
    assert run.code == 0, run.err
    assert "metrics.f1" not in run.out  # the store's 1 has no f1: what the note is there to explain
    assert run.err == (f"note: {repo}:1 ({stale.descriptor.digest[:19]}) read from the local store; --remote reads the "
                       "registry's\n")

    remote = modelpack("diff", "--plain-http", "--remote", f"{repo}:1", "2")
    assert remote.code == 0 and remote.err == ""
    assert "metrics.f1: 0.8 (removed)" in remote.out
    as_json = modelpack("diff", "--plain-http", "--json", f"{repo}:1", "2")
    assert as_json.code == 0 and as_json.err == "" and "f1" not in json.dumps(json.loads(as_json.out))
