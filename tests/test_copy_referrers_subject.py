"""`copy` carries a model's signatures and attestations along, and only those: what a source's fallback
index (or referrers API) lists is the source's claim, and an entry that does not name the model as its
`subject` (another model, of any size, planted there) stays behind, said in one line."""

from __future__ import annotations

import os
from pathlib import Path

import modelpack as mp
from helpers import modelpack
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Index, parse_manifest
from modelpack.signatures.lookup import fallback_tag
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_signing import keypair

PLAIN = ClientOptions(plain_http=True)


def _model(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(2000))
    return folder


def test_an_entry_that_is_no_referrer_of_the_model_is_not_copied(registry: Registry, tmp_path: Path) -> None:
    source, target = registry.repo("src"), registry.repo("dst")
    model = mp.push(_model(tmp_path, "x"), f"{source}:x", options=PLAIN).descriptor
    planted = mp.push(_model(tmp_path, "y"), f"{source}:y", options=PLAIN).descriptor
    private, public = keypair(tmp_path, "k")
    signed = modelpack("sign", "--plain-http", "--key", str(private), f"{source}:x", env={"COSIGN_PASSWORD": "pw"})
    assert signed.code == 0, signed.err
    repo = mp.remote(mp.Reference.parse(f"{source}:x"), PLAIN)
    index = parse_manifest(repo.fetch_manifest(fallback_tag(model.digest))[1])
    assert isinstance(index, Index)
    listed = Index(manifests=[*index.manifests, planted.replace(artifact_type=mt.SIGSTORE_BUNDLE)]).canonical_bytes()
    repo.put_manifest(Descriptor(mediaType=mt.OCI_INDEX, digest=digests.of_bytes(listed), size=len(listed)), listed,
                      fallback_tag(model.digest))

    copied = modelpack("copy", "--plain-http", f"{source}:x", f"{target}:x")
    assert copied.code == 0, copied.err
    dst = mp.remote(mp.Reference.parse(f"{target}:x"), PLAIN)
    assert dst.find(planted.digest) is None
    assert f"not copied: {planted.digest}, listed as a referrer of {model.digest}" in copied.err
    copied_index = parse_manifest(dst.fetch_manifest(fallback_tag(model.digest))[1])
    assert isinstance(copied_index, Index) and planted.digest not in {m.digest for m in copied_index.manifests}
    assert len(copied_index.manifests) == len(index.manifests)  # the signature and model.sig came along
    verified = modelpack("verify", "--plain-http", "--key", str(public), f"{target}:x")
    assert verified.code == 0, verified.err
