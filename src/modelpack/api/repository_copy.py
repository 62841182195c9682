"""`copy --all-tags`: every version of a repository into another repository or an OCI layout, as `crane copy
--all-tags` and `skopeo sync` move an image repository: how a model repository goes into an air-gapped site
(`oci:DIR` on a disk, then that layout into the site's registry)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from modelpack.advice import compose
from modelpack.api.catalog import copy_model
from modelpack.api.core import TransferResult, remote
from modelpack.errors import ModelpackError, NotFoundError, UsageError, reword
from modelpack.first_few import first_few
from modelpack.oci.reference import Reference, is_tag
from modelpack.places import LayoutReference, Place, open_layout, parse_place
from modelpack.signatures.lookup import fallback_tag, is_signature_tag, signature_subject
from modelpack.store.blob_digest import is_a_blob_not_a_manifest
from modelpack.store.copy import CopyOptions
from modelpack.store.layout import LayoutStore
from modelpack.store.options import ClientOptions, closes_own_options
from modelpack.store.remote_routes import require_registry
from modelpack.store.target import Storage


@closes_own_options
def copy_all_tags(
    source: str | Place,
    target: str | Place,
    *,
    with_referrers: bool = True,
    options: ClientOptions | None = None,
    copy_options: CopyOptions | None = None,
    store: LayoutStore | None = None,
    warn: Callable[[str], None] | None = None,
    copied: Callable[[str, TransferResult], None] | None = None,
) -> list[TransferResult]:
    """Copy every tag of a repository, each with its signatures as `copy_model` carries them. cosign's and
    the referrers fallback's tags (`sha256-<hex>`, `.sig`, `.att`, `.sbom`) are not versions: they travel
    with the model they sign (or are left, with `with_referrers=False`). A signed model no tag names any
    more (a tag moved to a newer version while clusters still pull the old one by digest) is copied by its
    digest, with its signatures: its signature tags are how a repository lists it. The manifests of a copied
    index are not such models: they and their signatures travel with it.

    Args:
        source: a registry repository (`HOST/REPOSITORY`, no tag) or an OCI layout (`oci:DIR`). A registry's
            tags are its origin's; only when the origin cannot be reached, a registries.conf mirror's (said
            through `warn`: a pull-through cache lists only what it has served).
        target: a registry repository or an OCI layout, where each version keeps its tag.
        with_referrers: bring signatures and attestations along.
        options: how to reach the registries.
        copy_options: concurrency and progress of each copy.
        store: the local store (default: MODELPACK_HOME's), which keeps each manifest read.
        warn: told, one line each, what was not carried and why (default: a logging warning): names in a
            layout's index.json that are no tags, a tag removed from the source since its list was read.
        copied: told each tag (or a signed untagged model's digest) as soon as it is copied, with its result.

    Returns:
        Each copied tag's result, in tag order, then each signed untagged model's (its digest's order).

    Raises:
        UsageError: either side names a tag or digest, or is the local store's (name a repository or `oci:DIR`).
        NotFoundError: the source has no tags, or is no repository or layout.
        AuthenticationError, TransportError, RegistryError, IntegrityError: a copy failed; the error says
            which tag and how many were copied before it (those stay copied).
    """
    src, dst = _repository(source, "source"), _repository(target, "target")
    warn = warn or _log_warning
    repo: Storage
    if isinstance(src, LayoutReference):
        repo = open_layout(src)
        # index.json's ref.name is any text: `../../other/manifests/prod` or a line break would go into the
        # target's URLs as it is. Names that are no tags are left out, as a registry's tag list's are.
        named = repo.tags()
        tags = [tag for tag in named if is_tag(tag)]
        if len(tags) < len(named):
            warn(f"{src}: {len(named) - len(tags)} name(s) in index.json that are not valid tags left out")
    else:
        repo = remote(src, options, mirrors=True)
        tags = repo.tags()
        note = getattr(repo, "tag_list_note", lambda: None)()
        if note:
            warn(note)
    versions = sorted({tag for tag in tags if not is_signature_tag(tag)})  # (a registry may list one twice)
    if not versions:
        raise NotFoundError(f"{source} has no tags to copy")
    results: list[TransferResult] = []
    carried: set[str] = set()  # tags of one manifest: its signatures are walked once
    for tag in versions:
        try:
            result = copy_model(_tagged(src, tag), _tagged(dst, tag), with_referrers=with_referrers, options=options,
                                copy_options=copy_options, store=store, warn=warn, carried=carried)
        except NotFoundError as exc:
            if not _gone(repo, tag):
                raise _failed(exc, tag, len(results), len(versions)) from None
            # Removed since the list was read (a repository pruned meanwhile): no longer one of its versions.
            warn(f"tag {tag}: removed from {source} since its tag list was read; left out")
            continue
        except ModelpackError as exc:
            raise _failed(exc, tag, len(results), len(versions)) from None
        results.append(result)
        if copied is not None:
            copied(tag, result)
    if with_referrers:
        _copy_signed_untagged(src, dst, tags, repo, carried, results, options=options, copy_options=copy_options,
                              store=store, warn=warn, copied=copied)
    return results


def _copy_signed_untagged(src: Place, dst: Place, tags: list[str], repo: Storage, carried: set[str],
                          results: list[TransferResult], *, warn: Callable[[str], None],
                          copied: Callable[[str, TransferResult], None] | None, **copying: Any) -> None:
    """Copy by digest each model a signature tag names that no copied tag did, alone or as a manifest of an
    index (appended to `results`)."""
    tagged = len(results)
    subjects = {signature_subject(tag) for tag in tags}
    absent: list[str] = []
    for digest in sorted(d for d in subjects if d is not None and d not in carried):
        try:
            result = copy_model(_digested(src, digest), _digested(dst, digest), warn=warn, carried=carried,
                                **copying)
        except NotFoundError as exc:
            if not (_gone(repo, digest) or is_a_blob_not_a_manifest(repo, digest)):
                raise _failed_untagged(exc, digest, tagged, len(results) - tagged) from None
            # Signatures of a manifest since deleted (cosign leaves its tags behind), or a tag naming a blob's
            # digest: nothing to carry. Said once: a source may list thousands.
            absent.append(digest)
            continue
        except ModelpackError as exc:
            raise _failed_untagged(exc, digest, tagged, len(results) - tagged) from None
        results.append(result)
        if copied is not None:
            copied(digest, result)
    if absent:
        named = first_few([fallback_tag(digest) for digest in absent], _NAMED)
        which = f"{absent[0]}, which" if len(absent) == 1 else f"{len(absent)} manifests, which"
        warn(f"{named}: signatures of {which} the source no longer has; left out")


_NAMED = 3  # signature tags of absent manifests a warning names


def _failed_untagged(exc: ModelpackError, digest: str, tags: int, untagged: int) -> ModelpackError:
    return reword(exc, compose(f"signed untagged {digest}: {{}} ({tags} tags and {untagged} signed untagged "
                               "models copied before it; copying again sends only what is missing)", exc.wording),
                  exc.advice)


def _gone(repo: Storage, tag: str) -> bool:
    """Whether `tag` (or digest) is no longer in the source (asked again after a not-found, which may be a blob's)."""
    try:
        return repo.find(tag) is None
    except ModelpackError:
        return False  # not known: the copy's own error is said


def _failed(exc: ModelpackError, tag: str, copied: int, total: int) -> ModelpackError:
    """`exc`, saying which tag failed and how many were copied before it (those stay); a place refused at
    the first tag (a target that is a file) is said as `copy` of one says it: nothing was copied."""
    if copied == 0 and isinstance(exc, UsageError):
        return exc
    return reword(exc, compose(f"tag {tag}: {{}} ({copied} of {total} tags copied before it; copying again sends "
                               "only what is missing)", exc.wording), exc.advice)


def _repository(text: str | Place, side: str) -> Place:
    """A repository or layout named without a tag or digest."""
    place = parse_place(text)
    if isinstance(place, Reference):
        require_registry(place)
        place = Reference.parse(str(text), default_tag=None) if isinstance(text, str) else place
    if place.tag or place.digest:
        raise UsageError(f"{text}: copying all tags takes the {side} repository alone, without a tag or digest "
                         f"(e.g. {_untagged(place)})")
    return place


def _tagged(place: Place, tag: str) -> Place:
    return place.with_tag(tag) if isinstance(place, Reference) else replace(place, tag=tag, digest=None)


def _digested(place: Place, digest: str) -> Place:
    return place.with_digest(digest) if isinstance(place, Reference) else replace(place, tag=None, digest=digest)


def _untagged(place: Place) -> str:
    return place.name if isinstance(place, Reference) else f"oci:{place.path}"


def _log_warning(line: str) -> None:
    import logging

    logging.getLogger("modelpack.copy").warning("%s", line)
