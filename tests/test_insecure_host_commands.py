"""registries.conf's `insecure = true` for a whole host applies to the commands that talk to the host itself
(`ls HOST`, its catalog; `login HOST`), as it does to pulls and pushes: a plain-HTTP registry named insecure
there needed `--plain-http` for these two alone ("TLS handshake ... failed: it seems to speak plain HTTP"),
where podman's login honours the table."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry


@pytest.fixture
def insecure_host(fresh_registry: Callable[..., Registry], tmp_path: Path) -> Registry:
    reg = fresh_registry()
    conf = Path(os.environ["CONTAINERS_REGISTRIES_CONF"])
    conf.write_text(f'[[registry]]\nlocation = "{reg.host}"\ninsecure = true\n')
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"w" * 1000)
    # No --plain-http: the table's `insecure` is what lets every command below reach it.
    assert modelpack("push", str(model), f"{reg.host}/team/m:1", env={"MODELPACK_PLAIN_HTTP": ""}).code == 0
    return reg


def test_the_catalog_of_an_insecure_host_is_listed_without_plain_http(insecure_host: Registry) -> None:
    listed = modelpack("ls", insecure_host.host, "--json", env={"MODELPACK_PLAIN_HTTP": ""})
    assert listed.code == 0, listed.err
    assert json.loads(listed.out) == [{"repository": "team/m", "tags": 1}]


def test_login_to_an_insecure_host_checks_and_saves_without_plain_http(insecure_host: Registry) -> None:
    logged = modelpack("login", insecure_host.host, "-u", "alice", "--password-stdin", stdin="secret\n",
                       env={"MODELPACK_PLAIN_HTTP": ""})
    assert logged.code == 0, logged.err
    saved = json.loads((Path(os.environ["DOCKER_CONFIG"]) / "config.json").read_text())
    assert insecure_host.host in saved["auths"]


def test_a_table_for_one_namespace_leaves_the_host_itself_as_it_was(fresh_registry: Callable[..., Registry]) -> None:
    # Only the table naming the whole host speaks for its catalog: a namespace's `insecure` is that namespace's.
    reg = fresh_registry()
    Path(os.environ["CONTAINERS_REGISTRIES_CONF"]).write_text(
        f'[[registry]]\nlocation = "{reg.host}/team"\ninsecure = true\n')
    listed = modelpack("ls", reg.host, env={"MODELPACK_PLAIN_HTTP": ""})
    assert listed.code == 5 and "use --plain-http" in listed.err, listed.err


def test_a_host_name_registries_conf_rewrites_elsewhere_is_refused_for_login_and_ls_naming_where(
        fresh_registry: Callable[..., Registry]) -> None:
    # Its pulls go to the location, with the location's credentials: a login saved under the alias is never
    # used, and its catalog is not the alias's to list (before: 'cannot resolve host models.example.com').
    reg = fresh_registry()
    conf = Path(os.environ["CONTAINERS_REGISTRIES_CONF"])
    conf.write_text(f'[[registry]]\nprefix = "models.example.com"\nlocation = "{reg.host}/team"\ninsecure = true\n')
    for args in (("ls", "models.example.com"), ("login", "models.example.com", "-u", "alice", "--password-stdin")):
        refused = modelpack(*args, stdin="secret\n")
        assert refused.code == 2, refused.err
        assert refused.err.strip() == (f"error: models.example.com is a name {conf} rewrites to {reg.host}/team: its "
                                       f"repositories are read and written at {reg.host}; name {reg.host} instead")
    assert not (Path(os.environ["DOCKER_CONFIG"]) / "config.json").exists()
