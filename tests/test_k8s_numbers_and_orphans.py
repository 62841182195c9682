"""`k8s` refuses a replica count no Kubernetes object holds, and deploys a modelcar whose model artifact was
deleted since it was built (the modelcar holds the files) once told the framework it can no longer read.
Against the real registry."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import modelpack as mp
from helpers import modelpack
from modelpack.errors import UsageError
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_image import push_base

PLAIN = ClientOptions(plain_http=True)


@pytest.mark.parametrize("replicas", ["2147483648", "99999999999"])
def test_k8s_refuses_replicas_past_int32(replicas: str) -> None:
    run = modelpack("k8s", "--plain-http", "localhost:1/team/serve:1", "--replicas", replicas)
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err == (f"error: --replicas {replicas}: give 0 to 2147483647 (Kubernetes holds replicas as a 32-bit "
                       "number)\n")


def test_k8s_refuses_trusting_a_pickle_where_nothing_would_be_trusted() -> None:
    # A Deployment runs a serving image: its pickle was build-image's to trust, and the flag did nothing here.
    run = modelpack("k8s", "--plain-http", "localhost:1/team/serve:1", "--trust-unverified-pickle")
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err == ("error: --trust-unverified-pickle applies to --kind image-volume and --kind kserve only (a "
                       "Deployment runs a serving image: trusting a pickle was for build-image to decide)\n")
    with pytest.raises(UsageError, match=r"trust_unverified_pickle applies to kind='image-volume'"):
        mp.kubernetes("localhost:1/team/serve:1", trust_unverified_pickle=True, options=PLAIN)


def test_a_modelcar_whose_model_was_deleted_names_the_model_and_the_fix(registry: Registry, tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.onnx").write_bytes(b"\x08\x07" + b"\0" * 100)
    (model / "modelpack.yaml").write_text("name: gone\nframework: onnx\n")
    ref = registry.repo("gone") + ":1"
    digest = mp.push(model, ref, options=PLAIN).descriptor.digest
    base = registry.repo("base") + ":1"
    push_base(base, ("amd64",))
    car = registry.repo("car") + ":1"
    built = modelpack("build-image", "--plain-http", "--modelcar", ref, "-t", car, "--base", base)
    assert built.code == 0, built.err
    mp.remove_remote(ref, options=PLAIN)
    refused = modelpack("k8s", "--plain-http", "--kind", "kserve", car)
    assert (refused.code, refused.out) == (2, ""), refused.err
    assert refused.err == (f"error: {car} was built from {ref.rsplit(':', 1)[0]}@{digest}, which is no longer in its "
                           "registry, so its framework cannot be read; pass --model-format NAME (e.g. sklearn, onnx) "
                           "for KServe's modelFormat\n")
    told = modelpack("k8s", "--plain-http", "--kind", "kserve", car, "--model-format", "onnx")
    assert told.code == 0, told.err
    predictor = yaml.safe_load(told.out)["spec"]["predictor"]["model"]
    assert predictor["modelFormat"]["name"] == "onnx" and predictor["storageUri"].startswith(f"oci://{car[:-2]}@")
