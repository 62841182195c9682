"""ECDSA P-384 keys, both ways with the real cosign: a key cosign imported (its encrypted format) signs
with modelpack, and a plain PEM key signs with cosign; each side verifies the other's bundles, legacy
`.sig` signatures and attestations."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry
from test_copy_signatures import PW
from test_push_signatures import attest
from test_sign_simple_signing import pem_keys
from test_signature_policy import push_model
from test_signing import COSIGN_FLAGS, cosign, model_signing_tool

pytestmark = pytest.mark.interop

NO_TLOG = ["--use-signing-config=false", "--tlog-upload=false", "-y"]


def imported_p384(cosign_bin: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(cosign's encrypted private key, its public key, the PEM it was imported from): a P-384 key pair."""
    private_pem, _ = pem_keys(tmp_path, "p384")
    done = cosign(cosign_bin, "import-key-pair", "--key", str(private_pem), "--output-key-prefix",
                  str(tmp_path / "imported"), password="pw")
    assert done.returncode == 0, done.stderr
    assert b"ENCRYPTED SIGSTORE PRIVATE KEY" in (tmp_path / "imported.key").read_bytes()
    return tmp_path / "imported.key", tmp_path / "imported.pub", private_pem


def p384_model(registry: Registry, cosign_bin: Path, tmp_path: Path) -> tuple[str, str, Path, Path]:
    """(repository, digest, cosign's encrypted P-384 private key, its public key): an unsigned model pushed."""
    repo = registry.repo()
    digest = push_model(repo + ":v1", tmp_path, "m")
    key, public, _ = imported_p384(cosign_bin, tmp_path)
    return repo, digest, key, public


def other_p384(tmp_path: Path) -> Path:
    """The public half of another P-384 key."""
    (tmp_path / "other").mkdir()
    return pem_keys(tmp_path / "other", "p384")[1]


def cosign_signs(cosign_bin: Path, key: Path, pinned: str, *, legacy: bool) -> None:
    """cosign signs `pinned` with `key` (password "pw"): a bundle, or with `legacy` a `.sig` signature."""
    flags = ["--new-bundle-format=false"] if legacy else []
    signed = cosign(cosign_bin, "sign", "--key", str(key), *NO_TLOG, *flags, *COSIGN_FLAGS, pinned, password="pw")
    assert signed.returncode == 0, signed.stderr


def cosign_verify(cosign_bin: Path, public: Path, ref: str, *extra: str) -> bool:
    done = cosign(cosign_bin, "verify", "--key", str(public), "--insecure-ignore-tlog=true", *COSIGN_FLAGS,
                  *extra, ref)
    return done.returncode == 0


def modelpack_verifies(public: Path, ref: str) -> bool:
    done = modelpack("verify", "--plain-http", "--key", str(public), ref)
    assert done.code in (0, 7), done.err
    return done.code == 0


@pytest.mark.parametrize("form", ["bundle", "simple-signing"])
def test_modelpack_signs_with_a_p384_key_cosign_imported_and_cosign_verifies(
        registry: Registry, cosign_bin: Path, tmp_path: Path, form: str) -> None:
    repo, digest, key, public = p384_model(registry, cosign_bin, tmp_path)
    assert not cosign_verify(cosign_bin, public, f"{repo}@{digest}")  # unsigned yet
    signed = modelpack("sign", "--plain-http", "--key", str(key), "--signature-format", form, repo + ":v1", env=PW)
    assert signed.code == 0, signed.err
    legacy = ["--new-bundle-format=false"] if form == "simple-signing" else []
    assert cosign_verify(cosign_bin, public, f"{repo}@{digest}", *legacy)
    assert modelpack_verifies(public, repo + ":v1")
    other = other_p384(tmp_path)
    assert not cosign_verify(cosign_bin, other, f"{repo}@{digest}", *legacy)  # another P-384 key: refused
    assert not modelpack_verifies(other, repo + ":v1")
    if form == "bundle":  # model.sig (SHA-384, as model_signing checks P-384) verifies offline
        out = tmp_path / "out"
        assert modelpack("pull", "--plain-http", "--verify-key", str(public), repo + ":v1", "-o", str(out)).code == 0
        checked = subprocess.run([model_signing_tool(), "verify", "key", "--signature", str(out / "model.sig"),
                                  "--public_key", str(public), str(out)], capture_output=True, text=True, timeout=120)
        assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("form", ["bundle", "legacy"])
def test_cosign_signs_with_a_p384_key_and_modelpack_verifies(registry: Registry, cosign_bin: Path,
                                                             tmp_path: Path, form: str) -> None:
    repo, digest, key, public = p384_model(registry, cosign_bin, tmp_path)
    cosign_signs(cosign_bin, key, f"{repo}@{digest}", legacy=form == "legacy")
    assert modelpack_verifies(public, repo + ":v1")
    other = other_p384(tmp_path)
    assert not modelpack_verifies(other, repo + ":v1")


@pytest.mark.parametrize("form", ["bundle", "legacy"])
def test_p384_attestations_both_ways(registry: Registry, cosign_bin: Path, tmp_path: Path, form: str) -> None:
    repo, digest, key, public = p384_model(registry, cosign_bin, tmp_path)
    if form == "legacy":
        attest(cosign_bin, key, f"{repo}@{digest}", tmp_path)
    else:
        (tmp_path / "pred.json").write_text('{"stage": "prod"}')
        done = cosign(cosign_bin, "attest", "--key", str(key), "--predicate", str(tmp_path / "pred.json"),
                      "--type", "custom", *NO_TLOG, *COSIGN_FLAGS, f"{repo}@{digest}", password="pw")
        assert done.returncode == 0, done.stderr
    checked = modelpack("verify-attestation", "--plain-http", "--key", str(public), "--type", "custom", repo + ":v1")
    assert checked.code == 0, checked.err
    # modelpack attests with the same key; cosign verifies it (a second predicate type).
    (tmp_path / "review.json").write_text('{"approved": true}')
    made = modelpack("attest", "--plain-http", "--key", str(key), "--predicate", str(tmp_path / "review.json"),
                     "--type", "https://example.com/review/v1", repo + ":v1", env=PW)
    assert made.code == 0, made.err
    done = cosign(cosign_bin, "verify-attestation", "--key", str(public), "--type", "https://example.com/review/v1",
                  "--insecure-ignore-tlog=true", *COSIGN_FLAGS, f"{repo}@{digest}")
    assert done.returncode == 0, done.stderr
    other = other_p384(tmp_path)
    assert modelpack("verify-attestation", "--plain-http", "--key", str(other), "--type", "custom",
                     repo + ":v1").code == 7
