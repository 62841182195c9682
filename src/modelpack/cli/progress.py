"""Progress of transfers: a bar on a terminal; in a log (stderr a file or a pipe, as in CI) a plain line
every MODELPACK_PROGRESS_INTERVAL seconds (default 60; 0: none), so a long push is not taken for a hang
(CI systems end a step silent for 10 minutes); nothing with --json."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from modelpack.environment import env_int
from modelpack.store.copy import CopyOptions

if TYPE_CHECKING:
    from modelpack.packing.build import HashProgress


@contextmanager
def transfer_progress(label: str, enabled: bool) -> Iterator[CopyOptions]:
    options = CopyOptions()
    if not enabled:
        yield options
        return
    with _growing_bar(label) if sys.stderr.isatty() else _log_lines(label) as (start, advance):
        options.on_blob_start = lambda desc: start(desc.size)
        options.progress = advance
        yield options


@contextmanager
def hash_progress(label: str, enabled: bool) -> Iterator[HashProgress | None]:
    """A bar for hashing files (pack of a large model reads every byte once before storing it)."""
    if not enabled:
        yield None
        return
    from modelpack.packing.build import HashProgress

    with _growing_bar(label) if sys.stderr.isatty() else _log_lines(label) as (start, advance):
        yield HashProgress(start=start, advance=advance)


@contextmanager
def _growing_bar(label: str) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """One bar whose total grows as work is announced: `start(size)` adds to it, `advance(n)` fills it."""
    lock = threading.Lock()
    with _bar() as bar:
        # Hidden until the first blob or file is announced: not a "0/0 bytes ?" bar while manifests are read
        task: Any = bar.add_task(label, total=0, visible=False)

        def start(size: int) -> None:
            with lock:
                bar.update(task, total=(bar.tasks[0].total or 0) + size, visible=True)

        yield start, lambda n: bar.advance(task, n)


INTERVAL_ENV = "MODELPACK_PROGRESS_INTERVAL"


@contextmanager
def _log_lines(label: str) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """`start(size)` and `advance(n)` as `_growing_bar`'s; a line on stderr every interval while any work
    was announced (also when no byte moved since the last: a stalled transfer shows as one)."""
    from modelpack.space import human_size

    interval = env_int(INTERVAL_ENV, 60, minimum=0, maximum=86400)
    lock = threading.Lock()
    counts = [0, 0]  # bytes announced, bytes done
    stop = threading.Event()

    def start(size: int) -> None:
        with lock:
            counts[0] += size

    def advance(n: int) -> None:
        with lock:
            counts[1] += n

    def report() -> None:
        while not stop.wait(interval):
            with lock:
                total, done = counts
            if total:
                # Line-buffered or not, the line reaches the log at once.
                print(f"{label}: {human_size(done)} of {human_size(total)}", file=sys.stderr, flush=True)

    if not interval:
        yield start, advance
        return
    reporter = threading.Thread(target=report, name="modelpack-progress-log", daemon=True)
    reporter.start()
    try:
        yield start, advance
    finally:
        stop.set()
        reporter.join()


def _bar() -> Any:
    from rich.console import Console
    from rich.filesize import pick_unit_and_suffix
    from rich.progress import BarColumn, DownloadColumn, Progress, ProgressColumn, Task
    from rich.text import Text

    class BinarySpeedColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            if speed is None:
                return Text("?", style="progress.data.speed")
            unit, suffix = pick_unit_and_suffix(int(speed), ["B", "KiB", "MiB", "GiB", "TiB"], 1024)
            return Text(f"{speed / unit:.1f} {suffix}/s", style="progress.data.speed")

    # Binary units (GiB), as every size modelpack prints. On stderr, the terminal it was chosen for: rich's
    # default, stdout, showed no bar when stdout was redirected (`D=$(modelpack pull ...)` on a terminal)
    # and wrote a blank line into it, ahead of the reference printed. Soft wrap: a warning printed above the
    # bar keeps its own lines (rich would break a long path where the terminal's width falls).
    return Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(binary_units=True),
                    BinarySpeedColumn(), transient=True, console=Console(stderr=True, soft_wrap=True))
