"""Reading a model's files while packing, with every I/O error turned into one line naming the file.

Between the walk that lists the files and the reads that hash and send them, a file can vanish or fail
to read (a device, `/proc`, a flaky disk). The operating system's message ("Input/output error") names no
file; these wrappers name the model-relative path.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from typing import Any

from modelpack.errors import IntegrityError, ModelpackError
from modelpack.packing.select import SourceFile, stamp_of


class SourceReadError(ModelpackError):
    """A model file could not be read (exit 1)."""


def changed(relpath: str, how: str = "") -> IntegrityError:
    """The error for a model file that changed while it was being read (`how`: said in parentheses)."""
    said = f" ({how})" if how else ""
    return IntegrityError(f"{relpath} changed while it was being packed{said}; run again once nothing writes to it")


def check_unchanged(file: SourceFile) -> None:
    """Raise `changed` if `file` is no longer as the walk found it (written to, touched or replaced since):
    read after a tar member was, so a folder's layer sent after it was hashed is never other bytes than
    the digest it is sent as, and the error names the file instead of a registry refusing the digest.

    Raises:
        IntegrityError: it changed (a file not found by a walk, without a stamp, is not checked).
    """
    if not file.stamp:
        return
    with named_errors(file.relpath):
        st = os.stat(file.path)
    if st.st_size != file.size or stamp_of(st) != file.stamp:
        raise changed(file.relpath)


@contextlib.contextmanager
def named_errors(relpath: str) -> Iterator[None]:
    """Raise, for an OSError in the block, IntegrityError if the file is gone (it changed while being
    packed, as a truncated file does) or SourceReadError naming `relpath`."""
    try:
        yield
    except FileNotFoundError:
        raise changed(relpath, "it was deleted") from None
    except OSError as exc:
        raise SourceReadError(f"cannot read {relpath}: {exc.strerror or exc}") from None


class _NamedFile(io.RawIOBase):
    def __init__(self, raw: Any, file: SourceFile) -> None:
        self._raw = raw
        self._file = file
        self._relpath = file.relpath
        self.name = file.relpath  # as a file object's: what an upload that finds it changed names (store.upload)

    def changed_since_walk(self) -> IntegrityError | None:
        """The error naming this file if it was written to, touched or replaced since the walk found it: what
        an upload the registry refused as other bytes than its digest asks (store.upload.refused)."""
        try:
            check_unchanged(self._file)
        except IntegrityError as exc:
            return exc
        except SourceReadError:
            return None  # (it cannot be looked at: the registry's refusal stands)
        return None

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        with named_errors(self._relpath):
            return int(self._raw.readinto(target) or 0)

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_source(file: SourceFile) -> io.RawIOBase:
    """An unbuffered reader of a model file whose errors name it (see named_errors)."""
    with named_errors(file.relpath):
        raw = open(file.path, "rb", buffering=0)  # noqa: SIM115 - closed by the wrapper
    return _NamedFile(raw, file)
