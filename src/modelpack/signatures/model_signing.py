"""OpenSSF model-signing (`model.sig`): a sigstore bundle whose in-toto statement lists every file of the
model with its sha256, so a pulled directory stays verifiable offline with `model_signing verify key`.

A ModelPack manifest already holds each file's sha256 (a raw layer's digest is its file's digest), so the
statement is written from the manifest alone, without reading the files.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import TYPE_CHECKING, Any

from modelpack.artifact_paths import safe_relpath
from modelpack.errors import VerificationError
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Manifest
from modelpack.oci.jsontext import parse_or_none
from modelpack.unpacking import layer_is_archive, layer_path

if TYPE_CHECKING:  # (cryptography, imported by the keys, costs ~35 ms: `pull -o` only checks a listing)
    from modelpack.signatures.keys import PublicKey, Signer

PREDICATE = "https://model_signing/signature/v1.0"
DEFAULT_IGNORED = [".github", ".gitattributes", ".git", ".gitignore"]


def statement(manifest: Manifest, name: str) -> bytes | None:
    """The statement for a manifest's files; None when a layer is an archive (no per-file digests)."""
    from modelpack.signatures.dsse import STATEMENT_TYPE

    resources = _resources(manifest)
    if not resources:
        return None
    root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
    body = {"_type": STATEMENT_TYPE, "subject": [{"name": name, "digest": {"sha256": root}}],
            "predicateType": PREDICATE,
            "predicate": {"resources": resources,
                          "serialization": {"hash_type": "sha256", "allow_symlinks": False, "method": "files",
                                            "ignore_paths": DEFAULT_IGNORED}}}
    return json.dumps(body, separators=(",", ":")).encode()


def _resources(manifest: Manifest) -> list[dict[str, str]] | None:
    """Each file of the manifest (name, algorithm, digest), sorted by name; None when a layer is an archive."""
    resources = []
    for layer in manifest.layers:
        path = layer_path(layer)
        if layer_is_archive(layer) or path is None or not layer.digest.startswith("sha256:"):
            return None
        resources.append({"name": safe_relpath(path), "algorithm": "sha256", "digest": layer.digest.split(":")[1]})
    resources.sort(key=lambda r: r["name"])
    return resources


def model_sig(signer: Signer, manifest: Manifest, name: str) -> bytes | None:
    from modelpack.signatures.dsse import IN_TOTO_PAYLOAD, pae
    from modelpack.signatures.keys import public_pem

    payload = statement(manifest, name)
    if payload is None:
        return None
    signature = signer.sign(pae(IN_TOTO_PAYLOAD, payload))
    bundle = {
        "mediaType": mt.SIGSTORE_BUNDLE,
        # model-signing identifies the key by the sha256 of its PEM (cosign uses the DER's, in base64).
        "verificationMaterial": {"publicKey": {"hint": hashlib.sha256(public_pem(signer.public_key)).hexdigest()},
                                 "tlogEntries": []},
        "dsseEnvelope": {"payload": base64.b64encode(payload).decode(), "payloadType": IN_TOTO_PAYLOAD,
                         "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": ""}]},
    }
    return json.dumps(bundle, separators=(",", ":")).encode()


def verify_model_sig(data: bytes, public: PublicKey, manifest: Manifest) -> None:
    """Check an OpenSSF model-signing bundle (model.sig) with `public`: its DSSE signature, and that its
    statement lists exactly the files of `manifest`, each with its digest (a bundle of other files, or of
    these with one changed, signs another model). What `model_signing verify` checks of a directory,
    checked of the manifest the directory comes from.

    Args:
        data: the bundle's bytes.
        public: the key it must verify with.
        manifest: the model it must cover.

    Raises:
        VerificationError: malformed, not signed by `public`, or covering other files.
    """
    from modelpack.signatures.dsse import bundle_envelope, verify_envelope

    _check_lists_files(verify_envelope(bundle_envelope(data), public), manifest)


def lists_files_of(data: bytes, manifest: Manifest) -> bool:
    """Whether a model-signing bundle's statement lists exactly the files of `manifest` with their digests,
    its signature unchecked (no key at hand): `pull -o` writes only such a model.sig beside the files, not
    one anyone with push rights attached over other files, which would fail `model_signing verify` and
    keep modelpack.yaml out of the directory."""
    import base64

    bundle: Any = parse_or_none(data)
    try:
        _check_lists_files(base64.b64decode(bundle["dsseEnvelope"]["payload"], validate=True), manifest)
    except (VerificationError, ValueError, KeyError, TypeError):
        return False
    return True


def _check_lists_files(payload: bytes, manifest: Manifest) -> None:
    body = parse_or_none(payload)
    expected = _resources(manifest)
    if not isinstance(body, dict) or body.get("predicateType") != PREDICATE:
        raise VerificationError("not a model-signing statement")
    predicate = body.get("predicate")
    resources = predicate.get("resources") if isinstance(predicate, dict) else None
    if not isinstance(resources, list) or not all(isinstance(r, dict) for r in resources):
        raise VerificationError("malformed model-signing statement")
    if expected is None:
        raise VerificationError("the model has folders packed as one layer: no file digests to check against")
    signed = sorted((str(r.get("name")), str(r.get("algorithm")), str(r.get("digest"))) for r in resources)
    wanted = sorted((r["name"], r["algorithm"], r["digest"]) for r in expected)
    if signed != wanted:
        raise VerificationError("the model-signing statement lists other files or digests than the model's")
