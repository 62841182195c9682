"""registries.conf's `credential-helpers`, through the real CLI against real registries with htpasswd auth
and real helper programs on PATH speaking docker's credential-helper protocol: the list is followed in
order, a helper that is missing, hangs, floods or answers garbage costs one line and the next is tried,
only the listed sources are read, `login`/`logout` go where the list says, and a helper's answer for one
host never reaches another."""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import htpasswd_file, modelpack
from registry_process import Registry

USER, PASSWORD = "helper-user", "Helper-Pa55-9z"

# A helper keeping credentials in a JSON file next to it ({server: [user, secret]}), logging each call.
GOOD = f'''#!{sys.executable}
import json, pathlib, sys
here = pathlib.Path(__file__).parent
store, log = here / "store.json", here / "calls.log"
kept = json.loads(store.read_text()) if store.exists() else {{}}
data = sys.stdin.read()
action = sys.argv[1]
with log.open("a") as f:
    f.write(f"{{action}} {{data if action != 'store' else json.loads(data)['ServerURL']}}\\n")
if action == "get":
    if data not in kept:
        print("credentials not found in native keychain")
        sys.exit(1)
    print(json.dumps({{"ServerURL": data, "Username": kept[data][0], "Secret": kept[data][1]}}))
elif action == "store":
    sent = json.loads(data)
    kept[sent["ServerURL"]] = [sent["Username"], sent["Secret"]]
    store.write_text(json.dumps(kept))
elif action == "erase":
    if kept.pop(data, None) is None:
        print("credentials not found in native keychain")
        sys.exit(1)
    store.write_text(json.dumps(kept))
'''
BROKEN = {
    "hangs": "#!/bin/sh\nsleep 600\n",  # a child holding the pipe too: killed with its group
    "floods": "#!/bin/sh\nyes Username\n",
    "garbage": f"#!/bin/sh\necho 'Username={USER} Secret={PASSWORD}'\n",  # not JSON; its secret never shown
    "fails": "#!/bin/sh\necho 'keyring locked' >&2\nexit 3\n",
}


@pytest.fixture
def helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on PATH with docker-credential-{good,hangs,floods,garbage,fails}; the good one's files."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in {"good": GOOD, **BROKEN}.items():
        program = bin_dir / f"docker-credential-{name}"
        program.write_text(body)
        program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("MODELPACK_CREDENTIAL_HELPER_TIMEOUT", "2")
    # The auth files `containers-auth.json` stands for: this test's own, none of the machine's.
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    return bin_dir


def keep(helpers: Path, server: str) -> None:
    """The good helper knows USER:PASSWORD for `server`."""
    store = helpers / "store.json"
    kept = json.loads(store.read_text()) if store.exists() else {}
    kept[server] = [USER, PASSWORD]
    store.write_text(json.dumps(kept))


def calls(helpers: Path) -> list[str]:
    log = helpers / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def conf(*names: str) -> None:
    Path(os.environ["CONTAINERS_REGISTRIES_CONF"]).write_text(f"credential-helpers = {json.dumps(list(names))}\n")


@pytest.fixture
def locked(fresh_registry: Callable[..., Registry], tmp_path: Path) -> Registry:
    return fresh_registry(auth_htpasswd=htpasswd_file(tmp_path / "htpasswd", USER, PASSWORD))


def model(tmp_path: Path, name: str = "m") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(3_000))
    return folder


def test_helpers_are_tried_in_order_past_broken_ones(locked: Registry, helpers: Path, tmp_path: Path) -> None:
    keep(helpers, locked.host)
    conf("absent", "hangs", "floods", "garbage", "fails", "good")
    pushed = modelpack("push", "--plain-http", str(model(tmp_path)), f"{locked.host}/t/m:1", "--json")
    assert pushed.code == 0, pushed.err
    lines = pushed.err.splitlines()
    assert len(lines) == 5, pushed.err  # one line per broken helper, each naming it
    for line, name, why in zip(lines, ["absent", "hangs", "floods", "garbage", "fails"],
                               ["not on PATH", "gave no answer in 2 s (killed)", "printed over 64 KiB",
                                "other than JSON with Username and Secret", "failed: keyring locked"], strict=True):
        assert f"docker-credential-{name}" in line and why in line and "trying the next" in line, line
        assert line.startswith("warning: credential helper "), line  # a warning says so, as an error does
    assert PASSWORD not in pushed.err
    assert calls(helpers) == [f"get {locked.host}"]  # asked once, for the host that asked


def test_only_the_listed_sources_are_read_in_their_order(locked: Registry, helpers: Path, tmp_path: Path) -> None:
    # The docker config knows the password, but the list names the good helper alone, which does not.
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    Path(os.environ["DOCKER_CONFIG"], "config.json").write_text(json.dumps({"auths": {locked.host: {"auth": auth}}}))
    conf("good")
    refused = modelpack("push", "--plain-http", str(model(tmp_path)), f"{locked.host}/t/m:1")
    assert refused.code == 4 and f"{locked.host} requires authentication" in refused.err, refused.err
    assert calls(helpers) == [f"get {locked.host}"]
    # containers-auth.json first: the primary auth file ($XDG_RUNTIME_DIR) answers, the helper is not asked.
    primary = tmp_path / "run" / "containers" / "auth.json"
    primary.parent.mkdir(parents=True)
    primary.write_text(json.dumps({"auths": {locked.host: {"auth": auth}}}))
    Path(os.environ["DOCKER_CONFIG"], "config.json").unlink()
    conf("containers-auth.json", "good")
    done = modelpack("push", "--plain-http", str(model(tmp_path, "n")), f"{locked.host}/t/n:1")
    assert done.code == 0, done.err
    assert calls(helpers) == [f"get {locked.host}"]  # unchanged: not asked this time


def test_login_and_logout_go_through_the_listed_helper(locked: Registry, helpers: Path, tmp_path: Path) -> None:
    conf("absent", "good")
    login = modelpack("login", "--plain-http", locked.host, "-u", USER, "--password-stdin", stdin=PASSWORD + "\n")
    assert login.code == 0, login.err
    assert "docker-credential-good" in login.out
    assert json.loads((helpers / "store.json").read_text()) == {locked.host: [USER, PASSWORD]}
    assert not Path(os.environ["DOCKER_CONFIG"], "config.json").exists()  # nothing in plain text
    assert modelpack("push", "--plain-http", str(model(tmp_path)), f"{locked.host}/t/m:1").code == 0
    assert modelpack("logout", locked.host).code == 0
    assert json.loads((helpers / "store.json").read_text()) == {}
    assert modelpack("push", "--plain-http", str(model(tmp_path, "n")), f"{locked.host}/t/n:1").code == 4


def test_a_helper_that_never_reads_a_long_token_is_given_up_on(registry: Registry, helpers: Path) -> None:
    # A 64 KiB token makes `store`'s request larger than a pipe holds: it was written whole before the time
    # bound began, so a helper not reading its input kept login waiting for ever.
    conf("hangs")
    token = "t" * (64 * 1024 - 1)
    login = modelpack("login", "--plain-http", registry.host, "-u", USER, "--password-stdin", stdin=token + "\n",
                      timeout=60)
    assert login.code != 0 and "docker-credential-hangs store gave no answer in 2 s (killed)" in login.err, login.err
    assert token not in login.err

def test_a_helpers_answer_stays_with_its_host(fresh_registry: Callable[..., Registry], locked: Registry,
                                              helpers: Path, tmp_path: Path) -> None:
    # Another registry taking the very same password: sending it there would succeed, and must not happen.
    other = fresh_registry(auth_htpasswd=htpasswd_file(tmp_path / "htpasswd2", USER, PASSWORD))
    keep(helpers, locked.host)
    conf("good")
    assert modelpack("push", "--plain-http", str(model(tmp_path)), f"{locked.host}/t/m:1").code == 0
    copied = modelpack("copy", "--plain-http", f"{locked.host}/t/m:1", f"{other.host}/t/m:1")
    assert copied.code == 4 and f"{other.host} requires authentication" in copied.err, copied.err
    assert sorted(set(calls(helpers))) == sorted({f"get {locked.host}", f"get {other.host}"})
    keep(helpers, other.host)  # once the helper knows the other host's, the copy goes through
    assert modelpack("copy", "--plain-http", f"{locked.host}/t/m:1", f"{other.host}/t/m:1").code == 0


def test_a_malformed_list_is_refused_naming_the_file(helpers: Path, locked: Registry, tmp_path: Path) -> None:
    for text, said in (('credential-helpers = "good"', "must be a list of names"),
                       ('credential-helpers = ["../bin/evil"]', "is not a helper name")):
        Path(os.environ["CONTAINERS_REGISTRIES_CONF"]).write_text(text + "\n")
        run = modelpack("push", "--plain-http", str(model(tmp_path, f"m{len(said)}")), f"{locked.host}/t/m:1")
        assert run.code == 2 and said in run.err and os.environ["CONTAINERS_REGISTRIES_CONF"] in run.err, run.err
    assert calls(helpers) == []
