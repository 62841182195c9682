"""Whether a model `k8s` writes YAML for must be checked for pickles, and the check of an image volume's
files: what `serve REF` asks of a model, asked of what the pod will load."""

from __future__ import annotations

import tempfile
from pathlib import Path

from modelpack.api.core import remote
from modelpack.errors import VerificationError, add_context
from modelpack.oci.descriptor import Index, Manifest
from modelpack.oci.reference import Reference
from modelpack.store.options import ClientOptions


def unvouched(ref: Reference, pinned: str, verify_key: str | Path | None, trusted: bool,
              options: ClientOptions | None) -> bool:
    """Whether what `pinned` holds must be checked for pickles: not when `verify_key` verifies its signature,
    nor when the user trusts it or the signature policy verified it.

    Args:
        ref: the reference given (its registry is asked for the signatures).
        pinned: the reference pinned by the digest the YAML writes.
        verify_key: a public key the signature must verify with, or None.
        trusted: `trust_unverified_pickle` given, or the signature policy verified the digest.
        options: registry client options.

    Returns:
        True when nothing vouches for the content.

    Raises:
        VerificationError: `verify_key` given and no signature on the digest verifies with it (exit 7).
    """
    if verify_key is not None:
        from modelpack.signatures import keys, referrers

        referrers.verify_signatures(remote(ref, options, mirrors=True), pinned.split("@")[1],
                                    keys.load_public_key(Path(verify_key)))
        return False
    return not trusted


def verify_deployed(ref: Reference, pinned: str, verify_key: str | Path | None, options: ClientOptions | None) -> None:
    """A serving image's signature, when a key is given (`k8s IMAGE --verify-key KEY`): it has no pickle
    check to vouch for, but a key given is a key checked (it was ignored, and the YAML written, exit 0).

    Raises:
        VerificationError: `verify_key` given and no signature on the image verifies with it (exit 7).
    """
    if verify_key is not None:
        unvouched(ref, pinned, verify_key, False, options)


def unvouched_modelcar(ref: Reference, pinned: str, verify_key: str | Path | None, trusted: bool,
                       options: ClientOptions | None) -> bool:
    """`unvouched` of a modelcar image (`k8s --kind kserve`): a key that verifies nothing on it says that
    the image's own signature is what is checked (a newcomer signed the model it was built from, and read
    only "no signatures found" of a digest they did not know).

    Raises:
        VerificationError: `verify_key` given and no signature on the image verifies with it (exit 7).
    """
    try:
        return unvouched(ref, pinned, verify_key, trusted, options)
    except VerificationError as exc:
        add_context(exc, f"the modelcar image itself is checked: `modelpack sign {ref} --key KEY` signs it "
                         "(the model it was built from is checked by build-image --verify-key)")
        raise


def refuse_unverified_pickle_volume(ref: Reference, digest: str, node: Manifest | Index,
                                     options: ClientOptions | None) -> None:
    """`served_file.refuse_unverified_pickle` of the files the volume mounts: the serving image serves them
    as its own directory. Asked of them as modelpack restores them (by path) and as the runtime mounts them
    (by title), where the artifact names them apart.

    Args:
        ref: the artifact's reference.
        digest: the digest the YAML mounts.
        node: its manifest.
        options: registry client options.

    Raises:
        UntrustedContentError: the serving image would load a pickle from it (exit 2).
    """
    from modelpack.image.served_file import JSON_HEAD, refuse_unverified_pickle, remote_heads, titled

    with tempfile.TemporaryDirectory(prefix="modelpack-k8s-") as folder:
        repo = remote(ref.with_digest(digest), options, mirrors=True)
        files = remote_heads(repo, node, Path(folder), {".json": JSON_HEAD})
        for names in (files, titled(node, files)):
            refuse_unverified_pickle(names, f"mount {ref} as a serving image's /models")
