"""A host blocked (or a policy scope) as `127.0.0.1` holds for every way the resolver takes that address:
`127.1`, `2130706433`, `0x7f.0.0.1`, `0177.0.0.1` and `[::ffff:127.0.0.1]` all connect to the real
registry listening there, so matching them by name let each one through. And a port out of range is a usage
error naming it, not a connection failure. Against the real registry."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry

SPELLINGS = ("127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "[::ffff:127.0.0.1]")


def pushed(registry: Registry, tmp_path: Path) -> str:
    """The registry's port, with a model pushed to team/m:1 there (each spelling would pull it)."""
    port = registry.host.rsplit(":", 1)[1]
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(5_000))
    result = modelpack("push", "--plain-http", str(folder), f"127.0.0.1:{port}/team/m:1")
    assert result.code == 0, result.err
    return port


def test_a_blocked_address_holds_however_it_is_written(registry: Registry, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    port = pushed(registry, tmp_path)
    conf = tmp_path / "registries.conf"
    conf.write_text('[[registry]]\nlocation = "127.0.0.1"\nblocked = true\n')
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    for spelling in SPELLINGS:
        result = modelpack("pull", "--plain-http", f"{spelling}:{port}/team/m:1", "-o", str(tmp_path / "out"))
        assert result.code == 2, (spelling, result.err)
        assert "blocked = true): nothing was sent" in result.err, (spelling, result.err)
        assert not (tmp_path / "out").exists()
    # A table written as another spelling of the address blocks the usual one too.
    conf.write_text(f'[[registry]]\nlocation = "0x7f.1:{port}/team"\nblocked = true\n')
    result = modelpack("pull", "--plain-http", f"127.0.0.1:{port}/team/m:1", "-o", str(tmp_path / "out"))
    assert result.code == 2 and "blocked = true): nothing was sent" in result.err, result.err
    # Another address and other repositories still go through.
    other = modelpack("pull", "--plain-http", f"127.0.0.1:{port}/team2/m:1", "-o", str(tmp_path / "out"))
    assert other.code == 3, other.err


def test_a_policy_scope_of_an_address_holds_however_it_is_written(registry: Registry, tmp_path: Path) -> None:
    port = pushed(registry, tmp_path)
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}],
                                  "transports": {"docker": {f"127.0.0.1:{port}": [{"type": "reject"}]}}}))
    for spelling in SPELLINGS:
        result = modelpack("pull", "--plain-http", "--signature-policy", str(policy), f"{spelling}:{port}/team/m:1",
                           "-o", str(tmp_path / "out"))
        assert result.code == 7, (spelling, result.err)
        assert f"(scope '127.0.0.1:{port}')" in result.err, result.err
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("port", ["0", "65536", "99999"])
def test_a_port_out_of_range_is_a_usage_error_naming_it(port: str) -> None:
    result = modelpack("pull", f"127.0.0.1:{port}/team/m:1", "--timeout", "3")
    assert result.code == 2, result.err
    assert result.err.strip() == (f"error: invalid reference '127.0.0.1:{port}/team/m:1': port {port} is out of "
                                  "range (1 to 65535)")
