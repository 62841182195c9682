"""A folder packed as one archive (`files.archives`) must not hold more entries than a pull unpacks:
checked before any file is hashed or sent."""

from __future__ import annotations

from collections import Counter

from modelpack.errors import UsageError
from modelpack.packing.select import LayerSource


def check_archive_entries(sources: list[LayerSource]) -> None:
    """Refuse, before any file is hashed or sent, a folder of `files.archives` with more entries than a
    pull extracts (`MODELPACK_ARCHIVE_MAX_ENTRIES`): else it packs and pushes, and every pull refuses it
    after unpacking the first 100,000 (42 s for a folder of 100,100 files).

    Raises:
        UsageError: a folder's files and folders exceed the limit; names its most crowded subfolders.
    """
    if not any(source.archive for source in sources):
        return  # most folders: no archive, and no need to import tarfile with the limits
    from modelpack.archives import ENV_MAX_ENTRIES, ArchiveLimits

    limit = ArchiveLimits.from_env().max_entries
    for source in sources:
        if not source.archive or len(source.files) <= limit:
            continue
        inner = _subfolder_entries(source)
        crowded = ", ".join(f"{source.relpath}/{name} {count:,}" for name, count in inner.most_common(3))
        raise UsageError(
            f"files.archives: {source.relpath}/ holds {len(source.files):,} files and folders, over the "
            f"{limit:,} a pull unpacks from one archive ({ENV_MAX_ENTRIES}): list its subfolders as archives "
            f"of their own" + (f" (most entries: {crowded})" if crowded else "") +
            f", or raise {ENV_MAX_ENTRIES} for the pack and every pull")


def _subfolder_entries(source: LayerSource) -> Counter[str]:
    """The entries each direct subfolder of an archived folder would hold as an archive of its own."""
    counts: Counter[str] = Counter()
    for file in source.files:
        head, below, _ = file.relpath[len(source.relpath) + 1:].partition("/")
        if head and (below or file.is_dir):  # its files and folders, and itself
            counts[head] += 1
    return counts
