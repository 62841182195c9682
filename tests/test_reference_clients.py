"""Reference clients against our artifacts, on a real registry: skopeo copies a signed model with its
referrers fallback tag and the signature still verifies (cosign and modelpack) at the destination; crane
copies a model and its fallback index byte for byte; omlmd's own pull restores what modelpack pushed."""

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


def _cosign_verifies(cosign_bin: Path, public: Path, ref: str) -> None:
    theirs = cosign(cosign_bin, "verify", "--key", str(public), "--insecure-ignore-tlog=true", *COSIGN_FLAGS, ref)
    assert theirs.returncode == 0, theirs.stderr


def _pulls_verified(ref: str, public: Path, model: Path, out: Path, *flags: str) -> None:
    """`pull --verify-key` restores the model's files, and its model-signing referrer as model.sig."""
    pulled = modelpack("pull", *flags, "--verify-key", str(public), ref, "-o", str(out))
    assert pulled.code == 0, pulled.err
    assert tree(out, skip=("model.sig", "modelpack.yaml")) == tree(model) and (out / "model.sig").is_file()


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
    _cosign_verifies(cosign_bin, public, f"{dest}@{digest}")
    # model.sig is found though skopeo dropped the artifactType of the fallback index's entries.
    _pulls_verified(f"{dest}:v1", public, model, tmp_path / "out", "--plain-http")
    # From the layout too, and `modelpack copy` carries the signature on to a registry where cosign verifies it.
    _pulls_verified(f"oci:{layout}:v1", public, model, tmp_path / "from-layout")
    again = registry.repo("from-layout")
    copied = modelpack("copy", "--plain-http", f"oci:{layout}:v1", f"{again}:v1")
    assert copied.code == 0, copied.err
    _cosign_verifies(cosign_bin, public, f"{again}@{digest}")


def test_crane_copies_a_model_byte_for_byte_and_its_signature_with_it(registry: Registry, crane_bin: Path,
                                                                       cosign_bin: Path, tmp_path: Path) -> None:
    repo, digest, model, public = _signed(registry, tmp_path)
    dst = registry.repo("crane-copied")
    for name in ("v1", fallback_tag(digest)):  # crane copies an index with its children, not referrers
        done = subprocess.run([str(crane_bin), "copy", "--insecure", f"{repo}:{name}", f"{dst}:{name}"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    raw = subprocess.run([str(crane_bin), "manifest", "--insecure", f"{dst}:v1"], capture_output=True,
                         timeout=60).stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    _pulls_verified(f"{dst}:v1", public, model, tmp_path / "out", "--plain-http")
    _cosign_verifies(cosign_bin, public, f"{dst}@{digest}")


def test_oras_copies_a_signed_model_with_its_referrers(registry: Registry, oras_bin: Path, cosign_bin: Path,
                                                       tmp_path: Path) -> None:
    repo, digest, model, public = _signed(registry, tmp_path)
    dst = registry.repo("oras-copied")
    done = subprocess.run([str(oras_bin), "cp", "-r", "--from-plain-http", "--to-plain-http", f"{repo}:v1",
                           f"{dst}:v1"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    _pulls_verified(f"{dst}:v1", public, model, tmp_path / "out", "--plain-http")
    _cosign_verifies(cosign_bin, public, f"{dst}@{digest}")


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
