"""A reference to a host that is no registry (a port typed wrong: `modelpack ui`'s or `serve`'s, which
answer 404 with a body of their own) was "not found" (exit 3), with advice to list the repositories or
versions it never had. It is now said to be no OCI registry (exit 5), after one `GET /v2/`; a registry's
own 404 (MANIFEST_UNKNOWN, NAME_UNKNOWN) stays "not found", with no request more."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from helpers import modelpack
from registry_process import Registry


@pytest.mark.parametrize("command", [["pull"], ["inspect", "--remote"], ["ls"]])
def test_a_host_that_is_no_registry_is_said_to_be_none(registry: Registry, ui: Callable[..., str],
                                                       command: list[str]) -> None:
    host = ui([registry.host]).removeprefix("http://").rstrip("/")  # a web UI: 404 for /v2/ and the rest
    ref = f"{host}/team/iris" + ("" if command == ["ls"] else ":1")
    run = modelpack(*command, "--plain-http", ref)
    assert (run.code, run.out) == (5, ""), run.err
    assert run.err == f"error: {host} is not an OCI registry: GET /v2/ answered HTTP 404 (check the host and port)\n"


def test_a_registrys_own_not_found_stays_not_found(registry: Registry) -> None:
    repo = registry.repo()
    missing = modelpack("pull", "--plain-http", repo + ":nope")  # (a repository with nothing in it: said so)
    assert missing.code == 3 and f"repository {repo.split('/', 1)[1]} not found on" in missing.err, missing.err
    assert "not an OCI registry" not in missing.err
    listed = modelpack("ls", "--plain-http", registry.repo())
    assert listed.code == 3 and "not found on" in listed.err, listed.err
