"""A digest copied from the wrong line: `inspect` lists a model's layers and config by digest, and a newcomer
pulls `REPO@sha256:<a layer's digest>`. Distribution 2.8 answers such a manifest request with a bare
`500 UNKNOWN` (retried, then "answered HTTP 500"), other registries with 404. When the repository holds a
blob of that digest, the error says so, and names the command that prints a model's digest (one HEAD,
asked on the error's way out, only for the digest the user named). The 500 is not retried when a HEAD of the
blob, asked on the first one, finds it: retries took 11-14 s before the line could be said."""

from __future__ import annotations

from collections.abc import Callable

from modelpack.advice import Wording
from modelpack.errors import ModelpackError, NotFoundError, RegistryError
from modelpack.oci.descriptor import Descriptor
from modelpack.oci.digest import is_digest
from modelpack.oci.reference import Reference

BLOB_TYPE = "application/octet-stream"  # a HEAD of a blob asks for no media type; the descriptor needs one


def unless_a_blob(repo: object, version: str) -> Callable[[Exception], None] | None:
    """For a manifest request by digest, the check its first refusal worth retrying gets (`send`'s
    `before_retry`): when `repo` holds a blob of that digest, the refusal is final at once (blob_not_manifest
    then says why). None for a tag.

    Args:
        repo: the repository asked (anything without `has_blob` is not checked).
        version: the tag or digest of the manifest request.

    Returns:
        The check (it raises the refusal it is given, or returns for the request to be retried), or None.
    """
    has_blob = getattr(repo, "has_blob", None)
    if has_blob is None or not is_digest(version):
        return None

    def check(refusal: Exception) -> None:
        try:
            found = has_blob(Descriptor(mediaType=BLOB_TYPE, digest=version, size=0))
        except ModelpackError:
            return  # unknown: retried as any refusal is
        if found:
            raise refusal

    return check


def blob_not_manifest(exc: ModelpackError, repo: object, reference: Reference) -> NotFoundError | None:
    """The error to raise instead of `exc` when the digest `reference` names is a blob of its repository,
    not a manifest (None: it is not, or that could not be told).

    Args:
        exc: the registry's refusal of the manifest request (NotFoundError or RegistryError).
        repo: the repository read (anything without `has_blob` is not asked).
        reference: what the user named; only a reference by digest is looked into.

    Returns:
        A NotFoundError (exit 3) saying the digest is a blob's, with the command that prints a model's digest.
    """
    digest = reference.digest
    if not digest or not isinstance(exc, (NotFoundError, RegistryError)) or exc.manifest != digest:
        return None
    has_blob = getattr(repo, "has_blob", None)
    if has_blob is None:
        return None
    try:
        if not has_blob(Descriptor(mediaType=BLOB_TYPE, digest=digest, size=0)):
            return None
    except ModelpackError:
        return None  # the refusal already says what failed; an unanswered HEAD adds nothing
    status = f"HTTP {exc.status}" if isinstance(exc, RegistryError) and exc.status else "not found"
    repository = reference.name
    tagged = f"{repository}:TAG"
    return NotFoundError(
        f"{reference.written}: no manifest has that digest ({status}); it is the digest of a blob in {repository}, "
        "a layer or a config (as inspect lists them), not of a model",
        advice=Wording(f"modelpack.resolve({tagged!r}) gives a model's digest",
                       f"`modelpack resolve {tagged}` prints a model's digest"))
