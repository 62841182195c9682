"""The pieces of the rest of a blob fetched in ranges (see `ranged`) and who holds them: free, taken or
done, shared by the connections and the hashing thread under one condition; the first failure stops them all.
"""

from __future__ import annotations

import threading


class PieceStopped(Exception):
    """Another connection failed: this one stops (the first failure is the one reported)."""


class Pieces:
    """The pieces of the rest of a blob and who holds them: free, taken or done; shared by the
    connections and the hashing thread under one condition."""

    def __init__(self, start: int, end: int, size: int) -> None:
        self.bounds = [(at, min(at + size, end)) for at in range(start, end, size)]
        self._state = ["taken"] + ["free"] * (len(self.bounds) - 1)  # the first stream holds piece 0
        self._cond = threading.Condition()
        self.failure: BaseException | None = None
        self.confirmed = False  # a ranged request got exactly its range
        self.refused = False

    def claim(self) -> int | None:
        """The lowest free piece, now taken; None when none is left (or the transfer failed)."""
        with self._cond:
            if self.failure is not None or "free" not in self._state:
                return None
            index = self._state.index("free")
            self._state[index] = "taken"
            return index

    def next_for_primary(self, index: int) -> int | None:
        """Piece `index` for the first stream to read on into, or None: nothing left, or another
        connection holds it and ranges are confirmed (waits while that is not yet known)."""
        with self._cond:
            while self.failure is None and index < len(self._state):
                if self._state[index] == "free":
                    self._state[index] = "taken"
                    return index
                if self.confirmed:
                    return None
                self._cond.wait()
            return None

    def confirm(self) -> None:
        with self._cond:
            self.confirmed = True
            self._cond.notify_all()

    def refuse(self, index: int) -> None:
        """The probe was not answered with its range: its piece goes back, no other connection starts."""
        with self._cond:
            self.refused = True
            self._state[index] = "free"
            self._cond.notify_all()

    def wait_confirmed(self) -> bool:
        with self._cond:
            while not (self.confirmed or self.refused or self.failure is not None):
                self._cond.wait()
            return self.confirmed and self.failure is None

    def done(self, index: int) -> None:
        with self._cond:
            self._state[index] = "done"
            self._cond.notify_all()

    def wait_done(self, index: int) -> bool:
        with self._cond:
            while self._state[index] != "done" and self.failure is None:
                self._cond.wait()
            return self.failure is None

    def whole_until(self) -> int:
        """Where the leading run of pieces received whole ends: the blob is whole up to there."""
        with self._cond:
            first = next((i for i, state in enumerate(self._state) if state != "done"), len(self._state))
            return self.bounds[first][0] if first < len(self.bounds) else self.bounds[-1][1]

    def fail(self, exc: BaseException) -> None:
        with self._cond:
            if self.failure is None and not isinstance(exc, PieceStopped):
                self.failure = exc
            self._cond.notify_all()

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure
