"""A signature policy's refusal (or a policy file that cannot be used) ends with what the refused command did
not do, in its own words: `pull` nothing was pulled, `serve` nothing was served, `k8s` no YAML was written,
`build-image` no image was built (they all said "nothing was pulled")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry


def _policy(tmp_path: Path, body: object) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(body))
    return path


@pytest.mark.parametrize(("command", "undone"), [
    (("pull",), "nothing was pulled"),
    (("serve", "--port", "0"), "nothing was served"),
    (("k8s", "--kind", "image-volume", "--serving-image", "127.0.0.1:1/team/serve:1"), "no YAML was written"),
    (("build-image", "-t", "oci:{tmp}/image:1"), "no image was built"),
])
def test_each_command_says_what_it_did_not_do(registry: Registry, tmp_path: Path, command: tuple[str, ...],
                                              undone: str) -> None:
    ref = registry.repo() + ":1"
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in command]
    rejecting = _policy(tmp_path, {"default": [{"type": "reject"}]})
    run = modelpack(*args, "--plain-http", "--signature-policy", str(rejecting), ref)
    assert run.code == 7, run.err
    assert run.err == f"error: {ref} is rejected by signature policy {rejecting} (scope 'default'); {undone}\n"
    broken = _policy(tmp_path, {"default": [{"type": "reject"}], "extra": 1})
    run = modelpack(*args, "--plain-http", "--signature-policy", str(broken), ref)
    assert run.code == 2, run.err
    assert run.err.startswith(f"error: signature policy {broken} is invalid: "), run.err
    assert run.err.endswith(f"; {undone}; fix it (see containers-policy.json(5))\n"), run.err
    assert "nothing was pulled" not in run.err or undone == "nothing was pulled"
    assert not (tmp_path / "image").exists()


def test_a_stored_model_refused_for_serving_says_nothing_was_served(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.onnx").write_bytes(b"\0" * 64)
    assert modelpack("pack", str(model), "-t", "iris:1.0").code == 0
    rejecting = _policy(tmp_path, {"default": [{"type": "reject"}]})
    run = modelpack("serve", "--port", "0", "--signature-policy", str(rejecting), "iris:1.0")
    assert run.code == 7, run.err
    assert run.err.endswith(f"is rejected by signature policy {rejecting} (scope default); nothing was served\n"), \
        run.err
