"""`build-image` copies a model's `created` into the image's config, history and annotations, where container
tools parse it as an RFC 3339 time (Go's time.Time): the artifact wrote it, and one they cannot read made
the whole image unreadable to skopeo, crane, containerd, Docker and podman, although the build said it
succeeded. Such a time is left out; a real one is kept as it was written."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import missing
from helpers import modelpack
from registry_process import Registry
from test_image import push_base
from test_peer_metadata import push_manifest


def _config(image: str) -> dict:
    """The image's config as skopeo parses it (a time it cannot read fails the command)."""
    if shutil.which("skopeo") is None:
        missing("skopeo not installed (apt-get install skopeo)")
    proc = subprocess.run(["skopeo", "inspect", "--config", "--tls-verify=false", f"docker://{image}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize(("created", "kept"), [
    ("yesterday", None), ("2024-01-01", None), ("2024-02-30T00:00:00Z", None), ("2024-01-01T00:00:00", None),
    ("2024-05-01T10:00:00.5+02:00", "2024-05-01T10:00:00.5+02:00"),
])
def test_a_created_time_no_container_tool_reads_is_left_out_of_the_image(registry: Registry, created: str,
                                                                         kept: str | None) -> None:
    model = registry.repo("model") + ":1"
    push_manifest(model, {"io.modelpack.model.name": "m", "org.opencontainers.image.created": created})
    base = registry.repo("base") + ":1"
    push_base(base, ("amd64",))
    image = registry.repo("img") + ":1"
    built = modelpack("build-image", "--plain-http", "--modelcar", model, "-t", image, "--base", base)
    assert built.code == 0, built.err
    config = _config(image)
    assert config.get("created") == kept
    assert {h.get("created") for h in config["history"][1:]} == {kept or "1970-01-01T00:00:00Z"}
    labels = config["config"]["Labels"]
    assert labels.get("org.opencontainers.image.created") == kept
