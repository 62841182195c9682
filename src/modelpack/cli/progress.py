"""Progress bars for transfers: shown on a terminal, silent in pipes, CI logs and with --json."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from modelpack.store.copy import CopyOptions


@contextmanager
def transfer_progress(label: str, enabled: bool) -> Iterator[CopyOptions]:
    options = CopyOptions()
    if not enabled or not sys.stderr.isatty():
        yield options
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    lock = threading.Lock()
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), transient=True) as bar:
        task: Any = bar.add_task(label, total=0)

        def start(desc: Any) -> None:
            with lock:
                bar.update(task, total=(bar.tasks[0].total or 0) + desc.size)

        options.on_blob_start = start
        options.progress = lambda n: bar.advance(task, n)
        yield options
