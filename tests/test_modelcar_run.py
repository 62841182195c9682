"""A modelcar run as KServe runs it: a debootstrapped Debian as the base, `build-image --modelcar` of an ONNX
model, the image's rootfs exported with crane, and in a chroot the containers KServe adds to the pod (KServe's
pkg/utils CreateModelcarInitContainer and CreateModelcarContainer): `args` only, so the image's entrypoint
(none) and then `sh -c ...`. The runtime container reaches the model through /proc/PID/root, as here."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

import modelpack as mp
from debian_base import push_debian_base_or_skip
from helpers import modelpack
from registry_process import Registry
from test_image import crane
from test_serving_image import PLAIN, _onnx_model

pytestmark = [pytest.mark.slow, pytest.mark.interop]
# What KServe's containers run (their `args`; YAML's `$$` is the shell's `$`), said in our own words.
INIT_CHECK = ['sh', '-c', 'test -d /models && test -n "$(ls -A /models)" && echo prefetched || exit 1']
SIDECAR = ["sh", "-c", "ln -sf /proc/$$/root/models /mnt/models && sleep infinity"]


def test_kserve_runs_the_modelcar_and_sees_triton_s_layout(registry: Registry, crane_bin: Path,
                                                           tmp_path: Path) -> None:
    base = registry.repo("debian") + ":bookworm"
    push_debian_base_or_skip(base, PLAIN)
    model = _onnx_model(tmp_path / "model")
    ref = registry.repo("linear") + ":2.0"
    mp.push(model, ref, options=PLAIN)
    image = registry.repo("linear-car") + ":2.0"
    built = modelpack("build-image", "--plain-http", "--modelcar", ref, "-t", image, "--base", base, timeout=600)
    assert built.code == 0, built.err

    settings = json.loads(crane(crane_bin, "config", image))["config"]
    root = tmp_path / "rootfs"
    root.mkdir()
    flat = tmp_path / "image.tar"
    crane(crane_bin, "export", image, str(flat))
    with tarfile.open(flat) as tar:
        tar.extractall(root, filter="fully_trusted")
    flat.unlink()
    env = dict(entry.split("=", 1) for entry in settings["Env"])
    entrypoint = settings.get("Entrypoint") or []  # Kubernetes: the image's entrypoint, then the pod's args

    init = subprocess.run(["chroot", str(root), *entrypoint, *INIT_CHECK], env=env, capture_output=True,
                          timeout=60)
    assert init.returncode == 0 and init.stdout == b"prefetched\n", init.stderr

    # Its own process group: `sleep infinity` is the shell's child, ended with it.
    sidecar = subprocess.Popen(["chroot", str(root), *entrypoint, *SIDECAR], env=env, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        link = root / "mnt" / "models"
        deadline = time.monotonic() + 60
        while not link.is_symlink() and sidecar.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert link.is_symlink(), sidecar.stderr.read() if sidecar.poll() is not None and sidecar.stderr else ""
        assert os.readlink(link) == f"/proc/{sidecar.pid}/root/models"
        assert sidecar.poll() is None  # `sleep infinity` keeps the pod's model reachable
        # Where Triton (`--model-store=/mnt/models`) looks: NAME/1/model.onnx, through the sidecar's root.
        served = Path(f"/proc/{sidecar.pid}/root/models/linear-regressor/1/model.onnx")
        assert served.read_bytes() == (model / "model.onnx").read_bytes()
    finally:
        os.killpg(sidecar.pid, signal.SIGKILL)
        sidecar.wait(timeout=30)
