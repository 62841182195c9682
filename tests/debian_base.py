"""A real Python base image for the serving-image test: a minimal Debian with python3, made with
debootstrap (about 45 s, cached as a tarball so reruns are quick), pushed as a one-layer image.

The cache lives in MODELPACK_TEST_CACHE (default ~/.cache/modelpack-tests).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import modelpack as mp
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Manifest
from modelpack.store.options import ClientOptions

SUITE = "bookworm"  # python3 is 3.11 there
MIRROR = os.environ.get("MODELPACK_TEST_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def cache_dir() -> Path:
    return Path(os.environ.get("MODELPACK_TEST_CACHE") or Path.home() / ".cache" / "modelpack-tests")


def rootfs_tar() -> Path:
    """The tarball of a debootstrapped Debian with python3, built once and then reused.

    Raises:
        RuntimeError: debootstrap is missing, not run as root, or failed (its last output lines).
    """
    tarball = cache_dir() / f"debian-{SUITE}-python3.tar"
    if tarball.is_file():
        return tarball
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is not installed (apt-get install -y debootstrap)")
    if os.geteuid() != 0:
        raise RuntimeError("debootstrap needs root")
    root = cache_dir() / f"rootfs-{SUITE}.tmp"
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["debootstrap", "--variant=minbase", "--include=python3", SUITE, str(root), MIRROR],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError("debootstrap failed: " + " | ".join((proc.stdout + proc.stderr).splitlines()[-3:]))
    # What a container image does not carry: apt's caches, logs.
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "var/log"):
        for child in (root / junk).glob("*"):
            if child.is_file():
                child.unlink()
    partial = tarball.with_suffix(".partial")
    subprocess.run(["tar", "--numeric-owner", "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*",
                    "-C", str(root), "-cf", str(partial), "."], check=True, timeout=600)
    partial.rename(tarball)
    shutil.rmtree(root, ignore_errors=True)
    return tarball


def push_debian_base(ref: str, options: ClientOptions) -> Descriptor:
    """Push the Debian rootfs as a one-layer linux/amd64 image (no PYTHON_VERSION: the Python is found in
    the layer's listing)."""
    tarball = rootfs_tar()
    target = mp.remote(mp.Reference.parse(ref), options)
    sha = hashlib.sha256()
    with tarball.open("rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    layer = Descriptor(mediaType="application/vnd.oci.image.layer.v1.tar", digest=f"sha256:{sha.hexdigest()}",
                       size=tarball.stat().st_size)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                                    "Cmd": ["/bin/bash"]},
                         "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
                         "history": [{"created_by": f"debootstrap --variant=minbase --include=python3 {SUITE}"}]}
                        ).encode()
    config_desc = Descriptor(mediaType="application/vnd.oci.image.config.v1+json", digest=digests.of_bytes(config),
                             size=len(config))
    target.push_blob(layer, lambda: tarball.open("rb"))
    target.push_blob(config_desc, lambda: __import__("io").BytesIO(config))
    manifest = Manifest(config=config_desc, layers=[layer]).canonical_bytes()
    desc = Descriptor(mediaType="application/vnd.oci.image.manifest.v1+json", digest=digests.of_bytes(manifest),
                      size=len(manifest))
    target.put_manifest(desc, manifest, mp.Reference.parse(ref).tag)
    return desc


def push_debian_base_or_skip(ref: str, options: ClientOptions) -> None:
    """`push_debian_base` for a test that runs the image's rootfs in a chroot: skipped (failed in CI) when
    not root or when the base cannot be made."""
    from conftest import missing

    if os.geteuid() != 0:
        missing("running the image's rootfs in a chroot needs root")
    try:
        push_debian_base(ref, options)
    except RuntimeError as exc:
        missing(str(exc))
