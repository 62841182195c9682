"""A reference naming both a tag and a digest (REPO:TAG@DIGEST, as Renovate and `crane digest --full-ref`
write them) is read by its digest, the tag ignored, as every OCI client does. When the registry's tag names
another digest (or none), that is worth a warning: a digest pasted beside the wrong tag, or a tag moved since."""

from __future__ import annotations

import logging

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


def say_tag_disagrees(repo: object, ref: Reference, log: logging.Logger, done: str) -> bool:
    """Warn when the registry's tag of `ref` (REPO:TAG@DIGEST) names another digest than `ref`'s, or none:
    `tag TAG of NAME names sha256:... in the registry: DONE`, as pull, lineage and k8s say it.

    Args:
        repo: the repository (see `tag_disagrees`).
        ref: the reference; one not naming both a tag and a digest is not looked into.
        log: the command's logger.
        done: what the command did by the digest alone ("pulled sha256:... by its digest").

    Returns:
        Whether the tag disagreed (and was said to).

    Raises:
        ModelpackError: the registry refused or could not be reached (other than "no such tag").
    """
    now = tag_disagrees(repo, ref)
    if now is not None:
        log.warning("tag %s of %s %s in the registry: %s", ref.tag, ref.name, now, done)
    return now is not None
