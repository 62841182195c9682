"""The report's integrity table marks an entry verified only when that entry verified: cosign's legacy tags
(`sha256-<hex>.sig`, `.att`) hold several layers, and anyone who can push can add a forged one beside a
genuine one; it must read "not verified", not borrow the genuine layer's key."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import Path

import pytest

import modelpack as mp
from helpers import push_legacy_signature
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Manifest, parse_manifest
from modelpack.signatures import keys
from modelpack.signatures.attestations import DSSE_ENVELOPE, LEGACY_PREDICATE_ANNOTATION
from modelpack.signatures.dsse import IN_TOTO_PAYLOAD, STATEMENT_TYPE, pae
from modelpack.signatures.lookup import fallback_tag
from modelpack.signatures.referrers import COSIGN_SIGNATURE_ANNOTATION, SIMPLE_SIGNING
from modelpack.store.options import ClientOptions
from modelpack.store.target import RemoteRepository
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)
SLSA = "https://slsa.dev/provenance/v1"
SBOM = "https://cyclonedx.org/bom"

pytestmark = pytest.mark.interop


def _blob(repo: RemoteRepository, data: bytes, media_type: str, annotations: dict[str, str]) -> Descriptor:
    desc = Descriptor(mediaType=media_type, digest=digests.of_bytes(data), size=len(data), annotations=annotations)
    repo.push_blob(desc, lambda: io.BytesIO(data))
    return desc


def _put(repo: RemoteRepository, tag: str, layers: list[Descriptor], config: Descriptor | None = None) -> None:
    if config is None:
        config = _blob(repo, b"{}", "application/vnd.oci.image.config.v1+json", {})
    data = Manifest(config=config, layers=layers).canonical_bytes()
    repo.put_manifest(Descriptor(mediaType="application/vnd.oci.image.manifest.v1+json",
                                 digest=digests.of_bytes(data), size=len(data)), data, tag)


def _envelope(signer: keys.Signer, digest: str, predicate_type: str) -> bytes:
    alg, _, hexd = digest.partition(":")
    statement = json.dumps({"_type": STATEMENT_TYPE, "subject": [{"digest": {alg: hexd}}],
                            "predicateType": predicate_type, "predicate": {}}).encode()
    return json.dumps({"payload": base64.b64encode(statement).decode(), "payloadType": IN_TOTO_PAYLOAD,
                       "signatures": [{"sig": base64.b64encode(signer.sign(pae(IN_TOTO_PAYLOAD, statement)))
                                       .decode()}]}).encode()


def test_a_forged_layer_beside_a_genuine_one_is_not_verified(registry: Registry, tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(os.urandom(1000))
    ref = registry.repo() + ":v1"
    digest = mp.push(model, ref, options=PLAIN).descriptor.digest
    repo = mp.remote(mp.Reference.parse(ref), PLAIN)
    public = tmp_path / "cosign.pub"

    # A genuine legacy signature, then a forged layer appended to its tag.
    tag = push_legacy_signature(ref, digest, public)
    genuine = parse_manifest(repo.fetch_manifest(tag)[1])
    assert isinstance(genuine, Manifest)
    payload = json.dumps({"critical": {"type": "cosign container image signature",
                                       "image": {"docker-manifest-digest": digest}}, "optional": {}}).encode()
    forged = _blob(repo, payload, SIMPLE_SIGNING, {COSIGN_SIGNATURE_ANNOTATION: base64.b64encode(b"x" * 70).decode()})
    _put(repo, tag, [*genuine.layers, forged], genuine.config)

    # A genuine legacy SLSA attestation (the same key is not at hand: a second key, also given to the report),
    # and a forged "SBOM" layer beside it.
    signer = keys.generate()
    second = tmp_path / "second.pub"
    second.write_bytes(keys.public_pem(signer.public_key))
    real_att = _blob(repo, _envelope(signer, digest, SLSA), DSSE_ENVELOPE, {LEGACY_PREDICATE_ANNOTATION: SLSA})
    forged_att = _blob(repo, _envelope(keys.generate(), digest, SBOM), DSSE_ENVELOPE,
                       {LEGACY_PREDICATE_ANNOTATION: SBOM})
    _put(repo, fallback_tag(digest) + ".att", [real_att, forged_att])

    facts = mp.build_report(ref, [str(public), str(second)], options=PLAIN)
    marks = {r.location.rsplit("(", 1)[1].rstrip(")"): r.verified_by for r in facts.referrers if "(" in r.location}
    assert len(marks[genuine.layers[0].digest]) == 1 and marks[forged.digest] == []
    assert len(marks[real_att.digest]) == 1 and marks[forged_att.digest] == []
