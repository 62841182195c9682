"""A digest copied from the wrong line: `inspect` lists a model's layers and config by digest, and a newcomer
pulls `REPO@sha256:<a layer's digest>`. Distribution 2.8 answers such a manifest request with a bare
`500 UNKNOWN` (retried, then "answered HTTP 500"), other registries with 404. When the repository holds a
blob of that digest, the error says so, and names the command that prints a model's digest (asked on the
error's way out, only for the digest the user named). The 500 is not retried when the blob, asked about on
the first one, is found: retries took 11-14 s before the line could be said.

A registry that keeps manifests in its blob store may serve a manifest's digest as a blob too (Distribution
answers 404): a blob of that digest alone would make a transient 500 for a real manifest final. So the
blob's first bytes are read (BLOB_PEEK, one ranged GET) and only a blob that cannot be a manifest or index
(oci/manifest_start) is said to be one; one that could be keeps the request retried, as any 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from modelpack.advice import Wording
from modelpack.errors import ModelpackError, NotFoundError, RegistryError, TransportError
from modelpack.oci.descriptor import Descriptor
from modelpack.oci.digest import is_digest
from modelpack.oci.manifest_start import could_be_manifest
from modelpack.oci.reference import Reference
from modelpack.store.bodies import finish, read_at_most
from modelpack.store.wire_errors import wire_errors

if TYPE_CHECKING:
    from modelpack.store.registry import RegistryRepository

BLOB_TYPE = "application/octet-stream"  # a HEAD of a blob asks for no media type; the descriptor needs one
BLOB_PEEK = 4096  # bytes of the blob read to tell whether it could be the manifest asked for


def unless_a_blob(repo: object, version: str) -> Callable[[Exception], None] | None:
    """For a manifest request by digest, the check its first refusal worth retrying gets (`send`'s
    `before_retry`): when `repo` holds a blob of that digest that cannot be a manifest, the refusal is final
    at once (blob_not_manifest then says why). None for a tag.

    Args:
        repo: the repository asked (anything without `has_blob` is not checked).
        version: the tag or digest of the manifest request.

    Returns:
        The check (it raises the refusal it is given, or returns for the request to be retried), or None.
    """
    if getattr(repo, "has_blob", None) is None or not is_digest(version):
        return None

    def check(refusal: Exception) -> None:
        if is_a_blob_not_a_manifest(repo, version):
            raise refusal

    return check


def is_a_blob_not_a_manifest(repo: object, digest: str) -> bool:
    """Whether `repo` holds a blob of `digest` whose bytes cannot be a manifest or index: of a registry, its
    first BLOB_PEEK bytes are read (see above); of a local store, whose manifests are its blobs and which
    answered the manifest request already, that it has the blob.

    Args:
        repo: the repository (anything without `has_blob` is not asked).
        digest: the digest a manifest request named.

    Returns:
        False too when it has no such blob, or that could not be told (a refusal, no answer).
    """
    from modelpack.store.registry import RegistryRepository

    try:
        if isinstance(repo, RegistryRepository):
            start = _blob_start(repo, digest)
            return start is not None and not could_be_manifest(*start)
        has_blob = getattr(repo, "has_blob", None)
        return has_blob is not None and bool(has_blob(Descriptor(mediaType=BLOB_TYPE, digest=digest, size=0)))
    except ModelpackError:
        return False  # unknown: the refusal stands as it is (retried, as any)


def _blob_start(repo: RegistryRepository, digest: str) -> tuple[bytes, bool] | None:
    """The first BLOB_PEEK bytes (at most) of the blob `digest` in `repo`, and whether they are all of it;
    None when the repository has no such blob. One ranged GET, not retried (the request it explains is).

    Raises:
        TransportError, RegistryError: no answer, or a refusal.
    """
    resp = repo.client.send("GET", f"{repo.prefix}/blobs/{digest}", headers={"Range": f"bytes=0-{BLOB_PEEK - 1}"},
                            stream=True, allow_404=True, retries=0, what=f"blob {digest}")
    try:
        if resp.status_code == 404:
            return None
        data = read_at_most(resp, BLOB_PEEK)
    except wire_errors() as exc:
        raise TransportError(f"{repo.client.host}: blob {digest} could not be read ({exc})") from None
    finally:
        finish(resp)
    total = resp.headers.get("Content-Range", "").rpartition("/")[2].strip()
    whole = len(data) <= BLOB_PEEK and (resp.status_code == 200 or total == str(len(data)))
    return data[:BLOB_PEEK], whole


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
    if not is_a_blob_not_a_manifest(repo, digest):
        return None
    status = f"HTTP {exc.status}" if isinstance(exc, RegistryError) and exc.status else "not found"
    repository = reference.name
    tagged = f"{repository}:TAG"
    return NotFoundError(
        f"{reference.written}: no manifest has that digest ({status}); it is the digest of a blob in {repository}, "
        "a layer or a config (as inspect lists them), not of a model",
        advice=Wording(f"modelpack.resolve({tagged!r}) gives a model's digest",
                       f"`modelpack resolve {tagged}` prints a model's digest"))
