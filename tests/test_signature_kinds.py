"""What counts as a signature: an attestation signed by the same key is not one, a legacy payload must be
cosign's image-signature type, and the signatures walked per image are capped (cosign: 100)."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import pytest

import modelpack as mp
from fault_proxy import FaultProxy
from helpers import modelpack, push_legacy_signature
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Index, Manifest
from modelpack.signatures import keys
from modelpack.signatures.dsse import IN_TOTO_PAYLOAD, pae
from modelpack.signatures.lookup import fallback_tag
from modelpack.signatures.referrers import attach_bundle
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_signing import COSIGN_FLAGS, assert_refused, cosign, keypair

PLAIN = ClientOptions(plain_http=True)
SLSA_V1 = "https://slsa.dev/provenance/v1"

pytestmark = pytest.mark.interop


def _push(repo: str, tmp_path: Path) -> tuple[str, str]:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(os.urandom(1000))
    digest = mp.push(model, repo + ":v1", options=PLAIN).descriptor.digest
    return repo + ":v1", digest


def _attestation(signer: keys.Signer, digest: str, predicate_type: str) -> bytes:
    """A DSSE bundle over an in-toto v1 statement with another predicate, as GitHub's attest action writes."""
    alg, _, hexd = digest.partition(":")
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": [{"digest": {alg: hexd}}],
                            "predicateType": predicate_type, "predicate": {"buildDefinition": {}}}).encode()
    return json.dumps({"mediaType": mt.SIGSTORE_BUNDLE, "dsseEnvelope": {
        "payload": base64.b64encode(statement).decode(), "payloadType": IN_TOTO_PAYLOAD,
        "signatures": [{"sig": base64.b64encode(signer.sign(pae(IN_TOTO_PAYLOAD, statement))).decode()}]}}).encode()


def test_an_attestation_is_not_a_signature(registry: Registry, cosign_bin: Path, tmp_path: Path) -> None:
    tag_ref, digest = _push(registry.repo(), tmp_path)
    private, public = keypair(tmp_path, "k")
    # In-toto v1 attestations signed by the key: one labelled honestly, one whose unsigned manifest
    # annotation claims to be a signature. Only the signed predicate type decides.
    repo = mp.remote(mp.Reference.parse(tag_ref), PLAIN)
    signer = keys.load_private_key(private, b"pw")
    subject = repo.resolve(digest)
    attach_bundle(repo, subject, mt.SIGSTORE_BUNDLE, _attestation(signer, digest, SLSA_V1),
            {"dev.sigstore.bundle.predicateType": SLSA_V1})
    attach_bundle(repo, subject, mt.SIGSTORE_BUNDLE, _attestation(signer, digest, "https://example.com/approved/v1"),
            {"dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1"})
    assert_refused(modelpack("verify", "--plain-http", "--key", str(public), tag_ref), "attestation")
    # cosign's own attestation (an in-toto v0.1 statement) as well.
    (tmp_path / "provenance.json").write_text('{"buildType": "x", "builder": {"id": "y"}}')
    attested = cosign(cosign_bin, "attest", "--key", str(private), "--type", "slsaprovenance", "--predicate",
                      str(tmp_path / "provenance.json"), "--use-signing-config=false", "--tlog-upload=false", "-y",
                      *COSIGN_FLAGS, tag_ref.rsplit(":", 1)[0] + "@" + digest, password="pw")
    assert attested.returncode == 0, attested.stderr
    assert_refused(modelpack("verify", "--plain-http", "--key", str(public), tag_ref), "attestation")
    out = tmp_path / "out"
    assert_refused(modelpack("pull", "--plain-http", "--verify-key", str(public), tag_ref, "-o", str(out)))
    assert not out.exists()
    # A real signature verifies, and is the only thing counted.
    assert modelpack("sign", "--plain-http", "--key", str(private), tag_ref, env={"COSIGN_PASSWORD": "pw"}).code == 0
    ok = modelpack("verify", "--plain-http", "--json", "--key", str(public), tag_ref)
    assert ok.code == 0, ok.err
    assert len(json.loads(ok.out)["signatures"]) == 1


def test_legacy_payload_of_another_type_is_refused(registry: Registry, tmp_path: Path) -> None:
    tag_ref, digest = _push(registry.repo(), tmp_path)
    public = tmp_path / "legacy.pub"
    push_legacy_signature(tag_ref, digest, public, kind="cosign container image attestation")
    assert_refused(modelpack("verify", "--plain-http", "--key", str(public), tag_ref),
                   "not a 'cosign container image signature'")


def test_signatures_walked_are_capped(registry: Registry, tmp_path: Path) -> None:
    tag_ref, digest = _push(registry.repo(), tmp_path)
    _, public = keypair(tmp_path, "k")
    repo = mp.remote(mp.Reference.parse(tag_ref), PLAIN)
    # 101 distinct (junk) signature manifests, listed in the fallback index: one more than cosign walks.
    junk = b"{}"
    blob = Descriptor(mediaType=mt.SIGSTORE_BUNDLE, digest=digests.of_bytes(junk), size=len(junk))
    repo.push_blob(blob, lambda: io.BytesIO(junk))
    entries = []
    for i in range(101):
        data = Manifest(artifactType=mt.SIGSTORE_BUNDLE, config=blob.replace(mediaType=mt.OCI_EMPTY), layers=[blob],
                        annotations={"n": str(i)}).canonical_bytes()
        entry = Descriptor(mediaType=mt.OCI_MANIFEST, digest=digests.of_bytes(data), size=len(data),
                           artifactType=mt.SIGSTORE_BUNDLE)
        repo.put_manifest(entry, data)
        entries.append(entry)
    data = Index(manifests=entries).canonical_bytes()
    repo.put_manifest(Descriptor(mediaType=mt.OCI_INDEX, digest=digests.of_bytes(data), size=len(data)), data,
                      fallback_tag(digest))
    with FaultProxy(registry.host) as proxy:
        via_proxy = proxy.host + "/" + tag_ref.split("/", 1)[1]
        assert_refused(modelpack("verify", "--plain-http", "--key", str(public), via_proxy), "more than 100")
        assert len(proxy.requests("GET", "/manifests/sha256:")) <= 2  # the index, not its 101 entries
