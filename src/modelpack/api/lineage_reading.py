"""A model's lineage, as the public API's `lineage` reads it: the chain of `parent`s, each read from the
local store when it has it, else from its registry."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Iterator
from typing import Any

from modelpack.api.core import _store, parse_reference, read_model, reads_locally, remote
from modelpack.errors import ModelpackError, UsageError
from modelpack.oci.reference import Reference
from modelpack.store.layout import LayoutStore
from modelpack.store.options import ClientOptions
from modelpack.store.pinned_tag import say_tag_disagrees

log = logging.getLogger("modelpack.lineage")


def lineage(reference: str | Reference, *, options: ClientOptions | None = None,
            store: LayoutStore | None = None, hosts: Collection[str] | None = None) -> Iterator[dict[str, Any]]:
    """The chain of `parent`s from a model back to its first ancestor, each with digest and version,
    yielded as read (at most `lineage.MAX_DEPTH`; see `lineage.chain`).

    Args:
        reference: the model to start from (read from the local store when it has it).
        options: how to reach the registry; kept in use until the iterator is exhausted (given none, the
            iterator opens its own, closed when it is exhausted, closed or garbage-collected).
        store: the local store (default: MODELPACK_HOME's).
        hosts: the registries a parent may be read from; a parent elsewhere ends the chain.

    Returns:
        An iterator of `{"reference", "digest", "name", "version", "parent", "missing"}`, the model first;
        a parent its registry no longer has (deleted) is the last entry, `missing` true, `digest` the one
        its child pinned (None if it pinned none), no name, version or parent.

    Raises:
        InvalidReferenceError: the reference is malformed.
        NotFoundError: the model `reference` names does not exist, or (with `hosts`) a parent lives on
            another registry; raised while iterating.
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached;
            raised while iterating.
    """
    start = str(parse_reference(reference))  # a malformed reference is refused now, not when iterated
    return _lineage(start, _store(store), options, hosts)


def _lineage(start: str, local_store: LayoutStore, options: ClientOptions | None,
             hosts: Collection[str] | None) -> Iterator[dict[str, Any]]:
    """`lineage`'s iterator: given no options, it reads every model of the chain over options of its own,
    closed when it is exhausted, closed or garbage-collected."""
    from modelpack.lineage_chain import chain, within

    own = None
    if options is None:
        with contextlib.suppress(UsageError):  # a bad MODELPACK_* value: raised by the first registry read
            own = ClientOptions()
    try:
        entries = chain(start, within(hosts, lambda text: read_model(text, local_store, options or own)))
        first = next(entries, None)
        if first is None:
            return
        _say_tag_disagrees(start, local_store, options or own)
        yield first
        yield from entries
    finally:
        if own is not None:
            own.close()


def _say_tag_disagrees(start: str, local_store: LayoutStore, options: ClientOptions | None) -> None:
    """REPO:TAG@DIGEST is the lineage of DIGEST: a registry's tag naming another digest is said, as pull says
    it, else the chain shows one version under another's name. Read from the local store, an unreachable
    registry leaves it unsaid (the lineage is the store's, offline)."""
    ref = parse_reference(start)
    if not ref.tag or not ref.digest or ref.tag_implied:
        return
    try:
        done = f"the lineage of {ref.digest}, the digest given"
        say_tag_disagrees(remote(ref, options, mirrors=True), ref, log, done)
    except ModelpackError:
        if not reads_locally(ref, local_store):
            raise
