"""A signed model copied under another name (a mirror, an air-gapped site's registry) keeps the signature's
`docker-reference`, the source's: a policy's matchRepository there refuses it, rightly. The refusal now says the
way out the README gives, the remapIdentity requirement (with both prefixes filled in) or signing the copy
again; before, it said only that the identity was not accepted. The suggested requirement is checked to work."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import modelpack
from registry_process import Registry
from test_signature_policy import push_model, write_policy

PW = {"COSIGN_PASSWORD": "pw"}


def test_a_copy_refused_for_its_source_identity_names_the_remap_that_accepts_it(registry: Registry,
                                                                                 tmp_path: Path) -> None:
    source, site = registry.repo("origin"), registry.repo("site")
    push_model(f"{source}:1", tmp_path, "model")
    assert modelpack("generate-key-pair", cwd=tmp_path, env=PW).code == 0
    key, public = str(tmp_path / "cosign.key"), str(tmp_path / "cosign.pub")
    signed = modelpack("sign", "--plain-http", "--signature-format", "simple-signing", "--key", key, f"{source}:1",
                       env=PW)
    assert signed.code == 0, signed.err
    copied = modelpack("copy", "--plain-http", f"{source}:1", f"{site}:1")
    assert copied.code == 0, copied.err

    def policy(identity: dict[str, str]) -> str:
        return str(write_policy(tmp_path, {"default": [{"type": "reject"}], "transports": {"docker": {site: [
            {"type": "sigstoreSigned", "keyPath": public, "signedIdentity": identity}]}}}))

    refused = modelpack("pull", "--plain-http", f"{site}:1", "-o", str(tmp_path / "refused"),
                        "--signature-policy", policy({"type": "matchRepository"}))
    assert refused.code == 7, refused.err
    remap = {"type": "remapIdentity", "prefix": site, "signedPrefix": source}
    assert f"signedIdentity {json.dumps(remap)}" in refused.err, refused.err
    assert f"or sign the copy as {site}:1" in refused.err
    assert not (tmp_path / "refused").exists()

    accepted = modelpack("pull", "--plain-http", f"{site}:1", "-o", str(tmp_path / "accepted"),
                         "--signature-policy", policy(remap))
    assert accepted.code == 0, accepted.err
