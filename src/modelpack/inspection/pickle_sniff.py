"""Whether loading a file's bytes as a pickle could run anything: raw weights vs a real pickle, told
without unpickling.

An unpickler runs the file's opcodes one by one and stops at the first it cannot run. Code runs only
when an opcode imports a name the file chose (GLOBAL, STACK_GLOBAL, INST) or hands a persistent id to the
loader's hook (PERSID, BINPERSID: torch's own loader resolves storages there); without one, the stack holds
plain data (numbers, strings, containers), nothing callable, so REDUCE, BUILD, OBJ and NEWOBJ fail. So
the bytes are walked as opcodes, decoded only, up to the first of:
- an import: the file could run code (STOP does not end the walk: torch's oldest pickle format is
  several pickles in a row, loaded one after the other);
- a byte that is no opcode, a pop from an empty stack or to a MARK never pushed, a memo entry never
  stored (all counted loosely: the unpickler's own checks are stricter), a protocol above 5, a negative
  length, or a length (or frame) that runs past the end of the file: the unpickler fails there, having
  run nothing;
- EXT1/2/4: they name no class, only a number, looked up in copyreg's registry of the loading process.
  That registry is empty in CPython and in the libraries that load a `.bin` (torch, transformers,
  numpy, scikit-learn, joblib, xgboost register nothing), so the unpickler fails with "unregistered
  extension code", having imported nothing; and what an entry would name is the loader's choice, never
  the file's;
- a persistent id in one of the stream's first three pickles: pickle.load has no hook, and torch.load
  reads its old format's first three pickles (magic number, protocol, system info) with plain
  pickle.load, so the unpickler fails there;
- the end of what was read while the file goes on: not known, so it counts as a pickle.

Raw float32 weights begin with an opcode byte about one time in four (0x80 PROTO, `(` MARK, `I` INT ...),
which a first-byte test takes for a pickle; walked on, they almost always hit a byte that is no opcode, or
pop an empty stack, within a few steps. Of 10,000 seeded random float32 tensors (256 to 64 Ki weights),
the walk that took EXT1/2/4 and every persistent id for an import counted 116 (1.16 %), each stopped at
one of those; this one counts none (of 50,000: 3, whose opcodes ran on past 4 KiB).
"""

from __future__ import annotations

import pickletools

# The opcode names after which code may run (see above); EXT1/2/4 fail on an empty copyreg registry.
RUNS_CODE = frozenset({"GLOBAL", "STACK_GLOBAL", "INST", "PERSID", "BINPERSID"})
FAILS = frozenset({"EXT1", "EXT2", "EXT4"})
PERSISTENT_IDS = frozenset({"PERSID", "BINPERSID"})
FIRST_HOOKED_LOAD = 3  # torch.load's old format gives its 4th pickle (counted from 0) a persistent_load
HIGHEST_PROTOCOL = 5  # the unpickler refuses PROTO with a higher number
_OPCODES = {ord(op.code.encode("latin-1")): op for op in pickletools.opcodes}
# Length-prefixed arguments: (bytes of the length, whether it is signed), by pickletools' `n`.
_LENGTHS = {pickletools.TAKEN_FROM_ARGUMENT1: (1, False), pickletools.TAKEN_FROM_ARGUMENT4: (4, True),
            pickletools.TAKEN_FROM_ARGUMENT4U: (4, False), pickletools.TAKEN_FROM_ARGUMENT8U: (8, False)}
MAX_STEPS = 100_000  # opcodes walked at most (a window of a few KiB holds far fewer)


def may_run_code(head: bytes, size: int | None) -> bool:
    """Whether an unpickler reading a file that starts with `head` could run code.

    Args:
        head: the file's first bytes (all of them, when `size` equals their length).
        size: the file's whole size; None when not known (then reaching the end of `head` counts as a
            pickle that goes on).

    Returns:
        True when an opcode that runs code is reached, or the walk reaches the end of `head` before the
        file ends and before anything failed; False when the unpickler would fail (or finish) first.
    """
    whole = size is not None and size <= len(head)
    machine = _Stack()
    pos = 0
    for _ in range(MAX_STEPS):
        if pos >= len(head):
            return not whole  # the file ended here: a truncated pickle runs nothing more
        op = _OPCODES.get(head[pos])
        if op is None:
            return False
        end = _argument_end(head, pos + 1, op, size)
        if end is None:
            return False
        if end > len(head):
            return not whole
        if op.name in FAILS or not machine.step(op, head[pos + 1:end]):
            return False
        if op.name in PERSISTENT_IDS and machine.loads < FIRST_HOOKED_LOAD:
            return False  # "no persistent_load function was specified"
        if op.name in RUNS_CODE:
            return not _text_fails(op.name, head[pos + 1:end])
        pos = end
    return True


class _Stack:
    """How many items the unpickler's stack holds, where its MARKs are, which memo entries are set: enough
    to know an opcode fails. Items are only counted, so an opcode the unpickler refuses for an item's type
    passes here (never the reverse); STOP starts the next load afresh, as a new unpickler would."""

    def __init__(self) -> None:
        self.depth = 0
        self.marks: list[int] = []
        self.memo: set[int] = set()
        self.loads = 0  # the pickles of the stream that ended (STOP) before this opcode

    def step(self, op: pickletools.OpcodeInfo, arg: bytes) -> bool:
        """Apply `op` (with its argument's bytes); False when the unpickler fails on it."""
        before = [item.name for item in op.stack_before]
        if op.name == "MARK":
            self.marks.append(self.depth)
            return True
        if op.name == "POP" and self.marks and self.marks[-1] == self.depth:
            self.marks.pop()  # POP right after a MARK pops the mark
            return True
        if "mark" in before:
            if not self.marks:
                return False  # "could not find MARK"
            top = self.marks.pop()
            above, below = len(before) - before.index("mark") - 2, before.index("mark")
            if self.depth - top < above or top < below:
                return False
            self.depth = top - below
        else:
            needed = max(len(before), 1 if op.name in ("PUT", "BINPUT", "LONG_BINPUT") else 0)
            if self.depth < needed:
                return False  # "unpickling stack underflow"
            self.depth -= len(before)
        self.depth += len(op.stack_after)
        return self._memo(op.name, arg)

    def _memo(self, name: str, arg: bytes) -> bool:
        """Record a memo store; False for a fetch of an entry never stored."""
        index = _index(arg, text=name in ("GET", "PUT"))
        if name == "MEMOIZE":
            self.memo.add(len(self.memo))
        elif name in ("PUT", "BINPUT", "LONG_BINPUT") and index is not None:
            self.memo.add(index)
        elif name in ("GET", "BINGET", "LONG_BINGET") and index is not None and index not in self.memo:
            return False  # "Memo value not found"
        elif name == "STOP":
            self.depth, self.marks, self.memo = 0, [], set()
            self.loads += 1
        return True


def _index(arg: bytes, text: bool) -> int | None:
    """A memo index: decimal text (GET, PUT) or little-endian bytes; None when it cannot be told."""
    if not text:
        return int.from_bytes(arg, "little") if arg else None
    try:
        return int(arg.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None


def _text_fails(name: str, arg: bytes) -> bool:
    """Whether the unpickler fails on a GLOBAL's or INST's module and name lines (or a PERSID's id) before
    importing or resolving anything: it decodes them as UTF-8 (a persistent id as ASCII) and refuses an
    empty line. Raw bytes that happen to begin with `c` or `i` almost never hold valid UTF-8 lines."""
    if name not in ("GLOBAL", "INST", "PERSID"):
        return False
    lines = arg.split(b"\n")[:-1]  # the argument ends with its last line's newline
    try:
        for line in lines:
            line.decode("ascii" if name == "PERSID" else "utf-8")
    except UnicodeDecodeError:
        return True
    return name != "PERSID" and any(not line for line in lines)


def _argument_end(head: bytes, start: int, op: pickletools.OpcodeInfo, size: int | None) -> int | None:
    """Where the opcode's argument (starting at `start`) ends; past `len(head)` when it is not all read;
    None when the unpickler fails on it."""
    arg = op.arg
    if arg is None:
        return start
    if arg.n == pickletools.UP_TO_NEWLINE:
        end = start
        for _ in range(2 if arg.name == "stringnl_noescape_pair" else 1):  # GLOBAL, INST: module and name
            newline = head.find(b"\n", end)
            if newline < 0:
                return len(head) + 1
            end = newline + 1
        return end
    if arg.n >= 0:
        end = start + arg.n
        if op.name == "PROTO" and end <= len(head) and head[start] > HIGHEST_PROTOCOL:
            return None
        if op.name == "FRAME" and end <= len(head):
            frame = int.from_bytes(head[start:end], "little")
            if size is not None and end + frame > size:
                return None  # "pickle exhausted before end of frame"
        return end
    width, signed = _LENGTHS[arg.n]
    if start + width > len(head):
        return start + width
    length = int.from_bytes(head[start:start + width], "little", signed=signed)
    if length < 0 or (size is not None and start + width + length > size):
        return None  # a negative count, or data the file does not hold: "pickle data was truncated"
    return start + width + length
