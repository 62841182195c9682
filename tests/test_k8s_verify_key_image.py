"""`k8s IMAGE --verify-key KEY` (a Deployment, or KServe's predictor container, of a serving image): the
key was ignored, and the YAML written (exit 0) for an image nobody signed. The image's signature is now
checked for exactly the digest written, as `--kind image-volume` checks the artifact's: nothing is
written unless it verifies (exit 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import modelpack
from images import GOOD_CONFIG, push_image
from registry_process import Registry
from test_serve_trust import assert_one_line, keypair, sign


@pytest.mark.parametrize("kind", ["deployment", "kserve"])
def test_a_key_given_for_a_serving_image_is_checked(registry: Registry, tmp_path: Path, kind: str) -> None:
    image = registry.repo("serve") + ":1"
    # Its entrypoint `modelpack serve`, as build-image writes it: KServe runs it as the predictor's container.
    push_image(image, {**GOOD_CONFIG, "config": {"Entrypoint": ["modelpack", "serve"], "Cmd": ["/models"]}})
    ours, ours_public = keypair(tmp_path, "ours")

    unsigned = modelpack("k8s", "--plain-http", "--kind", kind, image, "--verify-key", str(ours_public))
    assert_one_line(unsigned.err, 7, unsigned.code, "no valid signature", "no signatures found")
    assert unsigned.out == ""

    sign(image, ours)
    signed = modelpack("k8s", "--plain-http", "--kind", kind, image, "--verify-key", str(ours_public))
    assert signed.code == 0 and signed.out.startswith("apiVersion: "), signed.err
    without = modelpack("k8s", "--plain-http", "--kind", kind, image)  # no key: as before
    assert without.code == 0, without.err
