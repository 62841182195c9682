"""Lineage: a model's `parent` (and `datasets`) entries that are registry references are pinned to
digests when it is packed, so the chain back to the first ancestor stays exact even as tags move."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING, Any

from modelpack.advice import Wording, cli_message, compose
from modelpack.errors import IntegrityError, InvalidReferenceError, ModelpackError, NotFoundError, UsageError, reword
from modelpack.oci.reference import Reference

Resolver = Callable[[Reference], str]
MAX_DEPTH = 100
_PIN_FIX = "make it reachable or give name@sha256:..."


if TYPE_CHECKING:
    from modelpack.model_info import ModelInfo


class OutsideHosts(NotFoundError):
    """A parent on a registry the reader was not allowed to contact (`within`): not read, so not known
    to be missing."""


def pin(value: str, resolve: Resolver) -> str:
    """`registry/repo:tag` becomes `registry/repo:tag@sha256:...`; anything that is not a registry
    reference (a dataset name, a URL) or is already pinned is returned unchanged."""
    try:
        ref = Reference.parse(value)
    except InvalidReferenceError:
        return value
    if not ref.registry or ref.digest:
        return value
    try:
        digest = resolve(ref)
    except ModelpackError as exc:  # its advice in each audience's terms (`--timeout`, not ClientOptions)
        cause = Wording(str(exc), cli_message(exc))
        # Its own type: an unreachable registry exits 5 as anywhere else, a missing parent 3.
        raise reword(exc, compose(f"cannot pin {value!r} to a digest ({{}})", cause),
                     Wording(_PIN_FIX, _PIN_FIX)) from None
    return str(Reference(ref.registry, ref.repository, ref.tag, digest))


def pin_parent(value: str, resolve: Resolver) -> str:
    """`pin` for a model's `parent`, which must be a valid reference (a registry's, or a bare name):
    readers follow it with `lineage`.

    Raises:
        UsageError: `value` is not a valid reference, or names a registry that cannot resolve it.
    """
    try:
        Reference.parse(value)
    except InvalidReferenceError as exc:
        raise UsageError(f"parent: {exc}; write it as registry/repository:tag, e.g. "
                         "localhost:5000/team/base:1") from None
    return pin(value, resolve)


def chain(start: str, read: Callable[[str], ModelInfo]) -> Iterator[dict[str, Any]]:
    """Follow `parent` from `start` back to the first ancestor, at most MAX_DEPTH models (the last
    one's `parent` then names where the chain goes on). `read(reference)` returns the model's info.
    Entries are yielded as they are read, so a caller can show the chain known so far when a
    later step fails. A parent its registry no longer has (deleted) ends the chain as an entry whose
    `missing` is true (its `digest` the one its child pinned, if any; no name, version or parent).

    Raises:
        IntegrityError: a parent annotation is not a registry reference, or the chain loops.
        ModelpackError: what `read` raises (the model unreachable or missing; a parent unreachable, the
            line then naming it and the model that records it, the error's type kept).
    """
    seen: set[str] = set()
    current: str | None = start
    child = start
    for _ in range(MAX_DEPTH):
        if current is None:
            return
        try:
            info = read(current)
        except OutsideHosts:
            raise
        except NotFoundError:
            if current == start:
                raise
            # A parent deleted since (or never pushed where its child says): the chain ends there, said so.
            yield {"reference": current, "digest": Reference.parse(current).digest, "name": None, "version": None,
                   "parent": None, "missing": True}
            return
        except ModelpackError as exc:
            if current == start:
                raise
            # Named: "cannot connect to HOST" alone reads as the user's own registry being down.
            where = f"cannot read {current}, the parent {child} records: "
            raise reword(exc, Wording(where + exc.wording.api, where + exc.wording.cli), exc.advice) from None
        parent = info.metadata.get("parent")  # raw: the artifact's claim, checked below
        yield {"reference": current, "digest": info.digest, "name": info.metadata.get("name"),
               "version": info.metadata.get("version"), "parent": parent, "missing": False}
        if info.digest in seen:
            raise IntegrityError(f"lineage of {start} loops back to {info.digest} ({current})")
        seen.add(info.digest)
        child = current
        current = _parent_reference(current, parent) if parent is not None else None


def _parent_reference(child: str, parent: object) -> str:
    """The parent a registry's annotation names, checked: it is the artifact's claim, not the user's."""
    where = f"the parent annotation of {child}"
    if not isinstance(parent, str):
        raise IntegrityError(f"{where} is not a string")
    try:
        ref = Reference.parse(parent)
    except InvalidReferenceError as exc:
        # Without its advice: how to write a layout (`copy_model`) is no fix for someone else's annotation.
        raise IntegrityError(f"{where} is not a valid reference: {exc.failure}") from None
    if not ref.registry:
        raise IntegrityError(f"{where} ({parent!r}) names no registry")
    if str(ref).lower().startswith("oci:"):  # would be read as a local OCI layout (`oci:DIR`), not a registry
        raise IntegrityError(f"{where} ({parent!r}) names a local path, not a registry")
    return str(ref)


def within(hosts: Collection[str] | None, read: Callable[[str], ModelInfo]) -> Callable[[str], ModelInfo]:
    """`read`, refusing a model on a registry not in `hosts` (None: any): a web UI shows the registries
    it was started for, and a parent annotation (the artifact's claim) must not make it contact another
    host, with the credentials kept for it."""
    if hosts is None:
        return read

    def read_within(reference: str) -> ModelInfo:
        host = Reference.parse(reference).registry
        if host not in hosts:
            raise OutsideHosts(f"the chain goes on at {reference}, on {host}: a registry not shown here, "
                               "so not read")
        return read(reference)

    return read_within
