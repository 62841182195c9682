"""A platform engineer's registry needs a login (`modelpack login`); the kubelet that pulls the serving
image, the modelcar or the image volume needs one too, from a Secret the pod names in `imagePullSecrets`.
`k8s` wrote none and had no way to: every pod of a private registry failed with ImagePullBackOff until the
YAML was edited by hand. `--image-pull-secret NAME` (repeatable) writes them, in the pod spec (Deployment,
image-volume) or the KServe predictor (a PodSpec there)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from helpers import modelpack
from modelpack.image import k8s
from registry_process import Registry
from test_image import model_ref as model_ref
from test_k8s import _build, _check_kserve

pytestmark = pytest.mark.interop
SECRETS = ("--image-pull-secret", "regcred", "--image-pull-secret", "team.pull-creds", "--image-pull-secret", "regcred")
WRITTEN = [{"name": "regcred"}, {"name": "team.pull-creds"}]  # in the order given, once each


def _pod(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]


def test_each_kind_names_the_secrets_where_the_kubelet_reads_them(registry: Registry,
                                                                   model_ref: tuple[str, str]) -> None:
    ref, _ = model_ref
    serving = _build(registry, ref, "serve", "--no-serving-layer", "--trust-unverified-pickle")[0]
    modelcar = _build(registry, ref, "car", "--modelcar", "--trust-unverified-pickle")[0]

    deployment, _service = yaml.safe_load_all(modelpack("k8s", "--plain-http", serving, *SECRETS).out)
    assert _pod(deployment)["imagePullSecrets"] == WRITTEN

    volume = modelpack("k8s", "--plain-http", "--kind", "image-volume", ref, "--serving-image", serving,
                       "--trust-unverified-pickle", *SECRETS)
    assert volume.code == 0, volume.err
    pod = _pod(next(yaml.safe_load_all(volume.out)))
    assert pod["imagePullSecrets"] == WRITTEN and pod["volumes"][0]["image"]["reference"].startswith(ref.split(":3")[0])

    for image, extra in ((serving, ()), (modelcar, ("--model-format", "sklearn", "--trust-unverified-pickle"))):
        run = modelpack("k8s", "--plain-http", "--kind", "kserve", image, *extra, *SECRETS)
        assert run.code == 0, run.err
        predictor = _check_kserve(yaml.safe_load(run.out), k8s.name_for(image.rsplit(":", 1)[0]), None)
        assert predictor["imagePullSecrets"] == WRITTEN


def test_without_the_option_nothing_is_written(registry: Registry, model_ref: tuple[str, str]) -> None:
    serving = _build(registry, model_ref[0], "serve", "--no-serving-layer", "--trust-unverified-pickle")[0]
    run = modelpack("k8s", "--plain-http", serving)
    assert run.code == 0 and "imagePullSecrets" not in run.out, run.err


@pytest.mark.parametrize("name", ["RegCred", "reg_cred", "-regcred", "a" * 254, ""])
def test_a_name_no_secret_can_have_is_refused_before_the_registry_is_asked(name: str) -> None:
    run = modelpack("k8s", "--plain-http", "127.0.0.1:9/nothing/here:1", "--image-pull-secret", name)
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err == (f"error: --image-pull-secret {name!r} is not a Secret's name (a DNS-1123 subdomain: "
                       "lower-case letters, digits, '-' and '.', at most 253)\n")


def test_in_python_one_name_may_be_a_string() -> None:
    import modelpack as mp
    from modelpack.errors import UsageError

    with pytest.raises(UsageError) as caught:
        mp.kubernetes("127.0.0.1:9/nothing/here:1", image_pull_secrets="Bad")
    assert str(caught.value).startswith("image_pull_secrets=['Bad'] is not a Secret's name")
