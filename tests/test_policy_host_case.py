"""A policy.json scope names a host whatever case the reference writes it in: `LocalHost:PORT` is the host DNS
finds for `localhost:PORT`, so a scope requiring a signature (here `reject`) there is not escaped by writing
the name another way and falling through to a default that accepts anything (containers/image compares case,
and skopeo lets it through). Against the real registry."""

from __future__ import annotations

import json
import os
from pathlib import Path

from helpers import modelpack
from registry_process import Registry

ACCEPT = [{"type": "insecureAcceptAnything"}]
REJECT = [{"type": "reject"}]


def test_a_scope_applies_to_its_host_written_in_any_case(registry: Registry, tmp_path: Path) -> None:
    port = registry.host.rsplit(":", 1)[1]
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(5_000))
    assert modelpack("push", "--plain-http", str(folder), f"localhost:{port}/team/m:1").code == 0
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": ACCEPT, "transports": {"docker": {f"localhost:{port}": REJECT}}}))
    for host in (f"localhost:{port}", f"LocalHost:{port}", f"LOCALHOST:{port}"):
        result = modelpack("pull", "--plain-http", "--signature-policy", str(policy), f"{host}/team/m:1",
                           "-o", str(tmp_path / host))
        assert result.code == 7, (host, result.err)
        assert f"is rejected by signature policy {policy} (scope 'localhost:{port}')" in result.err, result.err
        assert not (tmp_path / host).exists()
    # One host twice, in two cases: which scope applied would depend on the order of the keys.
    policy.write_text(json.dumps({"default": ACCEPT, "transports": {"docker": {
        f"localhost:{port}/team": REJECT, f"LOCALHOST:{port}/team": ACCEPT}}}))
    twice = modelpack("pull", "--plain-http", "--signature-policy", str(policy), f"localhost:{port}/team/m:1")
    assert twice.code == 2 and "name the same host (host names ignore case" in twice.err, twice.err
    assert len(twice.err.strip().splitlines()) == 1
