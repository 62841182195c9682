"""Tar headers read as a container runtime reads them, or refused.

A check of what an image's layers hold (the modelcar's /models: see modelcar_contents) reads them with
Python's tarfile; the node's runtime (containerd, CRI-O) unpacks them with Go's archive/tar. Where the two
read one header differently, the image's author chooses what each sees: a pickle the runtime writes to
/models, named otherwise for the check. Measured against Go's reader (crane export), Python's tarfile:

- prepends the name-prefix field of any header, where Go reads it only in a POSIX ustar header (in a GNU
  or V7 header those bytes are other fields, or nothing);
- applies a PAX header's `GNU.sparse.name` (and `.size`, `.realsize`) always, Go only to a sparse file;
- keeps the first of two PAX headers or GNU long names before one member, Go the last; gives a PAX `path`
  read after a GNU long name the last word, Go the long name;
- applies a global PAX header's `path` or `size` to every later member, Go to none;
- reads a number field with leading NULs as 0, where Go skips them (a size: the next header elsewhere);
- ends the archive at a header it cannot read (a bad checksum), where Go reads on, or fails;
- reads a PAX header's or GNU long name's whole last block, past its size (Go: its size), and parses PAX
  records until one it cannot (Go: each record, or fails; a length with a `+` Go takes and Python stops at);
- takes an old-style (V7, type NUL) entry whose own name ends in `/` for a directory and reads the bytes
  its size covers as the next headers, where Go skips them (and, in releases since 1.2x, decides
  directory or file by the name a PAX header or GNU long name gives it, skipping a directory's none).

Each of these is refused (Disagreement) rather than read one way: no tool writes them, and either
reading may be the one that runs.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Callable
from typing import Any, cast

from modelpack.archives import _BoundedTarInfo
from modelpack.errors import IntegrityError

_POSIX_MAGIC = b"ustar\x0000"  # magic and version: where Go reads the prefix field (but not star's)
_STAR_TRAILER = b"tar\x00"
_OCTAL = re.compile(rb"[0-7]+")
_DECIMAL = re.compile(rb"[0-9]{1,18}")  # a PAX record's length, plain digits (no sign, no 4,300-digit int)
_NAMING = (tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
_GLOBAL_FIELDS = frozenset({"path", "linkpath", "size"})  # a global header's fields Python applies to members


class Disagreement(IntegrityError):
    """A tar header Python's tarfile and a container runtime's reader would read differently."""


class AgreedTarInfo(_BoundedTarInfo):
    """A member whose headers both readers read alike (else Disagreement, while reading them)."""

    _naming: tuple[bytes, ...] = ()  # the PAX and GNU long-name headers before it, nearest first
    _v7: bool = False  # an old-style entry (type NUL): a directory when its own name ends in "/"

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Any:
        try:
            member = super().frombuf(buf, encoding, errors)
        except tarfile.InvalidHeaderError as exc:  # type: ignore[attr-defined]  # tarfile ends the archive there
            raise Disagreement(f"a tar header Python's tarfile cannot read ({exc}), where a container runtime "
                               "may read on") from None
        size = _go_number(buf[124:136])
        if size is not None and size != member.size:
            raise Disagreement(f"a tar header's size field reads as {member.size} bytes in Python and {size} "
                               "in a container runtime")
        prefix = buf[345:500].split(b"\x00", 1)[0]
        if prefix and member.type not in tarfile.GNU_TYPES and (
                buf[257:265] != _POSIX_MAGIC or buf[508:512] == _STAR_TRAILER):
            raise Disagreement(f"a tar header for {member.name!r} has a name prefix outside a POSIX ustar header "
                               "(Python's tarfile prepends it, a container runtime does not)")
        member._v7 = buf[156:157] == tarfile.AREGTYPE
        return member

    def _proc_pax(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        _checked_block(self, archive, _check_pax)
        return super()._proc_pax(archive)  # type: ignore[misc]

    def _proc_gnulong(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        _checked_block(self, archive, _check_long_name)
        return super()._proc_gnulong(archive)  # type: ignore[misc]

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type == tarfile.SOLARIS_XHDTYPE:
            raise Disagreement("a Solaris extended header (read as PAX by Python only)")
        member = cast(AgreedTarInfo, super()._proc_member(archive))
        if self.type in _NAMING:
            # One PAX header, or one GNU long name and one long link: anything more, each reader keeps another.
            pax = tarfile.XHDTYPE in (self.type, *member._naming)
            if self.type in member._naming or (pax and member._naming):
                raise Disagreement(f"{member.name!r} is named by more than one PAX or GNU long-name header "
                                   "(Python's tarfile and a container runtime keep different ones)")
            member._naming = (self.type, *member._naming)
            if member._v7 and (self.type == tarfile.GNUTYPE_LONGNAME or "path" in member.pax_headers):
                raise Disagreement(f"{member.name!r} is an old-style entry named by a PAX or GNU long-name header "
                                   "(Python's tarfile tells a directory by its own name, a container runtime by "
                                   "the name it is given)")
        if any(key.startswith("GNU.sparse.") for key in member.pax_headers):
            raise Disagreement(f"{member.name!r} has PAX sparse-file fields (Python's tarfile applies its name "
                               "and size to any file, a container runtime only to a sparse one)")
        if member._v7 and member.isdir() and member.size > 0:
            raise Disagreement(f"{member.name!r} is an old-style directory of {member.size} bytes (Python's tarfile "
                               "reads them as the next headers, a container runtime skips them)")
        if _GLOBAL_FIELDS.intersection(archive.pax_headers):
            raise Disagreement("a global PAX header sets a path or size (Python's tarfile applies it to every "
                               "later member, a container runtime to none)")
        return member


def _checked_block(header: tarfile.TarInfo, archive: tarfile.TarFile, check: Callable[[bytes, bytes], None]) -> None:
    """Read the data of a PAX or GNU long-name `header` as tarfile is about to (its size, rounded up to whole
    blocks), `check` its bytes within the size and past it, and leave them for tarfile's own read."""
    real = cast(Any, archive).fileobj
    data = real.read(header._block(header.size))  # type: ignore[attr-defined]
    check(data[:header.size], data[header.size:])
    cast(Any, archive).fileobj = _Replayed(archive, real, data)


class _Replayed:
    """An archive's file whose next read (tarfile's of the block just checked) gives that block back, and
    puts the file itself back in its place."""

    def __init__(self, archive: tarfile.TarFile, real: Any, data: bytes) -> None:
        self._archive, self._real, self._data = archive, real, data

    def read(self, size: int = -1) -> bytes:
        cast(Any, self._archive).fileobj = self._real
        return self._data


def _check_pax(body: bytes, past: bytes) -> None:
    """Refuse PAX records Python's tarfile and Go's archive/tar read apart: any past the header's size,
    or a body that is not records as Go reads them, each `LENGTH key=value\n` (Python stops at the first it
    cannot parse, and takes a length Go refuses or misses one Go takes)."""
    if past.strip(b"\x00"):
        raise Disagreement("a PAX header with bytes past its size (Python's tarfile reads records there, a "
                           "container runtime does not)")
    rest = body
    while rest:
        length, space, _ = rest.partition(b" ")
        n = int(length) if space and _DECIMAL.fullmatch(length) else 0
        key, equals, _ = rest[len(length) + 1:n].partition(b"=")
        if n < 5 or n > len(rest) or rest[n - 1:n] != b"\n" or not key or not equals:
            raise Disagreement("a PAX header whose records Python's tarfile and a container runtime read apart")
        rest = rest[n:]


def _check_long_name(body: bytes, past: bytes) -> None:
    """Refuse a GNU long name Python's tarfile reads on past its size (to a NUL in the block's rest)."""
    if b"\x00" not in body and past[:1] not in (b"", b"\x00"):
        raise Disagreement("a GNU long name with more past its size (Python's tarfile reads on to a NUL, a "
                           "container runtime stops at its size)")


def _go_number(field: bytes | bytearray) -> int | None:
    """A tar number field as Go's archive/tar reads it; None where Go refuses it (the runtime fails then)."""
    if field[:1] and field[0] & 0x80:  # base-256; a negative one (0x40 set) Go refuses
        return None if field[0] & 0x40 else int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    text = field.strip(b" \x00").split(b"\x00", 1)[0]
    if not text:
        return 0
    return int(text, 8) if _OCTAL.fullmatch(text) else None
