"""Writing cosign's simple-signing signatures: the legacy layout that containers/image (podman, skopeo,
CRI-O) reads for a `sigstoreSigned` policy requirement, and that cosign 3 still verifies.

One manifest, tagged `sha256-<hex>.sig`, holds every signer's signature of a manifest as a layer: the
JSON payload naming the digest and the signed docker-reference, its signature (base64) in the layer's
`dev.cosignproject.cosign/signature` annotation. Signing appends a layer, keeping the others. Tags have
no compare-and-swap in the registry API, so the tag is re-read just before and a moment after it is
written: a signer who wrote in between is seen and the append is redone on top of theirs.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import time
from collections.abc import Callable

from modelpack.advice import Wording, compose, setting
from modelpack.errors import NotFoundError, UsageError, VerificationError
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Manifest, json_bytes
from modelpack.signatures.keys import Signer, verify_signature
from modelpack.signatures.lookup import MAX_REFERRERS, TAG_SETTLE_SECONDS, fallback_tag, signature_manifest
from modelpack.store.target import Storage

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIMPLE_SIGNING_TYPE = "cosign container image signature"  # critical.type of an image signature
IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"  # cosign's .sig manifests carry an image config
ATTEMPTS = 5  # appends redone when another signer wrote the tag meanwhile
log = logging.getLogger("modelpack.signatures")


def payload(docker_reference: str, digest: str, annotations: dict[str, str] | None = None) -> bytes:
    """The simple-signing payload cosign writes (same keys, same order, compact).

    Args:
        docker_reference: the signed identity (`critical.identity.docker-reference`).
        digest: the manifest digest signed.
        annotations: the `optional` map (null when there are none, as cosign writes).

    Returns:
        The bytes to sign and store.

    Raises:
        UsageError: an annotation containers/image reads with another type (`timestamp` is an integer).
    """
    if annotations and "timestamp" in annotations:
        raise UsageError(compose("{}: containers/image reads a simple-signing `timestamp` as an integer and "
                                 "would refuse this signature",
                                 setting("annotations={'timestamp': ...}", "-a timestamp=...")),
                         advice=Wording("choose another annotation name", "choose another annotation name"))
    body = {"critical": {"identity": {"docker-reference": docker_reference},
                         "image": {"docker-manifest-digest": digest},
                         "type": SIMPLE_SIGNING_TYPE},
            "optional": dict(annotations) if annotations else None}
    return json.dumps(body, separators=(",", ":")).encode()


def attach_simple_signing(repo: Storage, subject_digest: str, docker_reference: str, signer: Signer,
                          annotations: dict[str, str] | None = None) -> Descriptor:
    """Sign `subject_digest` as `docker_reference` and add the signature to its `sha256-<hex>.sig`
    manifest, keeping the signatures already there; signing again what is already signed by this key
    adds nothing.

    Args:
        repo: the registry repository holding the subject.
        subject_digest: the manifest digest signed.
        docker_reference: the identity signed (see `payload`).
        signer: the private key.
        annotations: signed along (the payload's `optional`).

    Returns:
        The `.sig` manifest's descriptor, as the tag names it.

    Raises:
        VerificationError: the tag holds something that is not a signature manifest, or already
            MAX_REFERRERS signatures, or other signers kept rewriting it (nothing of theirs is dropped).
    """
    data = payload(docker_reference, subject_digest, annotations)
    signature = base64.b64encode(signer.sign(data, sha256=True)).decode()
    layer = Descriptor(mediaType=SIMPLE_SIGNING, digest=digests.of_bytes(data), size=len(data),
                       annotations={COSIGN_SIGNATURE_ANNOTATION: signature})
    tag = fallback_tag(subject_digest) + ".sig"
    return append_layers(repo, tag, [layer], lambda: _push_missing(repo, layer, data),
                         holds=lambda layers: _signed_by(layers, layer.digest, signer, data) is not None)


def append_layers(repo: Storage, tag: str, wanted: list[Descriptor], upload: Callable[[], None], *,
                  holds: Callable[[list[Descriptor]], bool] | None = None, doing: str = "sign") -> Descriptor:
    """Add to the signature manifest `tag` names each layer of `wanted` it lacks (the same digest, media
    type and annotations), keeping every layer already there, in order; the tag is made if absent. `sign`
    appends its signature so, and `copy` merges a source's `.sig`/`.att` into a destination's.

    Args:
        repo: where the tag lives.
        tag: `sha256-<hex>.sig` (or `.att`).
        wanted: the layers to be there.
        upload: pushes their blobs; called once, only when something is to be written.
        holds: whether the current layers already hold what `wanted` stands for (sign: this key's
            signature of this payload, whose bytes differ at each signing); then nothing is written.
        doing: what the refusal tells the user to do once the tag is cleaned up.

    Returns:
        The descriptor the tag names once the layers are there.

    Raises:
        VerificationError: the tag holds something that is not a signature manifest, or would hold more
            than MAX_REFERRERS layers, or other writers kept rewriting it (nothing of theirs is dropped).
    """
    uploaded = False  # the blobs go up only once the tag is judged writable
    for _ in range(ATTEMPTS):
        seen = repo.find(tag)
        layers = _current_layers(repo, tag, doing) if seen is not None else []
        missing = [x for x in wanted if not _has_layer(layers, x)]
        if seen is not None and (not missing or (holds is not None and holds(layers))):
            return seen  # already there: nothing to add
        _check_room(tag, len(layers), len(missing), doing)
        if not uploaded:
            upload()
        uploaded = True
        desc, manifest = _manifest([*layers, *missing], repo)
        now = repo.find(tag)
        if (now.digest if now else None) != (seen.digest if seen else None):
            continue  # another writer wrote in between: append to theirs
        repo.push_manifest(desc, manifest, tag)
        time.sleep(TAG_SETTLE_SECONDS)
        after = repo.find(tag)
        if after is not None and all(_has_layer(_current_layers(repo, tag, doing), x) for x in wanted):
            return after
        log.info("%s was rewritten meanwhile; adding the layers again", tag)
    raise VerificationError(f"{tag} kept changing while writing it ({ATTEMPTS} attempts): others are writing "
                            f"it; {doing} again when they are done")


def check_appendable(repo: Storage, tag: str) -> None:
    """Raise now what `attach_simple_signing` would refuse before writing (a tag holding no signature
    manifest, or MAX_REFERRERS layers already): sign --signature-format both asks before writing anything."""
    _check_room(tag, len(_current_layers(repo, tag)) if repo.find(tag) is not None else 0, 1, "sign")


def _check_room(tag: str, present: int, added: int, doing: str) -> None:
    if present + added > MAX_REFERRERS:  # more would not be read: cosign and modelpack walk at most this many
        raise VerificationError(f"{tag} holds {present} layers, and cosign and modelpack read at most "
                                f"{MAX_REFERRERS} signatures: delete the tag (or its stale signatures) to {doing}")


def _has_layer(layers: list[Descriptor], wanted: Descriptor) -> bool:
    # The media type too: the same bytes under another type are not read as a signature or attestation.
    return any(x.digest == wanted.digest and x.media_type == wanted.media_type and x.annotations == wanted.annotations
               for x in layers)


def _push_missing(repo: Storage, layer: Descriptor, data: bytes) -> None:
    if not repo.has_blob(layer):
        repo.push_blob(layer, lambda: io.BytesIO(data))


def _current_layers(repo: Storage, tag: str, doing: str = "sign") -> list[Descriptor]:
    """The layers of the manifest `tag` names (read with the manifest size cap); a tag deleted meanwhile
    has none. Raises VerificationError when it names something other than a manifest."""
    try:
        node = signature_manifest(repo, tag)
    except NotFoundError:
        return []
    except VerificationError as exc:
        raise VerificationError(f"{exc}; not overwritten: remove the tag {tag} to {doing}") from None
    return list(node.layers)


def _signed_by(layers: list[Descriptor], payload_digest: str, signer: Signer, data: bytes) -> Descriptor | None:
    """The layer among `layers` that already holds this key's signature of exactly this payload."""
    for existing in layers:
        encoded = existing.annotation(COSIGN_SIGNATURE_ANNOTATION)
        if existing.media_type != SIMPLE_SIGNING or existing.digest != payload_digest or not encoded:
            continue
        try:
            signature = base64.b64decode(encoded, validate=True)
        except ValueError:
            continue
        if verify_signature(signer.public_key, signature, data, sha256=True):
            return existing
    return None


def _manifest(layers: list[Descriptor], repo: Storage) -> tuple[Descriptor, bytes]:
    """The `.sig` manifest holding `layers`, with the image config cosign writes (its rootfs lists each
    layer), the config pushed."""
    config = json_bytes({"architecture": "", "created": "0001-01-01T00:00:00Z",
                         "history": [{"created": "0001-01-01T00:00:00Z"}] * len(layers), "os": "",
                         "rootfs": {"type": "layers", "diff_ids": [x.digest for x in layers]}, "config": {}})
    config_desc = Descriptor(mediaType=IMAGE_CONFIG, digest=digests.of_bytes(config), size=len(config))
    if not repo.has_blob(config_desc):
        repo.push_blob(config_desc, lambda: io.BytesIO(config))
    data = Manifest(config=config_desc, layers=layers).canonical_bytes()
    return Descriptor(mediaType=mt.OCI_MANIFEST, digest=digests.of_bytes(data), size=len(data)), data
