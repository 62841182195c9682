"""`oci:DIR[:TAG|@DIGEST]` places: pack, sign and verify offline in an OCI image layout, read it with oras
and skopeo, copy it to a registry where cosign verifies it, and back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import missing
from helpers import modelpack, tree
from registry_process import Registry
from test_signing import COSIGN_FLAGS, cosign, keypair

pytestmark = pytest.mark.interop


def _model(root: Path) -> Path:
    root.mkdir()
    (root / "w.safetensors").write_bytes(os.urandom(200_000))
    (root / "config.json").write_text('{"hidden": 4}')
    return root


def _ok(*args: str) -> str:
    run = modelpack(*args)
    assert run.code == 0, run.err
    return run.out.strip()


def test_a_model_packed_and_signed_offline_in_a_layout_verifies_everywhere(
        registry: Registry, tmp_path: Path, oras_bin: Path, cosign_bin: Path) -> None:
    model = _model(tmp_path / "m")
    layout = tmp_path / "out"
    digest = _ok("push", str(model), f"oci:{layout}:1.0").rsplit("@", 1)[1]
    private, public = keypair(tmp_path, "keys", "pw")
    signed = modelpack("sign", f"oci:{layout}:1.0", "--key", str(private), env={"COSIGN_PASSWORD": "pw"})
    assert signed.code == 0, signed.err
    assert "1 valid signature" in modelpack("verify", f"oci:{layout}:1.0", "--key", str(public)).out
    # The layout is an ordinary one: oras and skopeo read it, and oras finds the signature through its index.
    resolved = subprocess.run([str(oras_bin), "resolve", "--oci-layout", f"{layout}:1.0"], capture_output=True,
                              text=True, timeout=60)
    assert resolved.stdout.strip() == digest, resolved.stderr
    discovered = subprocess.run([str(oras_bin), "discover", "--format", "json", "--oci-layout", f"{layout}:1.0"],
                                capture_output=True, text=True, timeout=60)
    assert "application/vnd.dev.sigstore.bundle" in discovered.stdout, discovered.stderr
    if shutil.which("skopeo") is None:
        missing("skopeo not installed (apt-get install skopeo)")
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{layout}:1.0"], capture_output=True, timeout=60)
    assert raw.returncode == 0 and json.loads(raw.stdout)["artifactType"].startswith("application/vnd.cncf.model")
    # To a registry (no referrers API: the fallback tag), where cosign verifies what was signed offline.
    ref = registry.repo() + ":1.0"
    _ok("copy", "--plain-http", f"oci:{layout}:1.0", ref)
    checked = cosign(cosign_bin, "verify", "--key", str(public), "--insecure-ignore-tlog=true", *COSIGN_FLAGS,
                     ref.rsplit(":", 1)[0] + "@" + digest)
    assert checked.returncode == 0, checked.stderr
    # And back into another layout, signature included; its files restore from the layout.
    _ok("copy", "--plain-http", ref, f"oci:{tmp_path / 'again'}:x")
    assert "1 valid signature" in modelpack("verify", f"oci:{tmp_path / 'again'}@{digest}", "--key", str(public)).out
    _ok("pull", f"oci:{tmp_path / 'again'}:x", "-o", str(tmp_path / "files"))
    assert tree(tmp_path / "files", skip=("model.sig",)) == tree(model)
    assert (tmp_path / "files" / "model.sig").is_file()


def test_a_model_signed_in_the_local_store_keeps_its_signature_when_pushed(
        registry: Registry, tmp_path: Path, cosign_bin: Path) -> None:
    model = _model(tmp_path / "m")
    ref = registry.repo() + ":1.0"
    digest = _ok("pack", str(model), "-t", ref)
    private, public = keypair(tmp_path, "keys", "pw")
    signed = modelpack("sign", "--local", ref, "--key", str(private), env={"COSIGN_PASSWORD": "pw"})
    assert signed.code == 0, signed.err
    assert "1 valid signature" in _ok("verify", "--local", ref, "--key", str(public))
    # Nothing is in the registry yet; the signature is the store's, and `list` shows the model alone.
    assert modelpack("verify", "--plain-http", ref, "--key", str(public)).code != 0
    assert [line.split()[0] for line in _ok("list").splitlines()[1:]] == [ref]
    _ok("push", "--plain-http", ref)
    checked = cosign(cosign_bin, "verify", "--key", str(public), "--insecure-ignore-tlog=true", *COSIGN_FLAGS,
                     ref.rsplit(":", 1)[0] + "@" + digest)
    assert checked.returncode == 0, checked.stderr
    # Removing the model removes its signature's entries too: nothing is left to keep blobs alive.
    _ok("rm", ref)
    home = Path(os.environ["MODELPACK_HOME"])
    assert json.loads((home / "index.json").read_text())["manifests"] == []
    assert not any((home / "blobs" / "sha256").iterdir())


def test_a_layout_written_by_oras_is_read(tmp_path: Path, oras_bin: Path) -> None:
    work = tmp_path / "w"
    work.mkdir()
    (work / "weights.bin").write_bytes(os.urandom(5000))
    pushed = subprocess.run([str(oras_bin), "push", "--oci-layout", f"{tmp_path / 'by-oras'}:v1", "weights.bin"],
                            cwd=work, capture_output=True, text=True, timeout=60)
    assert pushed.returncode == 0, pushed.stderr
    _ok("pull", f"oci:{tmp_path / 'by-oras'}", "-o", str(tmp_path / "files"))  # no tag: its only manifest
    assert (tmp_path / "files" / "weights.bin").read_bytes() == (work / "weights.bin").read_bytes()


@pytest.mark.parametrize(("place", "message"), [
    ("oci:", "names no directory"),
    ("oci:{tmp}/nowhere:1", "is not an OCI image layout"),
    ("oci:{tmp}/out@sha256:abc", "is not a digest"),
    ("oci:{tmp}/out:bad tag", "is not a valid tag"),
])
def test_places_that_name_nothing_are_one_line_errors(tmp_path: Path, place: str, message: str) -> None:
    run = modelpack("pull", place.format(tmp=tmp_path), "-o", str(tmp_path / "files"))
    assert run.code != 0 and message in run.err and len(run.err.strip().splitlines()) == 1, run.err
    assert not (tmp_path / "files").exists()


def test_a_layout_holding_several_models_needs_a_tag(tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    _ok("push", str(model), f"oci:{tmp_path / 'out'}:1")
    (model / "config.json").write_text('{"hidden": 5}')
    _ok("push", str(model), f"oci:{tmp_path / 'out'}:2")
    run = modelpack("pull", f"oci:{tmp_path / 'out'}", "-o", str(tmp_path / "files"))
    assert run.code == 2 and "tags: 1, 2" in run.err, run.err


def test_a_named_signature_policy_judges_a_layout_pull_and_is_never_ignored(tmp_path: Path) -> None:
    _ok("push", str(_model(tmp_path / "m")), f"oci:{tmp_path / 'out'}:1")
    layout = f"oci:{tmp_path / 'out'}:1"

    def policy(default: list[dict[str, object]]) -> str:
        path = tmp_path / f"policy-{len(list(tmp_path.glob('policy-*')))}.json"
        path.write_text(json.dumps({"default": default}))
        return str(path)

    rejected = modelpack("pull", layout, "-o", str(tmp_path / "a"), "--signature-policy", policy([{"type": "reject"}]))
    assert rejected.code == 7 and "rejected by signature policy" in rejected.err, rejected.err
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())
    signed = modelpack("pull", layout, "-o", str(tmp_path / "b"), "--signature-policy",
                       policy([{"type": "sigstoreSigned", "keyPath": str(tmp_path / "none.pub")}]))
    assert signed.code == 7 and "--verify-key" in signed.err and len(signed.err.strip().splitlines()) == 1, signed.err
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())
    accepted = modelpack("pull", layout, "-o", str(tmp_path / "c"), "--signature-policy",
                         policy([{"type": "insecureAcceptAnything"}]))
    assert accepted.code == 0, accepted.err
    assert (tmp_path / "c" / "config.json").exists()


def test_inspect_ls_resolve_and_diff_read_layouts(registry: Registry, tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    (model / "modelpack.yaml").write_text("name: m\nversion: '1'\nmetrics: {accuracy: 0.8}\n")
    layout = f"oci:{tmp_path / 'out'}"
    one = _ok("push", str(model), f"{layout}:1").rsplit("@", 1)[1]
    (model / "modelpack.yaml").write_text("name: m\nversion: '2'\nmetrics: {accuracy: 0.9}\n")
    _ok("push", str(model), f"{layout}:2")
    assert _ok("resolve", f"{layout}:1") == one
    info = json.loads(_ok("inspect", "--json", f"{layout}:1"))
    assert info["digest"] == one and info["metadata"]["metrics"] == {"accuracy": 0.8}
    listed = json.loads(_ok("ls", "--json", layout, "--where", "metrics.accuracy>0.85"))
    assert [v["tag"] for v in listed] == ["2"]
    # Across places: the layout's version 1 against the same model pushed to a registry as version 2.
    ref = registry.repo() + ":2"
    _ok("copy", "--plain-http", f"{layout}:2", ref)
    changes = json.loads(_ok("diff", "--json", "--remote", "--plain-http", f"{layout}:1", ref))
    assert changes["metrics"]["accuracy"] == {"old": 0.8, "new": 0.9}, changes


def test_a_broken_fallback_index_in_a_layout_lists_nothing_and_verify_says_so_in_one_line(tmp_path: Path) -> None:
    """The `sha256-<hex>` tag a copied layout may hold is read like any entry: missing, damaged, or not an
    index, it lists no signature (exit 7, one line), and no digest it does not list becomes resolvable."""
    layout = tmp_path / "out"
    digest = _ok("push", str(_model(tmp_path / "m")), f"oci:{layout}:1.0").rsplit("@", 1)[1]
    _, public = keypair(tmp_path, "keys", "pw")
    index_path = layout / "index.json"
    index = json.loads(index_path.read_text())
    model_entry = index["manifests"][0]
    tag = digest.replace(":", "-")
    absent = "sha256:" + "1" * 64
    for name, entry in (("missing blob", {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": absent,
                                          "size": 100}),
                        ("not an index", {**model_entry})):
        entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
        index_path.write_text(json.dumps({**index, "manifests": [model_entry, entry]}))
        checked = modelpack("verify", f"oci:{layout}:1.0", "--key", str(public))
        assert checked.code == 7, (name, checked.err)
        assert checked.err.startswith("error: no valid signature") and len(checked.err.strip().splitlines()) == 1
        assert "Traceback" not in checked.err
    pulled = modelpack("pull", f"oci:{layout}@{absent}", "-o", str(tmp_path / "o"))
    assert pulled.code == 3 and "is not in the OCI layout" in pulled.err, pulled.err
