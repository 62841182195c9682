"""Guest memory warmed before a benchmark, and what writing into it costs now.

On this virtual machine, memory the host has not backed (or has taken back) costs several times more
kernel time on first touch: a 1 GiB write into tmpfs has taken 4.4 s of system CPU cold and 0.36 s warm,
minutes apart. The cost lands on whichever tool touches it, so `make bench` warms a few GiB first and
prints the cost per GiB at its start and end: figures from a run whose cost moved are not comparable.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

MIB = 1024 * 1024


def warm_memory(root: Path, gib: int = 4) -> float:
    """Write and delete a few GiB first: on a virtual machine the first touch of guest memory the host
    has not backed yet costs several times more kernel time, which would land on whichever tool runs
    first. Returns the system CPU seconds the writes took per GiB (~0.4 s here when memory is warm)."""
    block = os.urandom(MIB)
    path = root / "warm-up"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_stime
    with open(path, "wb") as f:
        for _ in range(gib * 1024):
            f.write(block)
    spent = resource.getrusage(resource.RUSAGE_SELF).ru_stime - before
    path.unlink()
    return spent / gib
