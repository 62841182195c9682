"""A mirror that cannot be reached costs one connect timeout per command, not one per repository the command
opens nor one per thread: `report` (its model, then its signatures and tag list), `diff --remote` (two
versions) and `ls REPO --key` (each version's manifest and signatures, 8 at once) each waited out the black
hole's 3 s timeout two to eight times before (report 6 s, ls --key 24 s, against 3 s for a pull)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry
from test_mirrors import black_hole, make_model, mirrored, write_conf

__all__ = ["black_hole"]  # the fixture, used by name


@pytest.mark.parametrize("command", ["report", "diff", "ls"])
def test_a_black_hole_mirror_is_waited_for_once_per_command(
        fresh_registry: Callable[..., Registry], black_hole: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        command: str) -> None:
    origin = fresh_registry()
    repo = f"{origin.host}/team/m"
    for tag in ("1", "2", "3"):
        made = make_model(tmp_path / f"model-{tag}")
        assert modelpack("push", "--plain-http", str(made), f"{repo}:{tag}").code == 0
    assert modelpack("generate-key-pair", cwd=tmp_path, env={"COSIGN_PASSWORD": "pw"}).code == 0
    signed = modelpack("sign", "--plain-http", "--key", str(tmp_path / "cosign.key"), f"{repo}:1",
                       env={"COSIGN_PASSWORD": "pw"})
    assert signed.code == 0, signed.err
    write_conf(tmp_path, monkeypatch, mirrored(origin.host, black_hole))
    key = str(tmp_path / "cosign.pub")
    args = {"report": ("report", f"{repo}:1", "--key", key, "-o", str(tmp_path / "r.md")),
            "diff": ("diff", "--remote", f"{repo}:1", f"{repo}:2"),
            "ls": ("ls", repo, "--key", key)}[command]
    ran = modelpack(*args, "-v", "--plain-http")
    assert ran.code == 0, ran.err
    waited = [line for line in ran.err.splitlines() if black_hole in line and "unreachable" in line]
    assert len(waited) == 1, waited
