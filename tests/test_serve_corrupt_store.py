"""`modelpack serve REF` whose model's blob in the local store was corrupted since it was pulled (a disk, a
hand's edit): the store's check removes it, and serve pulls it again from the registry it just asked and
serves, with one warning, where it used to exit 6 asking for a pull."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import modelpack as mp
from registry_process import Registry
from test_serve_lifecycle import PLAIN, SAID, answer, onnx_model, start
from test_serve_lifecycle import processes as processes
from test_serve_lifecycle import scratch as scratch


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_corrupt_stored_blob_is_pulled_again_and_served(
        registry: Registry, modelpack_home: Path, tmp_path: Path, scratch: Path,
        processes: list[subprocess.Popen[str]], workers: str) -> None:
    ref = registry.repo() + ":1.0"
    pushed = mp.push(onnx_model(tmp_path / "linear"), ref, options=PLAIN)
    mp.pull(ref, options=PLAIN)
    blobs = modelpack_home / "blobs" / "sha256"
    manifest = json.loads((blobs / pushed.descriptor.digest.split(":")[1]).read_bytes())
    layer = next(layer for layer in manifest["layers"] if layer.get("annotations", {}).get(
        "org.opencontainers.image.title") == "model.onnx")
    model_file = blobs / layer["digest"].split(":")[1]
    model_file.chmod(0o644)
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    proc, port = start(scratch, ref.rsplit(":", 1)[0] + "@" + pushed.descriptor.digest, "--plain-http",
                       "--workers", workers)
    processes.append(proc)
    assert answer(port).startswith(b"HTTP/1.1 200")
    warnings = [line for line in SAID[proc.pid] if line.startswith("warning: ")]
    # The one that read it says so; a --workers sibling may instead find the blob gone from under it.
    assert any(line.startswith("warning: local store blob sha256:") and line.endswith(
        " was corrupt (its bytes no longer match its digest); pulling it again\n") for line in warnings), warnings
    assert all(line.endswith("; pulling it again\n") for line in warnings), warnings
    assert model_file.read_bytes() != bytes(data)  # mended
