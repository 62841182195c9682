"""A reference naming both a tag and a digest (REPO:TAG@DIGEST, as Renovate and `crane digest --full-ref`
write them) is read by its digest, the tag ignored, as every OCI client does. When the registry's tag names
another digest (or none), that is worth a warning: a digest pasted beside the wrong tag, or a tag moved since."""

from __future__ import annotations

from modelpack.errors import NotFoundError
from modelpack.oci.reference import Reference


def tag_disagrees(repo: object, ref: Reference) -> str | None:
    """How the registry's tag of `ref` disagrees with its digest: `names sha256:...` or `does not exist`.

    Args:
        repo: the repository (its `resolve(tag)` answers with the tag's descriptor).
        ref: the reference; only one naming both a tag and a digest is looked into (one HEAD).

    Returns:
        None when the tag names that digest, or `ref` does not name both.

    Raises:
        ModelpackError: the registry refused or could not be reached (other than "no such tag").
    """
    if not ref.tag or not ref.digest or ref.tag_implied:
        return None
    try:
        current: str | None = repo.resolve(ref.tag).digest  # type: ignore[attr-defined]
    except NotFoundError:
        current = None
    if current == ref.digest:
        return None
    return f"names {current}" if current else "does not exist"
