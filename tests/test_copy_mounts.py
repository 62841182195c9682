"""`copy` within one registry mounts the blobs (a cross-repository mount: no bytes sent), and says so: it used
to report `copied ...: 2 blobs (9.8 KiB)` and `bytesCopied` as if every byte had gone over the wire, which
misleads whoever measures egress when promoting models between repositories."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from helpers import modelpack
from registry_process import Registry


def _model(tmp_path: Path, registry: Registry, repo: str) -> tuple[str, int]:
    model = tmp_path / repo
    model.mkdir()
    (model / "w.bin").write_bytes(os.urandom(50_000))
    ref = registry.repo(repo) + ":1"
    pushed = modelpack("push", "--plain-http", "--json", str(model), ref)
    assert pushed.code == 0, pushed.err
    assert json.loads(pushed.out)["blobsMounted"] == 0  # a push sends its blobs
    return ref, json.loads(pushed.out)["bytesCopied"]


def test_copy_within_a_registry_reports_mounts_not_bytes(registry: Registry, tmp_path: Path,
                                                         crane_bin: Path) -> None:
    src, sent = _model(tmp_path, registry, "team")
    dst = registry.repo("prod") + ":1"
    run = modelpack("copy", "--plain-http", "--json", src, dst)
    assert run.code == 0, run.err
    out = json.loads(run.out)
    assert out["blobsCopied"] == out["blobsMounted"] == 2 and out["bytesCopied"] == 0 and sent > 50_000
    digest = subprocess.run([str(crane_bin), "digest", "--insecure", dst], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert digest == out["digest"]
    # crane reads every blob back from the new repository: the mounts are real
    subprocess.run([str(crane_bin), "pull", "--insecure", "--format", "oci", dst, str(tmp_path / "pulled")],
                   check=True, capture_output=True)
    stage = registry.repo("stage") + ":1"
    human = modelpack("copy", "--plain-http", src, stage)
    assert human.code == 0, human.err
    assert human.err == (f"copied {stage}: 2 blobs (0 B; 2 mounted from another repository, "
                         "not sent), 0 already present\n")


def test_copy_across_registries_still_counts_bytes(registry: Registry, fresh_registry: Callable[..., Registry],
                                                   tmp_path: Path) -> None:
    src, sent = _model(tmp_path, registry, "team")
    other = fresh_registry()
    run = modelpack("copy", "--plain-http", "--json", src, f"{other.host}/team/m:1")
    assert run.code == 0, run.err
    out = json.loads(run.out)
    assert out["blobsMounted"] == 0 and out["bytesCopied"] == sent
