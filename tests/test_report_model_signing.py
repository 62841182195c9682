"""The report (and the UI, which shows the same facts) checks the OpenSSF model-signing signature (model.sig)
with each key: its DSSE signature and that its statement lists exactly the model's files and digests. It
listed it as never verified, even with the key that made it; one of another model's files, signed by the
same key, must not verify. Real registry, keys made by `generate-key-pair`."""

from __future__ import annotations

import json
from pathlib import Path

import modelpack as mp
from helpers import modelpack
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Manifest, parse_manifest
from modelpack.signatures import keys, model_signing
from modelpack.signatures.referrers import PREDICATE_ANNOTATION, attach_bundle
from modelpack.store.options import ClientOptions
from test_signing import keypair

PLAIN = ClientOptions(plain_http=True)


def _model_signing_rows(ref: str, key: Path) -> list[dict[str, object]]:
    run = modelpack("report", "--plain-http", "--json", "--key", str(key), ref)
    assert run.code == 0, run.err
    return [r for r in json.loads(run.out)["referrers"] if r["kind"] == "model-signing"]


def test_model_signing_verifies_with_its_key_only_for_the_models_files(pushed: tuple[str, str],
                                                                       tmp_path: Path) -> None:
    ref, _ = pushed
    private, public = keypair(tmp_path, "k")
    _, other_public = keypair(tmp_path, "other")
    assert modelpack("sign", "--plain-http", "--key", str(private), ref, env={"COSIGN_PASSWORD": "pw"}).code == 0

    [row] = _model_signing_rows(ref, public)
    assert len(row["verified_by"]) == 1 and str(row["verified_by"][0]).startswith("cosign.pub")
    [unverified] = _model_signing_rows(ref, other_public)
    assert unverified["verified_by"] == []

    # The same key's model.sig over another model's files, attached to this one: not a signature of it.
    repo = mp.remote(mp.Reference.parse(ref), PLAIN)
    subject = repo.resolve("v1")
    node = parse_manifest(repo.fetch_manifest(subject.digest)[1])
    assert isinstance(node, Manifest)
    layer = node.layers[0]
    other_file = Descriptor(mediaType=layer.media_type, digest="sha256:" + "ab" * 32, size=layer.size,
                            annotations=layer.annotations)
    forged = model_signing.model_sig(keys.load_private_key(private, b"pw"), Manifest(
        config=node.config, layers=[other_file], annotations=node.annotations, artifactType=node.artifact_type), "m")
    assert forged is not None
    attach_bundle(repo, subject, mt.MODEL_SIGNING_ARTIFACT, forged, {PREDICATE_ANNOTATION: model_signing.PREDICATE})
    rows = _model_signing_rows(ref, public)
    assert len(rows) == 2
    assert sorted(len(r["verified_by"]) for r in rows) == [0, 1]
