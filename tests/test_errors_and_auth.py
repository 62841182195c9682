"""Every failure a user can meet is one clear line on stderr and a non-zero exit, never a traceback;
credentials never appear in output."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from faulty_server import FaultyServer
from helpers import Run, htpasswd_file, modelpack
from registry_process import Registry, free_port, self_signed_certificate

PASSWORD = "s3cret-Passw0rd-XYZ"


def assert_one_line_error(result: Run, *fragments: str) -> None:
    assert result.code != 0, result.out
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    root.mkdir()
    (root / "model.onnx").write_bytes(b"onnx" * 100)
    return root


def test_not_found(registry: Registry) -> None:
    assert_one_line_error(modelpack("pull", "--plain-http", registry.repo() + ":missing"), "not found")
    assert_one_line_error(modelpack("inspect", "--remote", "--plain-http", registry.repo() + ":missing"), "not found")
    assert_one_line_error(modelpack("inspect", "example.com/not/here:1"), "not in the local store")


def test_connection_refused() -> None:
    result = modelpack("pull", "--plain-http", f"127.0.0.1:{free_port()}/a/b:1")
    assert_one_line_error(result, "connection refused")


def test_bad_reference_and_bad_metadata(model: Path) -> None:
    assert_one_line_error(modelpack("pull", "localhost:5000/UPPER/case:1"), "lower case")
    assert_one_line_error(modelpack("pull", "localhost:5000/a@sha256:123"), "not a digest")
    assert_one_line_error(modelpack("pack", str(model), "-t", "a/b:bad tag"), "bad tag")
    (model / "modelpack.yaml").write_text("name: m\nmetrics:\n  accuracy: high\n")
    assert_one_line_error(modelpack("pack", str(model), "-t", "a/b:1"), "metrics.accuracy")
    (model / "modelpack.yaml").write_text("name: m\nmetric: {a: 1}\n")
    assert_one_line_error(modelpack("pack", str(model), "-t", "a/b:1"), "metric", "unknown field")
    (model / "modelpack.yaml").write_text("name: [unclosed\n")
    assert_one_line_error(modelpack("pack", str(model), "-t", "a/b:1"), "not valid YAML")
    (model / "modelpack.yaml").write_text("name: m\n")
    assert_one_line_error(modelpack("pack", str(model), "-t", "a/b:1", "--set", "nokey"), "key=value")
    # Nothing was written for any refused pack.
    assert json.loads(modelpack("list", "--json").out) == []


def test_server_errors_are_retried_then_reported() -> None:
    with FaultyServer(503, {"Retry-After": "0"}) as server:
        result = modelpack("pull", "--plain-http", f"{server.host}/a/b:1")
    assert_one_line_error(result, "503")
    assert len(server.requests) == 6  # the first try and five retries


def test_forbidden_is_final_at_once() -> None:
    body = json.dumps({"errors": [{"code": "DENIED", "message": "requested access to the resource is denied"}]})
    with FaultyServer(403, body=body.encode()) as server:
        result = modelpack("pull", "--plain-http", f"{server.host}/a/b:1")
    assert_one_line_error(result, "denied")
    assert len(server.requests) == 1


def _htpasswd(tmp_path: Path, user: str, password: str) -> Path:
    return htpasswd_file(tmp_path / "htpasswd", user, password)


def test_login_push_logout_with_basic_auth(fresh_registry, tmp_path: Path, model: Path) -> None:  # type: ignore[no-untyped-def]
    reg = fresh_registry(auth_htpasswd=_htpasswd(tmp_path, "alice", PASSWORD))
    ref = reg.repo() + ":1"
    assert_one_line_error(modelpack("push", "--plain-http", str(model), ref), "modelpack login")

    wrong = modelpack("login", "--plain-http", reg.host, "-u", "alice", "--password-stdin", stdin="nope\n")
    assert_one_line_error(wrong, "refused the credentials")
    # docker's, podman's and oras's `-p PASSWORD`: refused before any request, the password not repeated
    argument = modelpack("login", "--plain-http", reg.host, "-u", "alice", "-p", PASSWORD)
    assert_one_line_error(argument, "--password-stdin")
    assert argument.code == 2 and PASSWORD not in argument.err
    assert not (Path(__import__("os").environ["DOCKER_CONFIG"]) / "config.json").exists()

    good = modelpack("login", "-v", "--plain-http", reg.host, "-u", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert good.code == 0, good.err
    config = json.loads((Path(__import__("os").environ["DOCKER_CONFIG"]) / "config.json").read_text())
    assert reg.host in config["auths"]

    pushed = modelpack("push", "-v", "--plain-http", str(model), ref)
    assert pushed.code == 0, pushed.err
    pulled = modelpack("pull", "-v", "--plain-http", ref, "-o", str(tmp_path / "out"))
    assert pulled.code == 0, pulled.err
    for run in (good, pushed, pulled):
        text = run.out + run.err
        assert PASSWORD not in text
        assert __import__("base64").b64encode(f"alice:{PASSWORD}".encode()).decode() not in text
        assert "Authorization" not in text

    assert modelpack("logout", reg.host).code == 0
    assert_one_line_error(modelpack("pull", "--plain-http", ref), "modelpack login")


def _save_stale_password(host: str) -> Path:
    """A docker config entry for `host` whose password the registry no longer takes (changed since login)."""
    config = Path(__import__("os").environ["DOCKER_CONFIG"]) / "config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    auth = __import__("base64").b64encode(b"alice:an-old-password").decode()
    config.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return config


def test_saved_credentials_refused_name_where_they_are_and_the_fix(fresh_registry, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                   model: Path) -> None:
    reg = fresh_registry(auth_htpasswd=_htpasswd(tmp_path, "alice", PASSWORD))
    config = _save_stale_password(reg.host)
    for args in (("push", str(model)), ("pull",)):
        run = modelpack(args[0], "--plain-http", *args[1:], reg.repo() + ":1")
        assert_one_line_error(run, f"refused the credentials for user 'alice' saved in {config}; "
                                   f"run `modelpack login {reg.host}` again")
        assert run.code == 4
    # A password typed at login is not "saved": no login to redo, the typing to check.
    wrong = modelpack("login", "--plain-http", reg.host, "-u", "alice", "--password-stdin", stdin="nope\n")
    assert wrong.err.strip() == (f"error: {reg.host} refused the credentials for user 'alice'; check the user "
                                 "name and the password (or the access token, where the registry issues those)")


def test_ls_host_refused_leads_with_the_login_fix_and_exits_4(fresh_registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # `ls HOST` against a registry whose catalog needs a login: anonymous, the fix is to log in; with a
    # saved password the registry no longer takes, the fix is that login again (not "name a repository").
    reg = fresh_registry(auth_htpasswd=_htpasswd(tmp_path, "alice", PASSWORD))
    anonymous = modelpack("ls", "--plain-http", reg.host)
    assert_one_line_error(anonymous, f"run `modelpack login {reg.host}`")
    assert anonymous.code == 4
    assert anonymous.err.index("modelpack login") < anonymous.err.index("name a repository")
    config = _save_stale_password(reg.host)
    stale = modelpack("ls", "--plain-http", reg.host)
    assert_one_line_error(stale, f"refused the credentials for user 'alice' saved in {config}; "
                                 f"run `modelpack login {reg.host}` again")
    assert stale.code == 4
    assert stale.err.index("refused the credentials") < stale.err.index("name a repository")
    # Logged in again: the catalog is listed.
    login = modelpack("login", "--plain-http", reg.host, "-u", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert login.code == 0, login.err
    assert modelpack("ls", "--plain-http", reg.host).code == 0


def test_tls_verification_is_on_by_default(fresh_registry, tmp_path: Path, model: Path) -> None:  # type: ignore[no-untyped-def]
    cert, key = self_signed_certificate(tmp_path)
    reg = fresh_registry(tls=(cert, key))
    ref = reg.repo() + ":tls"
    assert_one_line_error(modelpack("push", str(model), ref), "not trusted", "--ca-file")
    assert modelpack("push", "--ca-file", str(cert), str(model), ref).code == 0
    assert modelpack("inspect", "--remote", "--insecure", ref).code == 0
    assert_one_line_error(modelpack("pull", "--plain-http", ref), "speaks HTTPS")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to hash a CA folder")
def test_the_requests_ca_bundle_variable_is_trusted_as_a_file_or_a_folder(fresh_registry, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                           model: Path) -> None:
    """REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) is honoured as it was when requests sent our requests:
    a bundle file, or a folder of hashed certificates as `openssl rehash` leaves it."""
    cert, key = self_signed_certificate(tmp_path)
    reg = fresh_registry(tls=(cert, key))
    folder = tmp_path / "cas"
    folder.mkdir()
    shutil.copy(cert, folder / "registry.pem")
    subprocess.run(["openssl", "rehash", str(folder)], check=True, capture_output=True)
    for bundle in (cert, folder):
        run = modelpack("push", str(model), reg.repo() + ":ok", env={"REQUESTS_CA_BUNDLE": str(bundle)})
        assert run.code == 0, run.err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(modelpack("push", str(model), reg.repo() + ":no", env={"CURL_CA_BUNDLE": str(empty)}),
                          "not trusted")


def test_bad_keys_and_flags_are_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.key"
    garbage.write_text("not a key at all")
    assert_one_line_error(modelpack("sign", "--key", str(garbage), "localhost:1/a/b:1",
                                    env={"COSIGN_PASSWORD": "x"}), "not a PEM file")
    truncated = tmp_path / "truncated.key"
    truncated.write_text("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnt9fQ==\n"
                         "-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert_one_line_error(modelpack("sign", "--key", str(truncated), "localhost:1/a/b:1",
                                    env={"COSIGN_PASSWORD": "x"}), "malformed encrypted key")
    assert_one_line_error(modelpack("verify", "--key", str(tmp_path / "missing.pub"), "localhost:1/a/b:1"),
                          "cannot read key")
    assert_one_line_error(modelpack("pull", "--no-such-flag", "x"), "No such option")
    assert_one_line_error(modelpack("pull"), "Missing argument")
    assert_one_line_error(modelpack("frobnicate"), "No such command")
    # An option missing its value names the command's own help, not the top level's
    assert_one_line_error(modelpack("-v", "pack", str(tmp_path), "-t"), "requires an argument",
                          "(see `modelpack pack --help`)")
    assert_one_line_error(modelpack("store", "check", "--json", "--repair", "--bogus"), "No such option",
                          "(see `modelpack store check --help`)")
    # A command's option before the command: where it goes, not "No such option"
    assert_one_line_error(modelpack("--plain-http", "pull", "localhost:1/a/b:1"),
                          "--plain-http is an option of the command: write it after the command "
                          "(`modelpack pull --plain-http ...`)")
    assert_one_line_error(modelpack("--nonsense", "pull", "x"), "No such option '--nonsense'")
