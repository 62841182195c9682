"""`k8s REPO:TAG@DIGEST` (as Renovate and `crane digest --full-ref` write references) pins the digest and
drops the tag, as Kubernetes pulls it; when the registry's tag names another digest, or none, the YAML
deployed something the tag did not say, in silence (`pull` warned; `k8s` did not). It now warns, for the
reference and the serving image, and writes the same YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import modelpack as mp
from helpers import modelpack
from registry_process import Registry
from test_image import push_base

pytestmark = pytest.mark.interop


def _two_images(registry: Registry) -> tuple[str, str, str]:
    """(repository, digest of :1, digest of :2): two serving images (tiny bases; k8s reads only configs)."""
    repo = registry.repo("serving")
    push_base(f"{repo}:1", ("amd64",))
    push_base(f"{repo}:2", ("arm64",))
    plain = mp.ClientOptions(plain_http=True)
    return repo, mp.resolve(f"{repo}:1", options=plain).digest, mp.resolve(f"{repo}:2", options=plain).digest


def test_a_tag_naming_another_digest_is_warned_and_the_digest_pinned(registry: Registry) -> None:
    repo, _one, two = _two_images(registry)
    run = modelpack("k8s", "--plain-http", f"{repo}:1@{two}")
    assert run.code == 0, run.err
    deployment = next(yaml.safe_load_all(run.out))
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"{repo}@{two}"
    assert run.err == (f"warning: tag 1 of {repo} names {_one} in the registry: the YAML pins {two}, "
                       "the digest given\n")


def test_a_tag_that_does_not_exist_is_warned_for_the_serving_image_too(registry: Registry, tmp_path: Path) -> None:
    repo, one, _ = _two_images(registry)
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.onnx").write_bytes(b"onnx" * 100)
    model_repo = registry.repo("model")
    pushed = mp.push(model, f"{model_repo}:1", options=mp.ClientOptions(plain_http=True)).descriptor.digest
    run = modelpack("k8s", "--plain-http", "--kind", "image-volume", f"{model_repo}:1@{pushed}",
                    "--serving-image", f"{repo}:nope@{one}")
    assert run.code == 0 and f"image: {repo}@{one}\n" in run.out, run.err
    assert (f"warning: tag nope of {repo} does not exist in the registry: the YAML pins {one}, the digest given"
            in run.err.splitlines())
    assert "tag 1 of" not in run.err  # the model's tag names its digest: nothing said of it


def test_agreeing_or_plain_references_say_nothing(registry: Registry) -> None:
    repo, one, _ = _two_images(registry)
    for ref in (f"{repo}:1@{one}", f"{repo}:1", f"{repo}@{one}"):
        run = modelpack("k8s", "--plain-http", ref)
        assert (run.code, run.err) == (0, ""), run.err
        assert f"image: {repo}@{one}\n" in run.out
