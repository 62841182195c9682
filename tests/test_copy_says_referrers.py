"""`copy` and `push REF` say the signatures and attestations they carried: copying a signed OCI layout to a
registry (the README's offline signing) printed only `0 blobs (0 B), 2 already present` when the model was
there, and nothing of the signature it had come to carry."""

from __future__ import annotations

import json
import os
from pathlib import Path

from helpers import modelpack
from registry_process import Registry

PW = {"COSIGN_PASSWORD": "pw"}


def test_copy_and_push_say_the_referrers_they_carried(registry: Registry, tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.safetensors").write_bytes(os.urandom(3000))
    assert modelpack("generate-key-pair", "-d", str(tmp_path), env=PW).code == 0
    layout = f"oci:{tmp_path / 'layout'}:1"
    ref = registry.repo() + ":1"
    assert modelpack("push", str(model), layout).code == 0
    signed = modelpack("sign", "--key", str(tmp_path / "cosign.key"), layout, env=PW)
    assert signed.code == 0, signed.err

    run = modelpack("copy", "--plain-http", layout, ref)
    assert run.code == 0, run.err
    # The cosign bundle and the OpenSSF model-signing referrer `sign` attaches for a model of files.
    assert run.err.splitlines()[1:] == ["carried 2 referrers of the model (its signatures and attestations)"]
    assert run.err.splitlines()[0].startswith(f"copied {ref}: ")
    verified = modelpack("verify", "--plain-http", "--key", str(tmp_path / "cosign.pub"), ref)
    assert verified.code == 0, verified.err

    assert json.loads(modelpack("copy", "--plain-http", "--json", layout, ref).out)["referrers"] == 2
    bare = modelpack("copy", "--plain-http", "--no-referrers", layout, registry.repo("bare") + ":1")
    assert bare.code == 0 and "referrer" not in bare.err, bare.err

    assert modelpack("copy", "--plain-http", "--to-local", ref, ref).code == 0
    pushed = modelpack("push", "--plain-http", ref)  # from the local store, its signatures along
    assert pushed.code == 0, pushed.err
    assert "carried 2 referrers of the model (its signatures and attestations)" in pushed.err
