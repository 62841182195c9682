"""A tag the registry does not have is most often a typo (`1.0.O`, `v1.0.0` for `1.0.0`): the error names
the nearest tag the repository has, from one tag list asked on the error's way out (only for the tag the
user named: a probe of a tag that may be missing, as push's or a signature's, never asks)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from modelpack.advice import compose
from modelpack.errors import ModelpackError, NotFoundError, RegistryError, reword
from modelpack.oci.reference import Reference
from modelpack.store.blob_digest import blob_not_manifest
from modelpack.store.target import TagLister

SIGNATURE_TAG_PREFIX = "sha256-"  # cosign's and the referrers fallback's tags: no version a user means
CUTOFF = 0.6  # difflib's get_close_matches default: `prd` finds `prod`, `zzz` finds nothing
MAX_NAMED = 3  # tags named when several are equally near


def name_nearest_tag(exc: NotFoundError, repo: object, tag: str | None) -> bool:
    """Add `did you mean TAG?` to `exc` (changed in place) when the manifest it did not find is `tag` and
    the repository has a tag close to it; when the repository itself is missing, say that instead.

    Args:
        exc: the registry's not-found error (its `manifest` attribute names what was asked for).
        repo: the repository, to list its tags (one that lists none, or fails to, adds nothing).
        tag: the tag the user named (None for a digest: nothing to suggest).

    Returns:
        Whether the repository itself is missing (said instead).
    """
    if not tag or exc.manifest != tag or not isinstance(repo, TagLister):
        return False
    try:
        # (valid tags only: see tags()). The tag itself is listed when it went between the list and the read
        # (`copy --all-tags` of a repository being pruned), or by a registry whose list is stale: no suggestion.
        tags = [t for t in repo.tags() if not t.startswith(SIGNATURE_TAG_PREFIX) and t != tag]
    except NotFoundError as missing:  # no such repository: its name is the typo, and `ls REPO` would say so
        reword(exc, missing.wording, missing.advice)
        return True
    except ModelpackError:
        return False  # the error already says what is missing; no list is no suggestion
    import difflib  # here: only a tag not found looks for a near one

    score = {t: difflib.SequenceMatcher(None, tag, t).ratio() for t in tags}
    best = max(score.values(), default=0.0)
    if best < CUTOFF:
        return False
    nearest = sorted(t for t, s in score.items() if s == best)  # a tie (`1.0.O`: 1.0.0 and 1.0.1) names all
    said = " or ".join(nearest[:MAX_NAMED]) + (" (or another)" if len(nearest) > MAX_NAMED else "")
    advice = compose(f"did you mean {said}? {{}}", exc.advice) if exc.advice else compose(f"did you mean {said}?")
    reword(exc, exc.wording, advice)
    return False


@contextlib.contextmanager
def naming_nearest_tag(repo: object, reference: object) -> Iterator[None]:
    """Within: a registry's not-found for the tag `reference` names (not a digest) names the nearest tag;
    a refusal of the digest it names, when that digest is a blob's, says so (`blob_digest`).

    Args:
        repo: the repository read.
        reference: what the user named (a `Reference`; anything else has no tag to correct).
    """
    tag = reference.tag if isinstance(reference, Reference) and not reference.digest else None
    try:
        yield
    except NotFoundError as exc:
        no_repository = name_nearest_tag(exc, repo, tag)
        if isinstance(reference, Reference) and reference.tag_implied and tag and exc.manifest == tag \
                and not no_repository:
            # `pull REG/team/iris` said "manifest of ...:latest: not found", as if `latest` had been typed.
            assumed = f"no tag was given, so {tag} was assumed"
            reword(exc, exc.wording, compose(f"{assumed}; {{}}", exc.advice) if exc.advice else compose(assumed))
        _raise_if_blob(exc, repo, reference)
        raise
    except RegistryError as exc:
        _raise_if_blob(exc, repo, reference)
        raise


def _raise_if_blob(exc: ModelpackError, repo: object, reference: object) -> None:
    if isinstance(reference, Reference) and reference.digest:
        instead = blob_not_manifest(exc, repo, reference)
        if instead is not None:
            raise instead from None
