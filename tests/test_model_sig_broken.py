"""`pull -o` writes model.sig (the OpenSSF model-signing bundle) as a convenience: a model-signing referrer
deleted since it was listed, or one written broken by anyone with push rights, must neither fail a pull
whose files are complete and verified nor hide the real one."""

from __future__ import annotations

import json
from pathlib import Path

import modelpack as mp
from helpers import modelpack
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Index, parse_manifest
from modelpack.signatures import model_signing
from modelpack.signatures.lookup import MAX_BUNDLE_BYTES, fallback_tag
from modelpack.signatures.referrers import PREDICATE_ANNOTATION, attach_bundle
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_signing import keypair

PLAIN = ClientOptions(plain_http=True)


def _sign(ref: str, tmp_path: Path) -> None:
    private, _ = keypair(tmp_path, "k")
    assert modelpack("sign", "--plain-http", "--key", str(private), ref, env={"COSIGN_PASSWORD": "pw"}).code == 0


def _model_signing_referrers(ref: str) -> list[str]:
    repo = mp.remote(mp.Reference.parse(ref), PLAIN)
    index = parse_manifest(repo.fetch_manifest(fallback_tag(repo.resolve("v1").digest))[1])
    assert isinstance(index, Index)
    return [m.digest for m in index.manifests if m.artifact_type == mt.MODEL_SIGNING_ARTIFACT]


def test_a_deleted_model_signing_referrer_does_not_fail_the_pull(pushed: tuple[str, str], registry: Registry,
                                                                 tmp_path: Path) -> None:
    ref, _ = pushed
    _sign(ref, tmp_path)
    [listed] = _model_signing_referrers(ref)
    repository = mp.Reference.parse(ref).repository
    assert registry.session().delete(f"{registry.url}/v2/{repository}/manifests/{listed}").status_code == 202
    out = tmp_path / "out"
    pulled = modelpack("pull", "--plain-http", ref, "-o", str(out))
    assert pulled.code == 0, pulled.err
    assert sorted(p.name for p in out.iterdir()) == ["model.safetensors", "modelpack.yaml"]
    warnings = [line for line in pulled.err.splitlines() if line.startswith("warning: model.sig not written")]
    assert len(warnings) == 1 and listed in warnings[0], pulled.err


def test_a_broken_model_signing_referrer_listed_first_does_not_hide_the_real_one(pushed: tuple[str, str],
                                                                                 tmp_path: Path) -> None:
    ref, _ = pushed
    repo = mp.remote(mp.Reference.parse(ref), PLAIN)
    oversized = b" " * (MAX_BUNDLE_BYTES + 1)
    attach_bundle(repo, repo.resolve("v1"), mt.MODEL_SIGNING_ARTIFACT, oversized,
                  {PREDICATE_ANNOTATION: model_signing.PREDICATE})
    _sign(ref, tmp_path)
    assert len(_model_signing_referrers(ref)) == 2  # the broken one first
    out = tmp_path / "out"
    pulled = modelpack("pull", "--plain-http", ref, "-o", str(out))
    assert pulled.code == 0, pulled.err
    assert "dsseEnvelope" in json.loads((out / "model.sig").read_bytes())
    assert "model.sig not written" not in pulled.err


def test_a_model_signing_bundle_over_other_files_is_not_written(pushed: tuple[str, str], tmp_path: Path) -> None:
    """Anyone with push rights can attach a model-signing bundle; one whose statement lists other files
    (here: the model's file with another digest) would fail `model_signing verify` and keep modelpack.yaml
    out of the directory. It is passed over: the real one is written, or none and modelpack.yaml."""
    from modelpack.oci.descriptor import Descriptor, Manifest
    from modelpack.signatures import keys

    ref, _ = pushed
    repo = mp.remote(mp.Reference.parse(ref), PLAIN)
    subject = repo.resolve("v1")
    node = parse_manifest(repo.fetch_manifest(subject.digest)[1])
    assert isinstance(node, Manifest)
    layer = node.layers[0]
    other = Manifest(config=node.config, annotations=node.annotations, artifactType=node.artifact_type,
                     layers=[Descriptor(mediaType=layer.media_type, digest="sha256:" + "cd" * 32, size=layer.size,
                                        annotations=layer.annotations)])
    forged = model_signing.model_sig(keys.generate(), other, "m")
    assert forged is not None
    attach_bundle(repo, subject, mt.MODEL_SIGNING_ARTIFACT, forged, {PREDICATE_ANNOTATION: model_signing.PREDICATE})

    alone = modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "alone"))
    assert alone.code == 0, alone.err
    assert sorted(p.name for p in (tmp_path / "alone").iterdir()) == ["model.safetensors", "modelpack.yaml"]
    assert "model.sig not written" in alone.err and "lists other files" in alone.err

    _sign(ref, tmp_path)  # the real one, listed after the forged one
    both = modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "both"))
    assert both.code == 0, both.err
    written = (tmp_path / "both" / "model.sig").read_bytes()
    assert model_signing.lists_files_of(written, node) and written != forged
