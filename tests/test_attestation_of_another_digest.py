"""An attestation made for another digest, found on this one (its referrers copied onto another model's):
`verify-attestation` said "found one of type X instead" (X only the unsigned label) and advised checking
the key and the type; it says the signed statement is about another digest, naming both. Exit 7 as before.
Against the real registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor
from modelpack.signatures.lookup import fallback_tag
from modelpack.store.options import ClientOptions
from test_signing import assert_refused, keypair

PLAIN = ClientOptions(plain_http=True)


@pytest.mark.parametrize("asked", ["slsaprovenance1", "custom"])
def test_an_attestation_about_another_digest_says_so(pushed: tuple[str, str], tmp_path: Path, asked: str) -> None:
    tag_ref, digest_ref = pushed
    attested = digest_ref.split("@")[1]
    private, public = keypair(tmp_path, "k")
    (tmp_path / "p.json").write_text(json.dumps({"buildDefinition": {"buildType": "https://example.com/t"}}))
    assert modelpack("attest", "--plain-http", "--key", str(private), "--predicate", str(tmp_path / "p.json"),
                     "--type", "slsaprovenance1", tag_ref, env={"COSIGN_PASSWORD": "pw"}).code == 0
    # Other content under the tag, and the first model's referrers copied onto it.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "model.safetensors").write_bytes(b"other weights")
    mp.push(tmp_path / "other", tag_ref, options=PLAIN)
    repo = mp.remote(mp.Reference.parse(tag_ref), PLAIN)
    other = repo.resolve("v1").digest
    index = repo.fetch_manifest(fallback_tag(attested))[1]
    repo.put_manifest(Descriptor(mediaType="application/vnd.oci.image.index.v1+json",
                                 digest=digests.of_bytes(index), size=len(index)), index, fallback_tag(other))
    refused = modelpack("verify-attestation", "--plain-http", "--key", str(public), "--type", asked, tag_ref)
    assert_refused(refused, f"its statement is about {attested}, not {other}", f"(attest {other} itself)")
    assert "found one of type" not in refused.err and "check the public key" not in refused.err
