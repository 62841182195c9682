"""`resolve --json`: what a platform script pins a deployment by (digest, media type, size, the reference
pinned by digest), checked against crane, a client we did not write."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from helpers import modelpack


def test_resolve_json_agrees_with_crane(pushed: tuple[str, str], crane_bin: Path) -> None:
    ref, digest_ref = pushed
    run = modelpack("resolve", "--plain-http", "--json", ref)
    assert run.code == 0, run.err
    out = json.loads(run.out)
    crane_digest = subprocess.run([str(crane_bin), "digest", "--insecure", ref], capture_output=True, text=True,
                                  check=True).stdout.strip()
    manifest = subprocess.run([str(crane_bin), "manifest", "--insecure", ref], capture_output=True,
                              check=True).stdout
    assert out == {"reference": ref, "digest": crane_digest, "mediaType": json.loads(manifest)["mediaType"],
                   "size": len(manifest), "digestReference": digest_ref}
    # without --json: the digest alone, as before
    assert modelpack("resolve", "--plain-http", ref).out == crane_digest + "\n"


def test_resolve_json_of_an_oci_layout_has_no_registry_reference(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(b"weights")
    layout = f"oci:{tmp_path / 'layout'}:1"
    assert modelpack("push", str(model), layout).code == 0
    out = json.loads(modelpack("resolve", "--json", layout).out)
    assert set(out) == {"reference", "digest", "mediaType", "size"} and out["digest"].startswith("sha256:")
