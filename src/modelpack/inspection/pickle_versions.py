"""The scikit-learn version a pickle or joblib file records, read from its opcodes, never by unpickling.

scikit-learn's estimators pickle their state with the version that saved them (`_sklearn_version`, the last
key of each estimator's state dict, after its arrays). The opcodes are decoded with `pickletools.genops`
and run on a stack of plain values that this module keeps itself: text, numbers, tuples, lists and dicts
are built as the unpickler would build them; a class is only its name, a call only its callable and
arguments, nothing imported, nothing called. The first object whose state (BUILD) holds `_sklearn_version`
as short text names the version: a nested estimator's (a forest's first tree, a pipeline's first step)
comes first, saved by the same scikit-learn.

joblib (uncompressed, its default) writes each numpy array's bytes into the file right after the opcodes of
its `NumpyArrayWrapper` (a byte of padding length, the padding, the data): their length follows from the
wrapper's shape and dtype, and they are seeked past. A compressed file (zlib, gzip, bz2, xz, lz4) is not
read. The walk stops, saying nothing, at the first thing it cannot follow: bytes that are no opcode, a pop
from an empty stack, a memo entry never stored, an array whose length is unknown or passes the file's end,
MAX_READ bytes read or MAX_OPCODES opcodes.
"""

from __future__ import annotations

import math
import pickletools
import re
from pathlib import Path
from typing import Any

from modelpack.errors import MalformedFileError
from modelpack.inspection.reading import CappedReader, short_text

MAX_READ = 64 * 1024 * 1024  # bytes of opcodes and their arguments read (arrays joblib writes are seeked past)
MAX_OPCODES = 1_000_000
MAX_DIMENSIONS = 64  # numpy's limit
MAX_EXTENT = 2**63  # a dimension numpy can have (intp); multiplying larger ones is a hostile file's slow multiply
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x04\x22\x4d\x18", b"\x78")
_PUSHED = {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT", "UNICODE",
           "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "STRING", "BINSTRING", "SHORT_BINSTRING"}
_OPAQUE = {"BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "NEXT_BUFFER", "PERSID", "EXT1", "EXT2",
           "EXT4", "EMPTY_SET"}  # pushed as something unknown (bytes are not kept)
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
# Dict keys kept: hashing a nested tuple recurses without a bound, and an int's hash (never cached) costs its
# size: a 32 MB one used as a key again and again took 45 ms a time (hours within MAX_OPCODES).
_KEYS = (str, int, float, bool, type(None))
MAX_KEY_BITS = 64
_ITEM = re.compile(r"[biufcmMSV?](\d+)")  # a numpy dtype's text: its kind and size in bytes ('U': characters)


class _Stop(Exception):
    """The walk cannot go on (see above)."""


class _Global:
    def __init__(self, module: Any, name: Any) -> None:
        self.module, self.name = module, name


class _Object:
    """What a call or a class built: its callable, its arguments and the state BUILD gave it."""

    def __init__(self, callable_: Any, args: Any) -> None:
        self.callable, self.args = callable_, args
        self.state: Any = None

    def is_a(self, module_suffix: str, name: str) -> bool:
        made_by = self.callable
        return isinstance(made_by, _Global) and made_by.name == name and isinstance(made_by.module, str) \
            and made_by.module.endswith(module_suffix)


_UNKNOWN = object()


def pickled_sklearn_version(path: Path, name: str) -> str | None:
    """The `_sklearn_version` a pickle or uncompressed joblib file records (see above).

    Args:
        path: a .pkl, .pickle or .joblib file.
        name: its path as shown in messages.

    Returns:
        The version as the file states it; None when none was found within the bounds, or the file is
        compressed.
    """
    with open(path, "rb") as raw:
        if raw.read(6).startswith(_COMPRESSED):
            return None
        raw.seek(0)
        walk = _Walk(CappedReader(raw, MAX_READ, name))
        try:
            return walk.run()
        except (_Stop, ValueError, EOFError, OSError, OverflowError, MalformedFileError):
            return None


class _Walk:
    """The opcodes run on plain values: pickle's own stack, MARK stack (metastack) and memo."""

    def __init__(self, reader: CappedReader) -> None:
        self.reader = reader
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}

    def run(self) -> str | None:
        for count, (opcode, arg, _) in enumerate(pickletools.genops(self.reader), 1):  # type: ignore[arg-type]
            if count > MAX_OPCODES:
                return None
            found = self.step(opcode.name, arg)
            if found is not None:
                return found
        return None

    def pop(self) -> Any:
        if not self.stack:
            raise _Stop
        return self.stack.pop()

    def pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise _Stop
        items, self.stack = self.stack, self.metastack.pop()
        return items

    def push(self, value: Any) -> None:
        self.stack.append(value)

    def top(self) -> Any:
        if not self.stack:
            raise _Stop
        return self.stack[-1]

    def step(self, op: str, arg: Any) -> str | None:  # one branch an opcode family, as pickle's own
        push = self.push  # (not the stack's own append: a MARK's end puts the stack below back)
        if op in _PUSHED:
            push(arg)
        elif op in _OPAQUE:
            push(_UNKNOWN)
        elif op in _CONSTANTS:
            push(_CONSTANTS[op])
        elif op == "MARK":
            self.metastack.append(self.stack)
            self.stack = []
        elif op in ("EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3"):
            size = {"EMPTY_TUPLE": 0, "TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}.get(op)
            push(tuple(self.pop_mark() if size is None else reversed([self.pop() for _ in range(size)])))
        elif op in ("EMPTY_LIST", "LIST"):
            push([] if op == "EMPTY_LIST" else self.pop_mark())
        elif op in ("EMPTY_DICT", "DICT"):
            made: dict[Any, Any] = {}
            _set_items(made, [] if op == "EMPTY_DICT" else self.pop_mark())
            push(made)
        elif op in ("APPEND", "APPENDS"):
            items = [self.pop()] if op == "APPEND" else self.pop_mark()
            if isinstance(target := self.top(), list):
                target.extend(items)
        elif op in ("SETITEM", "SETITEMS"):
            pairs = list(reversed([self.pop(), self.pop()])) if op == "SETITEM" else self.pop_mark()
            if isinstance(target := self.top(), dict):
                _set_items(target, pairs)
        elif op in ("ADDITEMS", "POP_MARK"):
            self.pop_mark()
        elif op == "FROZENSET":
            self.pop_mark()
            push(_UNKNOWN)
        elif op == "POP":
            if self.stack:
                self.stack.pop()
            else:
                self.pop_mark()
        elif op == "DUP":
            push(self.top())
        elif op in ("GET", "BINGET", "LONG_BINGET"):
            if arg not in self.memo:
                raise _Stop
            push(self.memo[arg])
        elif op in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
            self.memo[len(self.memo) if op == "MEMOIZE" else arg] = self.top()
        elif op == "GLOBAL":
            module, _, name = str(arg).partition(" ")
            push(_Global(module, name))
        elif op == "STACK_GLOBAL":
            name, module = self.pop(), self.pop()
            push(_Global(module, name))
        elif op in ("REDUCE", "NEWOBJ"):
            args = self.pop()
            push(_Object(self.pop(), args))
        elif op == "NEWOBJ_EX":
            self.pop()
            args = self.pop()
            push(_Object(self.pop(), args))
        elif op in ("OBJ", "INST"):
            items = self.pop_mark()
            if op == "INST":
                module, _, name = str(arg).partition(" ")
                items = [_Global(module, name), *items]
            push(_Object(items[0], tuple(items[1:])) if items else _UNKNOWN)
        elif op == "BUILD":
            return self.build(self.pop(), self.top())
        elif op == "BINPERSID":
            self.pop()
            push(_UNKNOWN)
        elif op not in ("PROTO", "FRAME", "READONLY_BUFFER", "STOP"):
            raise _Stop  # an opcode of a protocol to come
        return None

    def build(self, state: Any, target: Any) -> str | None:
        """BUILD: the state given to the object on top; the version when the state records it. After a
        joblib array wrapper's, the array's bytes are passed over."""
        if not isinstance(target, _Object):
            return None
        target.state = state
        if isinstance(state, dict) and (version := short_text(state.get("_sklearn_version"), 64)):
            return version
        if target.is_a("numpy_pickle", "NumpyArrayWrapper") and isinstance(state, dict):
            self.skip_array(state)
        return None

    def skip_array(self, wrapper: dict[Any, Any]) -> None:
        """Seek past the bytes joblib wrote for the array `wrapper` (its state) describes."""
        size = _array_bytes(wrapper)
        if size is None:
            raise _Stop
        if isinstance(wrapper.get("numpy_array_alignment_bytes"), int):  # joblib 1.2+: padded to it
            padding = self.reader.exact(1, "array padding")[0]
            self.reader.skip(padding, "array padding", counted=False)
        self.reader.skip(size, "array data", counted=False)


def _set_items(target: dict[Any, Any], items: list[Any]) -> None:
    """Key-value pairs (as on the stack) into `target`; keys that are not plain values are left out."""
    for key, value in zip(items[::2], items[1::2], strict=False):
        if isinstance(key, _KEYS) and not (isinstance(key, int) and key.bit_length() > MAX_KEY_BITS):
            target[key] = value


def _array_bytes(wrapper: dict[Any, Any]) -> int | None:
    """The bytes of the array a joblib NumpyArrayWrapper's state describes; None when it cannot be told."""
    shape, dtype = wrapper.get("shape"), wrapper.get("dtype")
    if not isinstance(shape, tuple) or len(shape) > MAX_DIMENSIONS or not all(
            type(n) is int and 0 <= n < MAX_EXTENT for n in shape):
        return None
    if not isinstance(dtype, _Object) or not isinstance(dtype.args, tuple) or not dtype.args:
        return None
    # numpy.dtype's reduce: (dtype, ('f8', False, True), (3, '<', subarray, names, fields, elsize, ...)),
    # elsize -1 for a type of fixed size, which its text gives.
    state = dtype.state
    if isinstance(state, tuple) and len(state) > 5 and type(state[5]) is int and state[5] > 0:
        return math.prod(shape) * state[5]
    text = dtype.args[0]
    match = _ITEM.fullmatch(text) if isinstance(text, str) else None
    return math.prod(shape) * int(match.group(1)) if match else None
