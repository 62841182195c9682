"""When a packed model was created, kept apart from the schema: packing needs it before (and without)
pydantic's metadata models, which a push builds on another thread while its files are hashed."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from modelpack.errors import MetadataError

if TYPE_CHECKING:
    from modelpack.metadata.schema import ModelMetadata

MAX_EPOCH = 253402300799  # 9999-12-31T23:59:59Z, the last second RFC 3339 can write


def creation_time(metadata: ModelMetadata, newest_mtime: int | None = None) -> datetime:
    """`created` from the metadata, else SOURCE_DATE_EPOCH (reproducible builds), else the newest
    modification time among the packed files (so packing an unchanged directory again gives the same
    digest), else now."""
    if metadata.created is not None:
        created = metadata.created
        return created if created.tzinfo else created.replace(tzinfo=timezone.utc)
    epoch = source_date_epoch()
    if epoch is not None:
        return datetime.fromtimestamp(epoch, tz=timezone.utc)
    if newest_mtime is not None:
        return datetime.fromtimestamp(newest_mtime, tz=timezone.utc)
    return datetime.now(tz=timezone.utc).replace(microsecond=0)


def source_date_epoch() -> int | None:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if not value:
        return None
    try:
        seconds = int(value)
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= MAX_EPOCH:
        raise MetadataError(f"SOURCE_DATE_EPOCH={value!r}: expected whole seconds since 1970, from 0 to "
                            f"{MAX_EPOCH} (9999-12-31)")
    return seconds
