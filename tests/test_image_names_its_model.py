"""`pull`, `pull -o` and `serve` of a modelcar or serving image refuse it (it is no model), and said to make
images with `build-image` and read them with `crane export`: for an image build-image made, the user had
the image's reference where the model's belonged (both are in the same registry, one `-car` apart). The
line now names the model build-image recorded on it, pinned by digest, as diff, sbom and report do."""

from __future__ import annotations

import pytest

from helpers import modelpack
from registry_process import Registry
from test_image import model_ref as model_ref
from test_k8s import _build

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("modelcar", [True, False])
def test_an_image_build_image_made_names_its_model(registry: Registry, model_ref: tuple[str, str],
                                                   tmp_path: object, modelcar: bool) -> None:
    ref, digest = model_ref
    image, _ = _build(registry, ref, "car" if modelcar else "serve", "--trust-unverified-pickle",
                      *(("--modelcar",) if modelcar else ("--no-serving-layer",)))
    model = f"{ref.rsplit(':', 1)[0]}@{digest}"
    for command in (("pull",), ("pull", "-o", f"{tmp_path}/out"), ("serve", "--port", "0")):
        run = modelpack(*command, image, "--plain-http")
        assert (run.code, run.out) == (2, ""), run.err
        assert run.err.count("\n") == 1, run.err
        assert run.err.endswith(f"not a model; nothing was downloaded or written; build-image made it from {model}: "
                                "name that model instead\n"), run.err
