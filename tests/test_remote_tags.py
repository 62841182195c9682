"""Tags in a registry: removing an alias never takes other tags with it, bare tags as targets, and
`ls HOST` lists the registry's repositories."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import modelpack as mp
from faulty_server import FaultyServer
from helpers import Run, modelpack
from modelpack.errors import RegistryError
from modelpack.store.options import ClientOptions
from registry_process import Registry
from tiny_registry import TinyRegistry

PLAIN = ClientOptions(plain_http=True)


def _push(ref: str, tmp_path: Path) -> str:
    model = tmp_path / ref.replace("/", "_").replace(":", "_")
    model.mkdir()
    (model / "w.safetensors").write_bytes(os.urandom(500))
    return mp.push(model, ref, options=PLAIN).descriptor.digest


def _resolves(ref: str) -> bool:
    return modelpack("resolve", "--plain-http", ref).code == 0


def _one_line_error(result: object, code: int, *fragments: str) -> None:
    err = result.err  # type: ignore[attr-defined]
    assert result.code == code, err  # type: ignore[attr-defined]
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err


def test_removing_an_alias_keeps_the_other_tags(registry: Registry, tmp_path: Path) -> None:
    repo = registry.repo()
    _push(f"{repo}:1.0.0", tmp_path)
    _push(f"{repo}:1.1.0", tmp_path)
    assert modelpack("tag", "--remote", "--plain-http", f"{repo}:1.1.0", f"{repo}:champion").code == 0
    # Distribution 2.8 cannot delete a tag alone: deleting the manifest would take 1.1.0 too.
    refused = modelpack("rm", "--remote", "--plain-http", f"{repo}:champion")
    digest = mp.resolve(f"{repo}:1.1.0", options=PLAIN).digest
    # Every way on is named: the version with all its tags, by its digest, or the tag moved elsewhere.
    _one_line_error(refused, 2, "1.1.0", "--all-tags", f"`modelpack rm --remote {repo}@{digest}`",
                    "`modelpack tag --remote OTHER champion`")
    assert _resolves(f"{repo}:1.1.0") and _resolves(f"{repo}:champion")
    # --all-tags with no terminal to ask: --yes is needed.
    _one_line_error(modelpack("rm", "--remote", "--plain-http", "--all-tags", f"{repo}:champion"), 2, "--yes")
    assert _resolves(f"{repo}:1.1.0")
    done = modelpack("rm", "--remote", "--plain-http", "--all-tags", "--yes", f"{repo}:champion")
    assert done.code == 0, done.err
    assert "1.1.0" in done.out and "champion" in done.out
    assert not _resolves(f"{repo}:1.1.0") and not _resolves(f"{repo}:champion")
    # The only tag on a version: deleted without ceremony.
    assert modelpack("rm", "--remote", "--plain-http", f"{repo}:1.0.0").code == 0
    assert not _resolves(f"{repo}:1.0.0")


def test_a_registry_that_deletes_nothing_names_the_setting_not_all_tags(fresh_registry: Callable[..., Registry],
                                                                       tmp_path: Path) -> None:
    # Distribution's default: storage.delete.enabled false; every DELETE is 405 UNSUPPORTED.
    repo = fresh_registry(delete=False).repo()
    _push(f"{repo}:1.0", tmp_path)
    assert modelpack("tag", "--remote", "--plain-http", f"{repo}:1.0", "latest").code == 0
    for args in ([f"{repo}:1.0"], ["--all-tags", "--yes", f"{repo}:latest"]):
        refused = modelpack("rm", "--remote", "--plain-http", *args)
        _one_line_error(refused, 1, "does not allow deleting manifests (it answered 405 UNSUPPORTED)",
                        "storage.delete.enabled: true", "REGISTRY_STORAGE_DELETE_ENABLED=true")
        assert "--all-tags" not in refused.err  # it would fail the same way
    assert _resolves(f"{repo}:1.0") and _resolves(f"{repo}:latest")


def test_removing_by_digest_names_the_tags_that_go(registry: Registry, tmp_path: Path) -> None:
    repo = registry.repo()
    digest = _push(f"{repo}:1.2.0", tmp_path)
    assert modelpack("tag", "--remote", "--plain-http", f"{repo}:1.2.0", f"{repo}:latest").code == 0
    _one_line_error(modelpack("rm", "--remote", "--plain-http", f"{repo}@{digest}"), 2, "1.2.0", "latest", "--yes")
    assert _resolves(f"{repo}:1.2.0")
    done = modelpack("rm", "--remote", "--plain-http", "--yes", f"{repo}@{digest}")
    assert done.code == 0, done.err
    assert digest in done.out and "1.2.0" in done.out and "latest" in done.out
    assert not _resolves(f"{repo}:1.2.0")


def test_a_registry_that_deletes_tags_gets_an_untag() -> None:
    with TinyRegistry() as tiny:
        digest = tiny.add("team/iris", "1.1.0", "champion")
        result = modelpack("rm", "--remote", "--plain-http", f"{tiny.host}/team/iris:champion")
        assert result.code == 0, result.err
        assert "untagged" in result.out
        assert tiny.tags == {("team/iris", "1.1.0"): digest}
        assert "DELETE /v2/team/iris/manifests/champion" in tiny.requests
        assert not [r for r in tiny.requests if r.startswith("DELETE") and digest in r]


def test_tag_takes_bare_tags_and_several(registry: Registry, tmp_path: Path) -> None:
    repo = registry.repo()
    digest = _push(f"{repo}:1.1.0", tmp_path)
    result = modelpack("tag", "--remote", "--plain-http", f"{repo}:1.1.0", "champion", "prod")
    assert result.code == 0, result.err
    for tag in ("champion", "prod"):
        assert modelpack("resolve", "--plain-http", f"{repo}:{tag}").out.strip() == digest


def test_ls_host_lists_repositories(fresh_registry: Callable[..., Registry], tmp_path: Path) -> None:
    reg = fresh_registry()
    _push(f"{reg.host}/team/iris:1", tmp_path)
    assert modelpack("tag", "--remote", "--plain-http", f"{reg.host}/team/iris:1", "2").code == 0
    _push(f"{reg.host}/team/wine:1", tmp_path)
    listed = modelpack("ls", "--plain-http", "--json", reg.host)
    assert listed.code == 0, listed.err
    assert json.loads(listed.out) == [{"repository": "team/iris", "tags": 2}, {"repository": "team/wine", "tags": 1}]
    table = modelpack("ls", "--plain-http", reg.host)
    assert table.code == 0 and "team/iris" in table.out and "team/wine" in table.out
    # Pages are followed.
    assert [r.repository for r in mp.list_repositories(reg.host, page_size=1, options=PLAIN)] == [
        "team/iris", "team/wine"]


def test_ls_host_refuses_a_looping_catalog() -> None:
    with TinyRegistry(looping_catalog=True) as tiny:
        tiny.add("team/iris", "1")
        with pytest.raises(RegistryError, match="loop"):
            mp.list_repositories(tiny.host, options=PLAIN)
        assert len(tiny.requests) <= 3


@pytest.mark.parametrize("status", [401, 403, 404])
def test_ls_host_without_a_catalog_leads_with_the_fix_that_applies(status: int) -> None:
    # Refused anonymously: a newcomer is told to log in first (exit 4, authentication); no catalog at all:
    # to name a repository (exit 2). (A registry: its `GET /v2/` answers; tests/test_not_a_registry*.py
    # have hosts that are none.)
    with FaultyServer(status, v2=200 if status == 404 else None) as server:
        result = modelpack("ls", "--plain-http", server.host)
        _one_line_error(result, 4 if status in (401, 403) else 2, "catalog", f"{server.host}/")
        fix = "run `modelpack login" if status in (401, 403) else "name a repository instead"
        assert fix in result.err.split("(")[0], result.err  # the fix, not a parenthesised aside


def test_names_a_registry_sends_are_checked_before_use() -> None:
    # Repository and tag names are the registry's to send: ones outside the distribution grammar (here
    # terminal escapes, a path) are neither printed nor put into a request.
    with TinyRegistry(deletes_tags=False) as tiny:
        tiny.add("team/iris", "1.1.0", "champion", "\x1b[2J", "..%2f..%2fx")
        tiny.add("\x1b]0;owned\x07", "1")
        listed = modelpack("ls", "--plain-http", "--json", tiny.host)
        assert listed.code == 0, listed.err
        assert [r["repository"] for r in json.loads(listed.out)] == ["team/iris"]
        refused = modelpack("rm", "--remote", "--plain-http", f"{tiny.host}/team/iris:champion")
        warning, _, error = refused.err.partition("\n")  # the names left out are said once, escaped
        assert warning == "warning: " + tiny.host + "/team/iris lists 2 name(s) that are not valid tags; left out"
        _one_line_error(Run(refused.code, refused.out, error), 2, "tag(s) 1.1.0 of")
        assert not [r for r in tiny.requests if "\x1b" in r or "%2f" in r]


def test_local_tag_takes_a_bare_tag(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.safetensors").write_bytes(b"w")
    assert modelpack("pack", str(model), "-t", "localhost:5000/team/iris:1").code == 0
    assert modelpack("tag", "localhost:5000/team/iris:1", "champion").code == 0
    refs = {m["reference"] for m in json.loads(modelpack("list", "--json").out)}
    assert refs == {"localhost:5000/team/iris:1", "localhost:5000/team/iris:champion"}


@pytest.mark.parametrize("answer", ["n", "y"])
def test_rm_asks_on_a_terminal(registry: Registry, tmp_path: Path, answer: str) -> None:
    import pty
    import subprocess
    import sys

    repo = registry.repo()
    digest = _push(f"{repo}:1.0.0", tmp_path)
    assert modelpack("tag", "--remote", "--plain-http", f"{repo}:1.0.0", "champion").code == 0
    primary, secondary = pty.openpty()
    os.write(primary, f"{answer}\n".encode())
    proc = subprocess.run([sys.executable, "-m", "modelpack", "rm", "--remote", "--plain-http", "--all-tags",
                           f"{repo}:champion"], stdin=secondary, capture_output=True, text=True, timeout=60)
    os.close(primary)
    os.close(secondary)
    assert "1.0.0" in proc.stdout + proc.stderr and digest in proc.stdout + proc.stderr  # the prompt names them
    assert (proc.returncode == 0) == (answer == "y"), proc.stderr
    assert _resolves(f"{repo}:1.0.0") == (answer == "n")


def test_leaving_the_rm_prompt_says_so_on_a_line_of_its_own(registry: Registry, tmp_path: Path) -> None:
    # Ctrl-C and Ctrl-D at the prompt both end in click's Abort, whose one line used to follow the prompt
    # on its line. Ctrl-D here: a SIGINT may be handled by another thread than the one blocked reading
    # the terminal, which then reads on (not what this test is about).
    import pty
    import subprocess
    import sys

    repo = registry.repo()
    _push(f"{repo}:1.0.0", tmp_path)
    assert modelpack("tag", "--remote", "--plain-http", f"{repo}:1.0.0", "champion").code == 0
    primary, secondary = pty.openpty()
    # Output and errors in one stream, as a terminal shows them.
    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "rm", "--remote", "--plain-http", "--all-tags",
                             f"{repo}:champion"], stdin=secondary, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    shown = b""
    while b"[y/N]" not in shown and (byte := proc.stdout.read(1)):
        shown += byte
    os.write(primary, b"\x04")  # Ctrl-D: end of input
    shown += proc.stdout.read()
    assert proc.wait(timeout=60) == 130
    os.close(primary)
    os.close(secondary)
    lines = shown.decode().splitlines()
    assert "[y/N]" in lines[-2] and lines[-1] == "error: interrupted", shown
    assert _resolves(f"{repo}:1.0.0")
