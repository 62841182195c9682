"""A restored file's recorded attributes: the mode and modification time its layer's model-spec file
metadata holds, given back to the file (mode 0644 and the time of the restore where none is recorded).
The mode restored is never more open than the process's umask lets a new file be: as tar run by a user,
a recorded 0755 is 0700 under umask 077, and a recorded 0600 stays 0600."""

from __future__ import annotations

import contextlib
import os
from datetime import datetime
from pathlib import Path

from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor
from modelpack.oci.jsontext import parse_or_none


def restore_attributes(target: Path, layer: Descriptor, umask: int) -> None:
    """Give a restored file its layer's mode (less `umask`) and modification time."""
    set_attributes(target, file_mode(layer) & ~umask, recorded_time(file_metadata(layer).get("mtime")))


def file_mode(layer: Descriptor) -> int:
    """The permission bits a file layer restores with (its file metadata's `mode`, else 0644)."""
    mode = file_metadata(layer).get("mode")
    return int(mode) & 0o777 if isinstance(mode, int) else 0o644


def file_metadata(layer: Descriptor) -> dict:
    """A file layer's model-spec file metadata (mode, mtime, ...); {} when absent or malformed."""
    text = layer.annotation(mt.A_FILE_METADATA, mt.LEGACY_A_FILE_METADATA)
    if not text:
        return {}
    value = parse_or_none(text)
    return value if isinstance(value, dict) else {}


def set_attributes(target: Path, mode: int, stamp: float | None) -> None:
    """Set a file's permission bits and, where one is recorded, its modification time."""
    os.chmod(target, mode)
    if stamp is not None:
        with contextlib.suppress(OSError, OverflowError):
            os.utime(target, (stamp, stamp))


def recorded_time(value: object) -> float | None:
    """A file metadata's `mtime` (RFC 3339) as seconds since the epoch; None when absent or malformed."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError):
        return None
