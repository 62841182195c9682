"""Looking after the local store: check (and repair) its blobs, collect its garbage.

    import modelpack.api as api
    report = api.check_store(repair=True)
    print(report.ok, report.repull)   # models to pull again
    print(api.gc_store().freed)       # bytes
"""

from __future__ import annotations

from modelpack.store.layout import LayoutStore
from modelpack.store.maintenance import CheckReport, GcReport, check


def check_store(repair: bool = False, *, store: LayoutStore | None = None) -> CheckReport:
    """Hash every blob of the local store against its digest and find the models that lost a blob.

    Args:
        repair: delete corrupt blobs and make writable blobs read-only (a blob still shared with an
            old hard-linked output gets its own copy first).
        store: the local store (default: MODELPACK_HOME's).

    Returns:
        The report: blobs checked, corrupt (and removed) blobs, and `repull`, the references whose
        content is missing or corrupt (pull them again); `ok` when no problem remains.

    Raises:
        OSError: the store cannot be read (or, with `repair`, written).
    """
    return check(store or LayoutStore(), repair)


def gc_store(*, store: LayoutStore | None = None) -> GcReport:
    """Free the local store's space: blobs no model uses, and files killed transfers left in ingest/.

    Args:
        store: the local store (default: MODELPACK_HOME's).

    Returns:
        What was removed and `freed` bytes; `busy` when another process was copying into the store,
        in which case unreferenced blobs were left for a later run (ingest leftovers are still removed).

    Raises:
        IntegrityError: the store's index is corrupt (`check_store(repair=True)` keeps what still reads).
        OSError: the store cannot be written.
    """
    return (store or LayoutStore()).collect_garbage()
