"""A host that is no registry (a port typed wrong: `modelpack ui`'s, which answers 404 with a page of its
own) was said to be none only by pull, inspect and a tag listing; push said "start upload of sha256:...:
not found (HTTP 404)" (exit 3), copy "manifest of ...: not found" (exit 3), login "registry HOST: not
found" (exit 3), verify the same, and `ls HOST` that the host "does not show its repository catalog" (exit
2). Each now says the one line pull says, exit 5: the registry client decides it for every request, once."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry

PW = {"COSIGN_PASSWORD": "pw"}


@pytest.mark.parametrize("command", ["push", "copy from it", "copy to it", "login", "verify", "ls HOST"])
def test_every_command_says_a_host_is_no_registry(registry: Registry, ui: Callable[..., str], tmp_path: Path,
                                                  command: str) -> None:
    host = ui([registry.host]).removeprefix("http://").rstrip("/")  # a web UI: 404 for /v2/ and the rest
    ref = f"{host}/team/iris:1"
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(2_000))
    real = registry.repo() + ":1"
    if command == "copy to it":
        assert modelpack("push", "--plain-http", str(folder), real).code == 0
    if command == "verify":
        assert modelpack("generate-key-pair", "-d", str(tmp_path), env=PW).code == 0
    args = {"push": ["push", str(folder), ref],
            "copy from it": ["copy", ref, real],
            "copy to it": ["copy", real, ref],
            "login": ["login", host, "-u", "someone", "--password-stdin"],
            "verify": ["verify", "--key", str(tmp_path / "cosign.pub"), ref],
            "ls HOST": ["ls", host]}[command]
    run = modelpack(args[0], "--plain-http", *args[1:], stdin="a-password\n")
    assert (run.code, run.out) == (5, ""), run.err
    assert run.err == f"error: {host} is not an OCI registry: GET /v2/ answered HTTP 404 (check the host and port)\n"
