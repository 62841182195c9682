"""A second stop signal while a stopped copy waits for its workers (`timeout` sends SIGTERM to the command,
then again to its process group) must leave the ends cancelled: resumed, a worker went on fetching the
whole model while the exit waited for it (57 s on a capped link after `error: terminated`, 4 runs in 5)."""

from __future__ import annotations

import io
import signal
import threading
import time
from collections.abc import Sequence

import pytest

from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor
from modelpack.store.copy import BlobPipeline, CopyOptions
from modelpack.store.memory import MemoryStore
from modelpack.store.target import Opener, Progress


class _HeldTarget(MemoryStore):
    """A destination whose one upload is held until released, whatever it is told (a worker deep in a read
    when the signals come), and that records whether it is cancelled now."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.release = threading.Event()
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def resume(self) -> None:
        self.cancelled = False

    def push_blob(self, desc: Descriptor, opener: Opener, progress: Progress | None = None,
                  mount_from: Sequence[str] = ()) -> None:
        self.started.set()
        self.release.wait(10)
        super().push_blob(desc, opener, progress, mount_from)


def test_a_second_interrupt_while_waiting_for_the_workers_leaves_them_cancelled() -> None:
    data = b"weights" * 1000
    blob = Descriptor(mediaType="application/octet-stream", digest=digests.of_bytes(data), size=len(data))
    target = _HeldTarget()
    seen: dict[str, bool] = {}
    main = threading.get_ident()

    def interrupt_twice() -> None:
        target.started.wait(10)
        time.sleep(0.3)  # the main thread waits for the worker
        signal.pthread_kill(main, signal.SIGINT)  # the first stop: the ends are cancelled, the wait goes on
        time.sleep(0.3)
        signal.pthread_kill(main, signal.SIGINT)  # the second ends that wait too
        time.sleep(0.3)
        seen["cancelled"] = target.cancelled  # the worker is still running
        target.release.set()

    helper = threading.Thread(target=interrupt_twice)
    helper.start()
    try:
        with pytest.raises(KeyboardInterrupt), BlobPipeline(target, CopyOptions(workers=1)) as pipeline:
            pipeline.submit(blob, lambda: io.BytesIO(data))
    finally:
        target.release.set()
        helper.join()
    assert seen["cancelled"] is True
