"""`modelpack push REF` from the local store carries cosign's `.sig`/`.att` tags the store holds (as
`copy --from-local` does): cosign verifies the signature and the attestation at the destination with the
same key, `--json` says which tags were carried, and a hostile stored tag costs one warning, not the push."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import modelpack
from modelpack.oci.reference import Reference
from modelpack.signatures.lookup import fallback_tag
from modelpack.store.layout import LayoutStore
from registry_process import Registry
from test_copy_signatures import PW, SIGNED, _push_sig, copy, cosign_verifies, sig_manifest, tags
from test_signature_policy import cosign_keys, cosign_sign, push_model
from test_signing import COSIGN_FLAGS, cosign, keypair

pytestmark = pytest.mark.interop


def attest(cosign_bin: Path, key: Path, ref: str, tmp_path: Path, body: str = '{"stage": "prod"}',
           kind: str = "custom") -> None:
    """cosign's legacy attestation (a layer of the `sha256-<hex>.att` manifest)."""
    (tmp_path / "pred.json").write_text(body)
    done = cosign(cosign_bin, "attest", "--key", str(key), "--predicate", str(tmp_path / "pred.json"),
                  "--type", kind, "--use-signing-config=false", "--tlog-upload=false",
                  "--new-bundle-format=false", "-y", *COSIGN_FLAGS, ref, password="pw")
    assert done.returncode == 0, done.stderr


def attestation_verifies(cosign_bin: Path, public: Path, ref: str, kind: str = "custom") -> bool:
    done = cosign(cosign_bin, "verify-attestation", "--key", str(public), "--type", kind,
                  "--insecure-ignore-tlog=true", "--new-bundle-format=false", *COSIGN_FLAGS, ref)
    return done.returncode == 0


def signed_by_cosign(registry: Registry, cosign_bin: Path, tmp_path: Path) -> tuple[str, str, Path, Path]:
    """(repository, digest, private key, public key): a model pushed and signed by the cosign binary."""
    src = registry.repo()
    digest = push_model(src + ":v1", tmp_path, "m")
    key, public = cosign_keys(cosign_bin, tmp_path, "c")
    cosign_sign(cosign_bin, key, f"{src}@{digest}")
    return src, digest, key, public


def test_push_from_the_store_carries_the_sig_and_att_and_cosign_verifies_them(
        registry: Registry, fresh_registry: Callable[..., Registry], cosign_bin: Path, tmp_path: Path) -> None:
    src, digest, key_c, pub_c = signed_by_cosign(registry, cosign_bin, tmp_path)
    attest(cosign_bin, key_c, f"{src}@{digest}", tmp_path)
    key_a, pub_a = keypair(tmp_path, "a")
    dst = fresh_registry().repo("pushed")
    copy("--to-local", src + ":v1", dst + ":v1")  # into the store under the name it will be pushed as
    signed = modelpack("sign", "--local", "--key", str(key_a), dst + ":v1", env=PW)  # a bundle, in the store
    assert signed.code == 0, signed.err
    done = modelpack("push", "--plain-http", dst + ":v1")
    assert done.code == 0, done.err
    assert "carried 2 cosign signature tags (.att, .sig)" in done.err, done.err
    sig_tag, att_tag = fallback_tag(digest) + ".sig", fallback_tag(digest) + ".att"
    assert {sig_tag, att_tag} <= set(tags(dst))
    for suffix in (".sig", ".att"):  # byte for byte what cosign wrote at the source
        assert sig_manifest(dst, digest, suffix)[0] == sig_manifest(src, digest, suffix)[0]
    assert cosign_verifies(cosign_bin, pub_c, f"{dst}@{digest}")
    assert attestation_verifies(cosign_bin, pub_c, f"{dst}@{digest}")
    verified = modelpack("verify", "--plain-http", "--json", "--key", str(pub_a), dst + ":v1")  # the bundle too
    assert verified.code == 0, verified.err
    # Pushed again: --json says the tags are there already.
    again = modelpack("push", "--plain-http", "--json", dst + ":v1")
    assert again.code == 0, again.err
    assert json.loads(again.out)["signatureTags"] == {"copied": [], "present": [sig_tag, att_tag], "left": []}


def test_push_merges_into_the_destinations_sig(registry: Registry, fresh_registry: Callable[..., Registry],
                                               cosign_bin: Path, tmp_path: Path) -> None:
    src, digest, _, pub_c = signed_by_cosign(registry, cosign_bin, tmp_path)
    dst = fresh_registry().repo("merge")
    copy("--to-local", src + ":v1", dst + ":v1")
    copy("--no-referrers", src + ":v1", dst + ":v1")
    key_d, pub_d = cosign_keys(cosign_bin, tmp_path, "d")
    cosign_sign(cosign_bin, key_d, f"{dst}@{digest}")  # the destination's own signer
    [theirs] = sig_manifest(dst, digest)[1].layers
    done = modelpack("push", "--plain-http", "--json", dst + ":v1")
    assert done.code == 0, done.err
    assert json.loads(done.out)["signatureTags"]["copied"] == [fallback_tag(digest) + ".sig"]
    merged = sig_manifest(dst, digest)[1].layers
    assert merged[0] == theirs and len(merged) == 2
    for public in (pub_c, pub_d):
        assert cosign_verifies(cosign_bin, public, f"{dst}@{digest}")


def test_a_hostile_stored_sig_is_left_behind_with_one_warning(registry: Registry,
                                                              fresh_registry: Callable[..., Registry],
                                                              tmp_path: Path) -> None:
    src = registry.repo()
    digest = push_model(src + ":v1", tmp_path, "m")
    dst = fresh_registry().repo("h")
    copy("--to-local", src + ":v1", dst + ":v1")
    # copy left it behind; written into the store by hand, as a tampered store could hold it.
    _push_sig(LayoutStore().repository(Reference.parse(dst + ":v1").name), digest,
              [("application/x-sh", b"echo hi", SIGNED)])
    done = modelpack("push", "--plain-http", "--json", dst + ":v1")
    assert done.code == 0, done.err
    said = [line for line in done.err.splitlines() if line.startswith("warning")]
    assert len(said) == 1 and fallback_tag(digest) + ".sig not copied" in said[0], done.err
    assert json.loads(done.out)["signatureTags"]["left"] == [fallback_tag(digest) + ".sig"]
    assert tags(dst) == ["v1"]


def test_push_no_referrers_pushes_the_model_alone(registry: Registry, fresh_registry: Callable[..., Registry],
                                                  cosign_bin: Path, tmp_path: Path) -> None:
    src, digest, key_c, pub_c = signed_by_cosign(registry, cosign_bin, tmp_path)
    attest(cosign_bin, key_c, f"{src}@{digest}", tmp_path)
    key_a, pub_a = keypair(tmp_path, "a")
    dst = fresh_registry().repo("bare")
    copy("--to-local", src + ":v1", dst + ":v1")
    assert modelpack("sign", "--local", "--key", str(key_a), dst + ":v1", env=PW).code == 0  # a bundle, stored
    done = modelpack("push", "--plain-http", "--json", "--no-referrers", dst + ":v1")
    assert done.code == 0, done.err
    assert json.loads(done.out)["digest"] == digest and "signatureTags" not in json.loads(done.out)
    assert "carried" not in done.err
    assert tags(dst) == ["v1"]  # no .sig, .att, nor a referrers fallback index
    assert not cosign_verifies(cosign_bin, pub_c, f"{dst}@{digest}")
    assert modelpack("verify", "--plain-http", "--key", str(pub_a), dst + ":v1").code == 7  # no bundle either
    # Without the flag, the same push brings them all.
    again = modelpack("push", "--plain-http", dst + ":v1")
    assert again.code == 0, again.err
    assert cosign_verifies(cosign_bin, pub_c, f"{dst}@{digest}")
    assert modelpack("verify", "--plain-http", "--key", str(pub_a), dst + ":v1").code == 0
