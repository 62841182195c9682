"""Notary Project signatures (what `notation sign` attaches): named, carried along, never counted as ours.

notation stores a signature as an OCI referrer of the signed manifest: an image manifest whose config media
type (and, in a referrers listing or the `sha256-<hex>` fallback index, artifactType) is
`application/vnd.cncf.notary.signature`, its one layer a JWS (`application/jose+json`) or COSE
(`application/cose`) envelope signed with an X.509 certificate chain. Whether it is trusted is for notation's
trust policy and trust stores: modelpack reads no envelope, says what the referrer is, copies it with the
model, and never counts it as a cosign or modelpack signature (nor does a signature policy).
"""

from __future__ import annotations

from modelpack.errors import ModelpackError
from modelpack.oci.descriptor import Descriptor, Manifest, listed_artifact_type
from modelpack.signatures.lookup import referrers
from modelpack.store.target import Storage

NOTARY_SIGNATURE = "application/vnd.cncf.notary.signature"
NOTARY_KIND = "notary-signature"  # how `report` and `ui` list one
NOTARY_NOTE = "a Notary Project signature: check it with notation verify"


def is_notary(listed: Descriptor | None, manifest: Manifest | None = None) -> bool:
    """Whether a referrer is a Notary Project signature, by its listing or its manifest.

    Args:
        listed: its entry in the referrers listing (or fallback index), whose artifactType says what it is.
        manifest: its manifest, where read: notation writes the type as the config's media type (no
            artifactType), which a listing without artifactType (skopeo 1.9's copy of a fallback index) leaves
            as the only sign.

    Returns:
        True when either names the Notary Project signature type.
    """
    if listed is not None and listed.artifact_type == NOTARY_SIGNATURE:
        return True
    return manifest is not None and listed_artifact_type(manifest) == NOTARY_SIGNATURE


def notary_note(count: int) -> str:
    """What a command says of the Notary Project signatures it found and did not count.

    Args:
        count: how many are attached (at least one).

    Returns:
        One clause, naming the check that does judge them.
    """
    which = "a Notary Project signature is" if count == 1 else f"{count} Notary Project signatures are"
    return (f"{which} attached, which is not a cosign or modelpack signature and is not counted as one: "
            "check it with notation verify")


def notary_listed(repo: Storage, digest: str) -> int:
    """How many Notary Project signatures the referrers of `digest` list, by their listing alone (no envelope
    or manifest read): what a refusal names so a notation-signed model is not taken for an unsigned one.

    Args:
        repo: where the model lives.
        digest: its manifest digest.

    Returns:
        The count; 0 also where the listing cannot be read (the refusal stands on its own reasons).
    """
    try:
        return sum(is_notary(ref) for ref in referrers(repo, digest))
    except ModelpackError:
        return 0
