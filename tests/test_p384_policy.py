"""P-384 simple-signing signatures under containers-policy.json's `sigstoreSigned`, judged as the reference
implementation judges them: containers/image verifies every sigstore payload signature hashed with SHA-256
whatever the curve (signature/internal/sigstore_payload.go, `sigstoreHarcodedHashAlgorithm`). So a P-384
signature hashed with SHA-384 (cosign 3 signing with a P-384 key) is refused by skopeo and by modelpack's
policy alike, and one hashed with SHA-256 (modelpack's) is accepted by both; skopeo is run where installed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry
from test_copy_signatures import PW
from test_p384_interop import cosign_signs, p384_model
from test_signature_policy import pull, signed_by, skopeo_verdict, write_policy

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("signer", ["cosign", "modelpack"])
def test_the_policy_judges_p384_signatures_as_containers_image_does(registry: Registry, cosign_bin: Path,
                                                                    tmp_path: Path, signer: str) -> None:
    repo, digest, key, public = p384_model(registry, cosign_bin, tmp_path)
    if signer == "cosign":  # SHA-384, as cosign 3 hashes for a P-384 key
        cosign_signs(cosign_bin, key, f"{repo}@{digest}", legacy=True)
    else:  # SHA-256, as containers/image checks
        done = modelpack("sign", "--plain-http", "--key", str(key), "--signature-format", "simple-signing",
                            repo + ":v1", env=PW)
        assert done.code == 0, done.err
    assert modelpack("verify", "--plain-http", "--key", str(public), repo + ":v1").code == 0  # valid either way
    policy = write_policy(tmp_path, {"default": signed_by(public)})
    code, err = pull(repo + ":v1", policy, tmp_path / "out")
    accepted = signer == "modelpack"
    assert (code == 0) == accepted, err
    if not accepted:
        assert code == 7 and "a signature by a policy key hashed with SHA-384" in err, err  # not "by none of its keys"
        assert "modelpack sign --signature-format simple-signing" in err, err
    if shutil.which("skopeo") is not None:
        theirs = skopeo_verdict(policy, repo + ":v1", registry, tmp_path)
        assert theirs is None or theirs == accepted, f"skopeo {'accepts' if theirs else 'refuses'}"
