"""Deleting from a registry: `rm --remote REF`. A tag alone where the registry can untag; otherwise the
manifest it names (with every tag naming it only when told), and a registry that deletes nothing at all
is said to be one, with the setting its operator changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from modelpack.advice import compose, setting
from modelpack.api.core import parse_reference, remote
from modelpack.errors import ModelpackError, NotFoundError, RegistryError, UsageError
from modelpack.oci.reference import Reference
from modelpack.signatures.orphans import remove_signature_tags
from modelpack.store.options import ClientOptions, closes_own_options
from modelpack.store.registry_admin import tag_digests
from modelpack.store.target import RemoteRepository

# No manifest has it: a DELETE of it changes nothing, and tells whether the registry deletes manifests at all.
_NO_SUCH_DIGEST = "sha256:" + "0" * 64
# Distribution's setting, the registry this refusal (405 UNSUPPORTED) comes from.
_ENABLE_DELETES = ("its operator enables deleting (Distribution: storage.delete.enabled: true in its config.yml, "
                   "or REGISTRY_STORAGE_DELETE_ENABLED=true, then a restart); a pull-through cache "
                   "(proxy.remoteurl) deletes nothing: delete at its origin")


@dataclass
class Removal:
    """What `remove_remote` took from the registry: one tag alone (`untagged`), or a manifest with
    every tag that named it and its signature tags (`signatures`; `kept`: why any were left)."""

    reference: Reference
    digest: str
    untagged: bool
    tags: list[str] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


@closes_own_options
def remove_remote(
    reference: str | Reference,
    *,
    all_tags: bool = False,
    confirm: Callable[[Removal], bool] | None = None,
    options: ClientOptions | None = None,
) -> Removal:
    """Remove a tag, or a manifest named by digest, from the registry.

    A tag is untagged where the registry can delete tags alone. Where it can only delete manifests
    (Distribution 2.8), the manifest goes only if no other tag names it, or with `all_tags`. Before a
    deletion that takes tags the caller did not name, `confirm(plan)` must say yes. A deleted manifest's
    signature tags (`sha256-<hex>`, `.sig`, `.att`) go after it (see `signatures.orphans`).

    Args:
        reference: `registry/repo:tag` or `registry/repo@sha256:...`.
        all_tags: allow deleting the manifest when other tags name it too.
        confirm: asked before anything unnamed goes; None means yes.
        options: registry client options.

    Returns:
        The Removal done.

    Raises:
        UsageError: other tags would go without `all_tags` (the message names the ways on), or `confirm`
            said no.
        RegistryError: the registry does not allow deletion (the message names the setting that does).
        AuthenticationError, TransportError: the registry refused or could not be reached.
    """
    ref = parse_reference(reference)
    repo = remote(ref, options)
    digest = repo.resolve(ref.version).digest
    by_tag = ref.tag is not None and ref.digest is None
    if by_tag and repo.untag(ref.version):
        return Removal(ref, digest, untagged=True, tags=[ref.version])
    tags = tag_digests(repo)
    plan = Removal(ref, digest, untagged=False, tags=[tag for tag, named in tags.items() if named == digest])
    unnamed = [t for t in plan.tags if not by_tag or t != ref.tag]
    if by_tag and unnamed and not all_tags:
        _refuse_if_no_deletes(repo, ref)  # else --all-tags would be advice that fails too
        pinned = Reference(ref.registry, ref.repository, None, digest)
        raise UsageError(f"{ref.registry} cannot delete a tag alone, and deleting {ref} would also delete tag(s) "
                         f"{', '.join(unnamed)} of the same version", advice=compose(
                             "pass {} to delete that version with all its tags (as {} does), or point the tag at "
                             "another version: {}", setting("all_tags=True", "--all-tags"),
                             setting(f"remove_remote({str(pinned)!r})", f"`modelpack rm --remote {pinned}`"),
                             setting(f"modelpack.tag_remote(OTHER, {ref.tag!r})",
                                     f"`modelpack tag --remote OTHER {ref.tag}`")))
    if unnamed and confirm is not None and not confirm(plan):
        raise UsageError(f"nothing deleted: {ref} not confirmed")
    try:
        repo.delete_manifest(digest)
    except RegistryError as exc:
        if _refuses_deletes(exc):
            raise _no_deletes(ref, exc) from None
        raise
    signatures = remove_signature_tags(repo, digest, tags)
    plan.signatures, plan.kept = signatures.removed, signatures.kept
    return plan


def _refuses_deletes(exc: RegistryError) -> bool:
    return exc.status == 405 or "UNSUPPORTED" in exc.codes


def _no_deletes(ref: Reference, exc: RegistryError) -> RegistryError:
    answer = " ".join(str(part) for part in (exc.status, *exc.codes) if part)
    return RegistryError(f"{ref.registry} does not allow deleting manifests (it answered {answer}), so {ref} "
                         f"stays; {_ENABLE_DELETES}", exc.status, exc.codes)


def _refuse_if_no_deletes(repo: RemoteRepository, ref: Reference) -> None:
    """Ask the registry to delete a manifest no one has: 404 where deleting is allowed, 405 UNSUPPORTED where
    it is turned off (Distribution's default), which then is the one thing to say."""
    try:
        repo.delete_manifest(_NO_SUCH_DIGEST)
    except NotFoundError:
        return
    except RegistryError as exc:
        if _refuses_deletes(exc):
            raise _no_deletes(ref, exc) from None
    except ModelpackError:  # not allowed to ask, or no answer: the refusal below says what it knows
        return
