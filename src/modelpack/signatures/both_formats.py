"""`sign --signature-format both`: the sigstore bundle and the simple-signing `.sig`, all or nothing.

The registry API has no transaction, so the order makes undoing possible. First, what the `.sig` write
would refuse (a tag holding no signature manifest, 100 signatures already) is checked, before anything
is written. Then the bundle's referrers are written, and the `.sig` tag last: if that fails, the
referrers are deleted by digest. They are manifests only this signing wrote (each names its own created
time), so removing them touches no one else's signature; undoing a `.sig` instead would mean rewriting a
tag other signers share and may have appended to meanwhile. Their entries leave the `sha256-<hex>`
fallback index the same way (re-read, ours filtered out). And the tag enforcing nodes read
(containers/image reads `.sig`) appears only once the bundle is in place.
"""

from __future__ import annotations

import logging

from modelpack.errors import ModelpackError, NotFoundError
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Index, parse_manifest
from modelpack.signatures.keys import Signer
from modelpack.signatures.lookup import fallback_tag
from modelpack.signatures.referrers import attach_signature
from modelpack.signatures.simple_signing import attach_simple_signing, check_appendable
from modelpack.store.target import Deleter, Storage

log = logging.getLogger("modelpack.signatures")


def sign_both(repo: Storage, subject: Descriptor, identity: str, signer: Signer,
              annotations: dict[str, str] | None = None) -> tuple[Descriptor, Descriptor]:
    """Write the bundle referrer(s) and then the `.sig` signature of `subject`; when the second write
    fails, what the first wrote is removed before the error is raised.

    Args:
        repo: the registry repository holding the subject.
        subject: the manifest signed.
        identity: the docker-reference the simple-signing payload names.
        signer: the private key.
        annotations: signed along, in both formats.

    Returns:
        The bundle's referrer manifest and the `.sig` manifest.

    Raises:
        VerificationError: the `.sig` tag cannot take the signature (nothing is written).
        AuthenticationError, TransportError, RegistryError: a write failed (what was written is undone; a
            warning names what could not be).
    """
    check_appendable(repo, fallback_tag(subject.digest) + ".sig")
    written: list[Descriptor] = []
    try:
        bundle = attach_signature(repo, subject, signer, annotations, written)
        legacy = attach_simple_signing(repo, subject.digest, identity, signer, annotations)
    except BaseException:  # Ctrl-C too: a half-written signing is what this prevents
        _undo(repo, subject.digest, written)
        raise
    return bundle, legacy


def _undo(repo: Storage, subject_digest: str, written: list[Descriptor]) -> None:
    """Delete the referrer manifests `written` and their fallback index entries; a warning names what stays."""
    if not written:
        return
    ours = {desc.digest for desc in written}
    left: list[str] = []
    try:
        _drop_from_fallback_index(repo, subject_digest, ours)
    except ModelpackError as exc:
        left.append(f"{fallback_tag(subject_digest)} ({exc})")
    for desc in reversed(written):
        try:
            if not isinstance(repo, Deleter):
                raise NotImplementedError("this storage cannot delete")
            repo.delete_manifest(desc.digest)
        except NotFoundError:
            continue  # its push never arrived
        except (ModelpackError, NotImplementedError) as exc:
            left.append(f"{desc.digest} ({exc})")
    if left:
        log.warning("the bundle signature written before the failure could not be removed: %s; "
                    "remove it with `modelpack rm --remote`, or sign again", "; ".join(left))


def _drop_from_fallback_index(repo: Storage, subject_digest: str, ours: set[str]) -> None:
    tag = fallback_tag(subject_digest)
    current = repo.find(tag)
    if current is None:
        return
    node = parse_manifest(repo.fetch_manifest(current.digest)[1])
    if not isinstance(node, Index) or not any(m.digest in ours for m in node.manifests):
        return
    kept = [m for m in node.manifests if m.digest not in ours]
    if not kept and isinstance(repo, Deleter):
        if not repo.untag(tag):
            repo.delete_manifest(current.digest)  # the index only this signing wrote
        return
    data = Index(manifests=kept).canonical_bytes()
    repo.push_manifest(Descriptor(mediaType=mt.OCI_INDEX, digest=digests.of_bytes(data), size=len(data)), data, tag)
