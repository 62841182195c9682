"""The class of the object a pickle (or joblib file) holds, read from its opcodes, never by unpickling.

A pickle is a program for a stack machine; the classes it builds are named by GLOBAL (`module name` as
text) or STACK_GLOBAL (the two strings on top of the stack, often fetched back from the memo). The opcodes
are walked with `pickletools.genops`, which only decodes them: nothing is imported, nothing runs. The
first class named that is not one of pickle's own helpers is the top-level object's, which for
`joblib.dump(estimator)` is the estimator. joblib writes numpy arrays' bytes between opcodes, so the
walk stops quietly at the first bytes that are not an opcode once a class is known.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import pickletools
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from modelpack.errors import MalformedFileError
from modelpack.inspection.reading import CappedReader

MAX_PICKLE_BYTES = 64 * 1024 * 1024  # read at most this much of the (decompressed) stream
MAX_OPCODES = 1_000_000
# Helpers pickle names before the class itself (protocols 0 and 1, copyreg's reconstruction).
HELPERS = {("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor"), ("copyreg", "__newobj__"),
           ("copyreg", "__newobj_ex__"), ("__builtin__", "object"), ("builtins", "object")}
_TEXT_PUSHES = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING",
                "STRING"}
_GETS = {"GET", "BINGET", "LONG_BINGET"}
_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}
_LZ4 = b"\x04\x22\x4d\x18"


class _ZlibStream:
    """A zlib stream (joblib's `compress=N` default) decompressed as it is read, at most `size` bytes out
    per read, so a small file that inflates hugely costs only what the reader's cap lets through."""

    def __init__(self, raw: BinaryIO, mode: str = "rb") -> None:
        self._raw = raw
        self._inflate = zlib.decompressobj()
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        size = size if size >= 0 else 1 << 20
        out = self._inflate.decompress(self._inflate.unconsumed_tail, size)
        while len(out) < size and not self._inflate.eof and (chunk := self._raw.read(64 * 1024)):
            out += self._inflate.decompress(chunk, size - len(out))
        self._position += len(out)
        return out

    def readline(self, size: int = -1) -> bytes:
        line = b""
        while (size < 0 or len(line) < size) and not line.endswith(b"\n") and (byte := self.read(1)):
            line += byte
        return line

    def tell(self) -> int:
        return self._position

    def __enter__(self) -> _ZlibStream:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


_COMPRESSED = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open), (b"\x78", _ZlibStream))


def pickled_class(path: Path, name: str) -> tuple[str, str] | None:
    """(module, class name) of the object a pickle holds; zlib, gzip, bz2 and xz files (joblib's
    compression) are read through their decompressor, under the same cap; lz4 ones are not read.

    Args:
        path: a .pkl, .pickle or .joblib file.
        name: its path as shown in messages.

    Returns:
        The first class the pickle names other than pickle's helpers, or None when the walk ended
        (the file, a cap, or bytes that are not opcodes) before any was named.

    Raises:
        MalformedFileError: the file does not start as a pickle.
    """
    with open(path, "rb") as raw:
        magic = raw.read(6)
        raw.seek(0)
        if magic.startswith(_LZ4):
            return None  # lz4 (joblib's compress="lz4") needs a package modelpack does not depend on
        opener = next((open_ for prefix, open_ in _COMPRESSED if magic.startswith(prefix)), None)
        stream = cast(BinaryIO, opener(raw, "rb") if opener else raw)
        with stream:
            return _first_class(CappedReader(stream, MAX_PICKLE_BYTES, name), name)


def _first_class(reader: CappedReader, name: str) -> tuple[str, str] | None:
    try:
        for module, cls in _globals(reader):
            if (module, cls) not in HELPERS:
                return module, cls
    except _NotPickle as exc:
        if exc.opcodes == 0:
            raise MalformedFileError(f"{name}: not a pickle ({exc.reason})") from None
    return None


class _NotPickle(Exception):
    def __init__(self, reason: str, opcodes: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.opcodes = opcodes


def _globals(reader: CappedReader) -> Iterator[tuple[str, str]]:
    """Each (module, name) the pickle's GLOBAL and STACK_GLOBAL opcodes name, in order.

    Raises:
        _NotPickle: bytes that are not an opcode (with the count of opcodes read before them).
    """
    recent: list[Any] = [None, None]  # the two values pushed last (STACK_GLOBAL's operands)
    memo: dict[int, Any] = {}
    count = 0
    try:
        for opcode, arg, _ in pickletools.genops(reader):  # type: ignore[arg-type]
            count += 1
            if count > MAX_OPCODES:
                return
            op = opcode.name
            if op == "GLOBAL" and isinstance(arg, str) and " " in arg:
                module, _, cls = arg.partition(" ")
                yield module, cls
                recent = [recent[-1], None]
            elif op == "STACK_GLOBAL":
                if isinstance(recent[0], str) and isinstance(recent[1], str):
                    yield recent[0], recent[1]
                recent = [recent[-1], None]
            elif op in _TEXT_PUSHES:
                recent = [recent[-1], arg if isinstance(arg, str) else None]
            elif op in _GETS:
                recent = [recent[-1], memo.get(arg) if isinstance(arg, int) else None]
            elif op == "MEMOIZE":
                memo[len(memo)] = recent[-1]
            elif op in _PUTS and isinstance(arg, int):
                memo[arg] = recent[-1]
            elif opcode.stack_after or opcode.stack_before:
                recent = [recent[-1], None]
    except (ValueError, EOFError, OSError, lzma.LZMAError, zlib.error, OverflowError) as exc:  # OSError: bad gzip
        raise _NotPickle(str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__, count) from None
