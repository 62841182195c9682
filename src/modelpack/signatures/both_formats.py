"""`sign --signature-format both`: the sigstore bundle and the simple-signing `.sig`, all or nothing.

The registry API has no transaction, so the order makes undoing possible. First, what the `.sig` write
would refuse (a tag holding no signature manifest, 100 signatures already) is checked, before anything
is written. Then the bundle's referrers are written, and the `.sig` tag last: if that fails, the
referrers are deleted by digest. They are manifests only this signing wrote (each names its own created
time), so removing them touches no one else's signature; undoing a `.sig` instead would mean rewriting a
tag other signers share and may have appended to meanwhile. Their entries leave the `sha256-<hex>`
fallback index the same way (re-read, ours filtered out). And the tag enforcing nodes read
(containers/image reads `.sig`) appears only once the bundle is in place.

A registry refusing DELETE (405 UNSUPPORTED) cannot be fully undone: the fallback index is still
rewritten without our entries (a PUT; an empty index where the tag was new), so no verifier finds the
bundle there, and the error the signing raises names, in its one line, each manifest that stays and
whether a referrers API still lists it.
"""

from __future__ import annotations

import logging

from modelpack.errors import ModelpackError, NotFoundError, RegistryError, add_context
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Index, parse_manifest
from modelpack.signatures.keys import Signer
from modelpack.signatures.lookup import fallback_tag, referrers
from modelpack.signatures.referrers import attach_signature
from modelpack.signatures.simple_signing import attach_simple_signing, check_appendable
from modelpack.store.target import Deleter, Storage

log = logging.getLogger("modelpack.signatures")


def sign_both(repo: Storage, subject: Descriptor, identity: str, signer: Signer,
              annotations: dict[str, str] | None = None, name: str = "REPOSITORY") -> tuple[Descriptor, Descriptor]:
    """Write the bundle referrer(s) and then the `.sig` signature of `subject`; when the second write
    fails, what the first wrote is removed before the error is raised.

    Args:
        repo: the registry repository holding the subject.
        subject: the manifest signed.
        identity: the docker-reference the simple-signing payload names.
        signer: the private key.
        annotations: signed along, in both formats.
        name: the repository as the user writes it (registry/path), for the fix an error names.

    Returns:
        The bundle's referrer manifest and the `.sig` manifest.

    Raises:
        VerificationError: the `.sig` tag cannot take the signature (nothing is written).
        AuthenticationError, TransportError, RegistryError: a write failed; what was written is undone,
            and what could not be (a registry refusing deletes) is named in the same error's message.
    """
    check_appendable(repo, fallback_tag(subject.digest) + ".sig")
    written: list[Descriptor] = []
    try:
        bundle = attach_signature(repo, subject, signer, annotations, written)
        legacy = attach_simple_signing(repo, subject.digest, identity, signer, annotations)
    except BaseException as exc:  # Ctrl-C too: a half-written signing is what this prevents
        try:
            left = _undo(repo, subject.digest, written)
        except KeyboardInterrupt:  # a second Ctrl-C (or a SIGTERM) stops the undo: say what may stay
            log.warning("%s", _abandoned(subject.digest, written, name))
            raise
        if left and isinstance(exc, ModelpackError):
            add_context(exc, left)  # one line: the failure, then what of it stays
        elif left:
            log.warning("%s", left)
        raise
    return bundle, legacy


def _undo(repo: Storage, subject_digest: str, written: list[Descriptor]) -> str:
    """Delete the referrer manifests `written` and their fallback index entries. Returns what stays, in
    one line of words ("" when nothing does)."""
    if not written:
        return ""
    ours = {desc.digest for desc in written}
    tag = fallback_tag(subject_digest)
    stays: list[str] = []
    refused: list[str] = []  # manifests a registry refusing deletes keeps
    removable = False  # something `rm --remote` could still remove (a delete that failed otherwise)
    try:
        if _drop_from_fallback_index(repo, subject_digest, ours):
            stays.append(f"{tag} now names an empty index")
    except ModelpackError as exc:
        stays.append(f"{tag} still lists it ({exc})")
        removable = True
    for desc in reversed(written):
        try:
            if not isinstance(repo, Deleter):
                raise NotImplementedError("this storage cannot delete")
            repo.delete_manifest(desc.digest)
        except NotFoundError:
            continue  # its push never arrived
        except (ModelpackError, NotImplementedError) as exc:
            if isinstance(exc, RegistryError) and _refuses_deletes(exc):
                refused.append(desc.digest)
            else:
                stays.append(f"{desc.digest} ({exc})")
                removable = True
    if refused:
        stays.insert(0, f"the registry refuses deletes, so {_still_listed(repo, subject_digest, refused)}")
    if not stays:
        return ""
    fix = "sign again once the registry takes writes" + (
        ", and remove what stays with `modelpack rm --remote`" if removable else "")
    return f"the bundle signature written first was not fully removed: {'; '.join(stays)}; {fix}"


def _abandoned(subject_digest: str, written: list[Descriptor], name: str) -> str:
    """The line for an undo stopped half-way: what may stay, and the two ways to settle it."""
    digests = ", ".join(desc.digest for desc in written)
    return (f"the undo was interrupted: the bundle signature written first may stay ({digests}, listed in "
            f"{fallback_tag(subject_digest)} or by the referrers API); sign again to add the .sig, or remove it "
            f"with `modelpack rm --remote {name}@DIGEST`")


def _refuses_deletes(exc: RegistryError) -> bool:
    return exc.status == 405 or "UNSUPPORTED" in exc.codes


def _still_listed(repo: Storage, subject_digest: str, kept: list[str]) -> str:
    """Which of the manifests `kept` (not deleted) a verifier still finds as referrers of the subject."""
    try:
        listed = {ref.digest for ref in referrers(repo, subject_digest)}
    except ModelpackError:
        listed = set(kept)  # unknown: say the worse
    found = [d for d in kept if d in listed]
    unlisted = [d for d in kept if d not in listed]
    said = []
    if unlisted:
        said.append(f"{', '.join(unlisted)} stay(s), listed nowhere")
    if found:
        said.append(f"{', '.join(found)} stay(s) listed as its referrers (that bundle verifies; no .sig)")
    return "; ".join(said)


def _drop_from_fallback_index(repo: Storage, subject_digest: str, ours: set[str]) -> bool:
    """Rewrite the fallback index without `ours`; removed when nothing else is left in it. Returns True
    when it could not be removed (the registry refuses deletes) and an empty index stays in its place."""
    tag = fallback_tag(subject_digest)
    current = repo.find(tag)
    if current is None:
        return False
    node = parse_manifest(repo.fetch_manifest(current.digest)[1])
    if not isinstance(node, Index) or not any(m.digest in ours for m in node.manifests):
        return False
    kept = [m for m in node.manifests if m.digest not in ours]
    if not kept and isinstance(repo, Deleter):
        try:
            if not repo.untag(tag):
                repo.delete_manifest(current.digest)  # the index only this signing wrote
            return False
        except RegistryError as exc:
            if not _refuses_deletes(exc):
                raise
    data = Index(manifests=kept).canonical_bytes()
    repo.push_manifest(Descriptor(mediaType=mt.OCI_INDEX, digest=digests.of_bytes(data), size=len(data)), data, tag)
    return not kept
