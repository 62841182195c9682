"""glibc's mmap threshold is fixed only where modelpack owns the process (`modelpack serve`), never in a
program that calls `serve_model`: malloc's behaviour is the whole process's.

The probe, run in the process under test: glibc serves a 4 MiB block from mmap at its default threshold,
and freeing it raises the threshold past that size, so the next 4 MiB block comes from the heap; with
the threshold fixed (mallopt), it is mapped again. `mallinfo2().hblks` counts the mapped blocks.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from serve_models import iris_skops

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")

PROBE = textwrap.dedent("""
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    if not hasattr(libc, "mallinfo2"):
        print("no mallinfo2", flush=True)
        raise SystemExit(0)

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                         "usmblks", "fsmblks", "uordblks", "fordblks",
                                                         "keepcost")]

    libc.mallinfo2.restype = Mallinfo2
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]

    def mapped_again():
        # Larger than every free chunk (the heap's top included), or malloc would serve it from those
        # whatever the threshold; under glibc's 32 MiB, above which the threshold is never raised.
        size = max(libc.mallinfo2().fordblks + (1 << 20), 4 << 20)
        if size > 31 << 20:
            return "unsure"
        libc.free(libc.malloc(size))  # at a dynamic threshold: mapped, and the free raises it past size
        before = libc.mallinfo2().hblks
        block = libc.malloc(size)
        mapped = libc.mallinfo2().hblks > before
        libc.free(block)
        return mapped
""")


def probe(code: str, cwd: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, cwd=cwd)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.split()
    if lines[:1] == ["no"] or "unsure" in lines:
        pytest.skip(f"glibc's mmap threshold cannot be probed here: {done.stdout!r}")
    return lines


def test_serve_model_leaves_the_callers_malloc_alone(tmp_path: Path) -> None:
    # serve_model fixed the threshold for whatever program called it.
    folder = iris_skops(tmp_path / "iris")[0]
    lines = probe(f"""
        import modelpack
        print(mapped_again(), flush=True)  # the interpreter's own state first
        server = modelpack.serve_model({str(folder)!r}, port=0, grpc_port=0)
        print(mapped_again(), flush=True)
        server.grpc_server.stop(0)
        server.server_close()
        from modelpack.serve.malloc import return_large_allocations
        print(return_large_allocations(), mapped_again(), flush=True)  # the probe sees a fixed threshold
    """, tmp_path)
    assert lines == ["False", "False", "True", "True"], lines


def test_modelpack_serve_fixes_its_own_processes_threshold(tmp_path: Path) -> None:
    folder = iris_skops(tmp_path / "iris")[0]
    code = PROBE + textwrap.dedent("""
        import atexit, sys
        atexit.register(lambda: print("mapped", mapped_again(), flush=True))
        sys.argv = ["modelpack", "serve", "--port", "0", sys.argv[1]]
        from modelpack.cli.entry import main
        main()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("serving on"):
                break
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err[-2000:]
    if out.startswith("no mallinfo2") or "unsure" in out:
        pytest.skip(f"glibc's mmap threshold cannot be probed here: {out!r}")
    assert "mapped True" in out, (out, err[-2000:])
