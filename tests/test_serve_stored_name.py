"""`serve NAME` of a model the local store holds under a bare name (`pack -t iris:1.0`, no registry): served
from the store, trusted as a reference is (a pickle needs a verified signature or the flag); a name that is
also a directory here is refused in one line saying how to write either."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import modelpack as mp
from helpers import modelpack
from serve_models import iris_skops
from serving import call


def test_a_model_stored_under_a_bare_name_is_served(tmp_path: Path, serving: Callable[..., str]) -> None:
    folder, model = iris_skops(tmp_path / "src")
    digest = mp.pack(folder, "iris:1.0").descriptor.digest
    base = serving("iris:1.0")
    status, meta = call(f"{base}/v2/models/iris")
    assert status == 200 and meta["versions"] == ["1.0"] and meta["parameters"]["digest"] == digest
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
    status, result = call(f"{base}/v2/models/iris/infer", {"inputs": [
        {"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": np.array(rows).reshape(-1).tolist()}]})
    assert status == 200
    assert {o["name"]: o for o in result["outputs"]}["predict"]["data"] == model.predict(np.array(rows)).tolist()
    from modelpack.api.serving import pin_served  # `serve --workers` pins it the same way

    assert pin_served("iris:1.0") == f"iris:1.0@{digest}"


def test_a_stored_pickle_needs_the_flag_as_from_a_registry(tmp_path: Path, serving: Callable[..., str]) -> None:
    folder = tmp_path / "pk"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(pickle.dumps({"not": "a model"}))
    (folder / "modelpack.yaml").write_text("name: pk\n")
    mp.pack(folder, "pk:1")  # a bare name may be a tag of a model pulled from anywhere: not the user's folder
    with pytest.raises(mp.ModelpackError, match="a pickle runs code when loaded"):
        serving("pk:1")
    refused = modelpack("serve", "pk:1", "--port", "0")
    assert refused.code == 2 and refused.err.count("\n") == 1 and "--trust-unverified-pickle" in refused.err


def test_a_name_that_is_also_a_directory_is_refused_in_one_line(tmp_path: Path) -> None:
    folder, _ = iris_skops(tmp_path / "iris")
    mp.pack(folder, "iris")
    made = modelpack("serve", "iris", "--port", "0", cwd=tmp_path)
    assert (made.code, made.out) == (2, "")
    assert made.err == ("error: iris is both a directory here and the model iris:latest in the local store; write "
                        "./iris to serve the directory, or iris:latest for the stored model\n")


def test_a_signature_policy_named_is_met_or_refuses_a_stored_model_never_ignored(
        tmp_path: Path, serving: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from modelpack.api.serving import pin_served
    from modelpack.errors import UsageError, VerificationError

    folder, _ = iris_skops(tmp_path / "src")
    mp.pack(folder, "iris:1.0")
    policies = {}
    for name, default in (("reject", [{"type": "reject"}]), ("accept", [{"type": "insecureAcceptAnything"}]),
                          ("signed", [{"type": "sigstoreSigned", "keyPath": str(tmp_path / "k.pub")}])):
        policies[name] = tmp_path / f"{name}.json"
        policies[name].write_text(json.dumps({"default": default}))
    # What no docker scope names is judged by the default: rejected, or a signature required that is read from
    # a registry only; refused before anything is served, as a reference refused by the policy is (exit 7).
    for name, words in (("reject", "is rejected by signature policy"), ("signed", "requires a signature")):
        with pytest.raises(VerificationError, match=words):
            serving("iris:1.0", signature_policy=policies[name])
        with pytest.raises(VerificationError, match=words):
            pin_served("iris:1.0", signature_policy=policies[name])  # `serve --workers`: before any worker
        refused = modelpack("serve", "iris:1.0", "--port", "0", "--workers", "2", "--signature-policy",
                            str(policies[name]), timeout=60)
        assert refused.code == 7 and refused.err.count("\n") == 1 and words in refused.err, refused.err
    monkeypatch.setenv("MODELPACK_SIGNATURE_POLICY", str(policies["reject"]))  # named by the environment too
    with pytest.raises(VerificationError, match="is rejected by signature policy"):
        serving("iris:1.0")
    monkeypatch.delenv("MODELPACK_SIGNATURE_POLICY")
    status, _ = call(f"{serving('iris:1.0', signature_policy=policies['accept'])}/v2/models/iris")
    assert status == 200

    # A directory is served as the user chose it: a policy named for it is refused, as --verify-key is.
    for kwargs in ({"signature_policy": policies["accept"]}, {"verify_key": tmp_path / "k.pub"}):
        with pytest.raises(UsageError, match="a directory is served as it is"):
            serving(Path(folder), **kwargs)
    refused = modelpack("serve", str(folder), "--port", "0", "--signature-policy", str(policies["accept"]))
    assert refused.code == 2 and refused.err.count("\n") == 1 and "modelpack pull REF --signature-policy FILE -o DIR" \
        in refused.err, refused.err
