"""Reference clients against our artifacts, on a real registry: skopeo copies a signed model with its
referrers fallback tag and the signature still verifies (cosign and modelpack) at the destination; crane
copies a model byte for byte; omlmd's own pull restores what modelpack pushed."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

import modelpack as mp
from conftest import missing
from helpers import make_tricky_model, modelpack, tree
from modelpack.signatures.lookup import fallback_tag
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_signing import COSIGN_FLAGS, cosign, keypair

PLAIN = ClientOptions(plain_http=True)
pytestmark = pytest.mark.interop


def skopeo(*args: str) -> None:
    if shutil.which("skopeo") is None:
        missing("skopeo not installed (apt-get install skopeo)")
    done = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def _signed(registry: Registry, tmp_path: Path) -> tuple[str, str, Path, Path]:
    """(repository, digest, model folder, public key) of a pushed model signed by `modelpack sign`."""
    model = make_tricky_model(tmp_path / "model")
    repo = registry.repo()
    digest = mp.push(model, repo + ":v1", options=PLAIN).descriptor.digest
    private, public = keypair(tmp_path, "keys")
    done = modelpack("sign", "--plain-http", "--key", str(private), repo + ":v1", env={"COSIGN_PASSWORD": "pw"})
    assert done.code == 0, done.err
    return repo, digest, model, public


def test_skopeo_copies_a_signed_model_and_its_fallback_tag_and_the_signature_still_verifies(
        registry: Registry, cosign_bin: Path, tmp_path: Path) -> None:
    repo, digest, model, public = _signed(registry, tmp_path)
    tag = fallback_tag(digest)
    layout = tmp_path / "layout"
    # To a layout and on to another registry, each with --all: the model, then the referrers fallback index.
    dest = registry.repo("skopeo-copied")
    for name in ("v1", tag):
        skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{repo}:{name}", f"oci:{layout}:{name}")
        skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout}:{name}", f"docker://{dest}:{name}")
    index = json.loads((layout / "index.json").read_text())
    assert digest in {entry["digest"] for entry in index["manifests"]}  # byte-identical: the same digest
    # The signature verifies in the layout (modelpack) and at the destination (modelpack and cosign).
    assert "1 valid signature" in modelpack("verify", f"oci:{layout}:v1", "--key", str(public)).out
    ours = modelpack("verify", "--plain-http", f"{dest}:v1", "--key", str(public))
    assert ours.code == 0 and "1 valid signature" in ours.out, ours.err
    theirs = cosign(cosign_bin, "verify", "--key", str(public), "--insecure-ignore-tlog=true", *COSIGN_FLAGS,
                    f"{dest}@{digest}")
    assert theirs.returncode == 0, theirs.stderr
    out = tmp_path / "out"
    pulled = modelpack("pull", "--plain-http", "--verify-key", str(public), f"{dest}:v1", "-o", str(out))
    assert pulled.code == 0, pulled.err
    assert tree(out, skip=("model.sig", "modelpack.yaml")) == tree(model)
    assert (out / "model.sig").is_file()  # found though skopeo dropped the listing's artifactType
    # From the layout too: the model-signing referrer becomes model.sig, and `modelpack copy` carries the
    # signature on to a registry where cosign verifies it.
    local = tmp_path / "from-layout"
    pulled = modelpack("pull", "--verify-key", str(public), f"oci:{layout}:v1", "-o", str(local))
    assert pulled.code == 0, pulled.err
    assert (local / "model.sig").is_file()
    again = registry.repo("from-layout")
    copied = modelpack("copy", "--plain-http", f"oci:{layout}:v1", f"{again}:v1")
    assert copied.code == 0, copied.err
    theirs = cosign(cosign_bin, "verify", "--key", str(public), "--insecure-ignore-tlog=true", *COSIGN_FLAGS,
                    f"{again}@{digest}")
    assert theirs.returncode == 0, theirs.stderr


def test_crane_copies_a_model_byte_for_byte(registry: Registry, crane_bin: Path, tmp_path: Path) -> None:
    model = make_tricky_model(tmp_path / "model")
    src = registry.repo() + ":v1"
    digest = mp.push(model, src, options=PLAIN).descriptor.digest
    dst = registry.repo("crane-copied") + ":v1"
    done = subprocess.run([str(crane_bin), "copy", "--insecure", src, dst], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    raw = subprocess.run([str(crane_bin), "manifest", "--insecure", dst], capture_output=True, timeout=60).stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    out = tmp_path / "out"
    assert modelpack("pull", "--plain-http", dst, "-o", str(out)).code == 0
    assert tree(out) == tree(model)


def test_omlmd_pulls_what_modelpack_pushed(registry: Registry, tmp_path: Path) -> None:
    from omlmd.helpers import Helper
    from omlmd.provider import OMLMDRegistry

    model = make_tricky_model(tmp_path / "model")
    ref = registry.repo() + ":v1"
    mp.push(model, ref, options=PLAIN)
    out = tmp_path / "omlmd-out"
    Helper(OMLMDRegistry(insecure=True)).pull(ref, out)
    # Every file under its path (omlmd restores no modes: those are ours to restore).
    assert {k: v[0] for k, v in tree(out).items()} == {k: v[0] for k, v in tree(model).items()}
    # (omlmd's `get config`/`crawl` look for the config among the layers, where omlmd itself puts a copy;
    # model-spec's config is the manifest's config alone, so those two commands find none.)
