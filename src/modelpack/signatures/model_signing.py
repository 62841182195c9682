"""OpenSSF model-signing (`model.sig`): a sigstore bundle whose in-toto statement lists every file of the
model with its sha256, so a pulled directory stays verifiable offline with `model_signing verify key`.

A ModelPack manifest already holds each file's sha256 (a raw layer's digest is its file's digest), so the
statement is written from the manifest alone, without reading the files.
"""

from __future__ import annotations

import base64
import hashlib
import json

from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Manifest
from modelpack.signatures.dsse import IN_TOTO_PAYLOAD, STATEMENT_TYPE, pae
from modelpack.signatures.keys import Signer, public_pem
from modelpack.unpacking import layer_is_archive, layer_path, safe_relpath

PREDICATE = "https://model_signing/signature/v1.0"
DEFAULT_IGNORED = [".github", ".gitattributes", ".git", ".gitignore"]


def statement(manifest: Manifest, name: str) -> bytes | None:
    """The statement for a manifest's files; None when a layer is an archive (no per-file digests)."""
    resources = []
    for layer in manifest.layers:
        path = layer_path(layer)
        if layer_is_archive(layer) or path is None or not layer.digest.startswith("sha256:"):
            return None
        resources.append({"name": safe_relpath(path), "algorithm": "sha256", "digest": layer.digest.split(":")[1]})
    if not resources:
        return None
    resources.sort(key=lambda r: r["name"])
    root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources)).hexdigest()
    body = {"_type": STATEMENT_TYPE, "subject": [{"name": name, "digest": {"sha256": root}}],
            "predicateType": PREDICATE,
            "predicate": {"resources": resources,
                          "serialization": {"hash_type": "sha256", "allow_symlinks": False, "method": "files",
                                            "ignore_paths": DEFAULT_IGNORED}}}
    return json.dumps(body, separators=(",", ":")).encode()


def model_sig(signer: Signer, manifest: Manifest, name: str) -> bytes | None:
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
