"""`modelpack -v COMMAND` means what `modelpack COMMAND -v` means: each HTTP request logged to stderr,
never a credential; before a command that talks to no registry it is accepted and logs nothing."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

from conftest import AUTH_PASSWORD, AUTH_USER
from helpers import modelpack
from registry_process import Registry


def _request_lines(stderr: str, output: Path) -> list[str]:
    """The log lines of a run, its own output directory's name masked, in a stable order (blobs are
    fetched in parallel, so their lines may come in either order)."""
    lines = [line.replace(str(output), "OUT") for line in stderr.splitlines()]
    return sorted(line for line in lines if line.strip())


def test_verbose_before_pull_logs_requests_as_after_it(auth_registry: Registry, tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    # Over 1 MiB (streamed) and small (sent and fetched on the curl engine's quick path): both logged.
    (model / "model.onnx").write_bytes(os.urandom(1_100_000))
    (model / "config.json").write_text('{"hidden_size": 8}\n')
    ref = f"{auth_registry.host}/team/verbose:1"
    # Pushed from another home: this one's store must not hold the blobs, so each pull downloads them.
    pushed = modelpack("push", "--plain-http", str(model), ref, env={"MODELPACK_HOME": str(tmp_path / "pusher")})
    assert pushed.code == 0, pushed.err

    before = modelpack("-v", "pull", "--plain-http", ref, "-o", str(tmp_path / "before"))
    after = modelpack("pull", "-v", "--plain-http", ref, "-o", str(tmp_path / "after"))
    quiet = modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "quiet"))
    assert before.code == 0, before.err
    assert after.code == 0, after.err
    assert quiet.code == 0, quiet.err
    assert before.out.replace(str(tmp_path / "before"), "OUT") == after.out.replace(str(tmp_path / "after"), "OUT")

    logged = _request_lines(before.err, tmp_path / "before")
    assert logged == _request_lines(after.err, tmp_path / "after")
    # Requests were logged (the manifest, the large blob), and only because of -v.
    base = f"modelpack.registry: GET http://{auth_registry.host}/v2/team/verbose"
    assert f"{base}/manifests/1 -> 200" in logged, logged
    blob_gets = [line for line in logged if line.startswith(f"{base}/blobs/sha256:") and line.endswith("-> 200")]
    assert len(blob_gets) == 3, logged  # the model file, config.json and the model's config
    for name in ("model.onnx", "config.json"):  # each a raw layer: the blob is the file's bytes
        digest = "sha256:" + hashlib.sha256((model / name).read_bytes()).hexdigest()
        assert f"{base}/blobs/{digest} -> 200" in logged, (name, logged)
    assert "/v2/" not in quiet.err
    secret = base64.b64encode(f"{AUTH_USER}:{AUTH_PASSWORD}".encode()).decode()
    for text in (before.out, before.err):
        assert AUTH_PASSWORD not in text and secret not in text and "Authorization" not in text


def test_verbose_before_a_command_without_registry_is_accepted(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    initialised = modelpack("-v", "init", str(model))
    assert initialised.code == 0, initialised.err
    assert (model / "modelpack.yaml").is_file()
    for args in (("list",), ("store", "check"), ("logout", "registry.invalid")):
        quiet, verbose = modelpack(*args), modelpack("--verbose", *args)
        assert verbose.code == quiet.code, verbose.err
        assert (verbose.out, verbose.err) == (quiet.out, quiet.err), args


def test_help_documents_the_global_flag_once() -> None:
    shown = modelpack("--help")
    assert shown.code == 0
    assert len(re.findall(r"^\s+-v, --verbose\b", shown.out, re.MULTILINE)) == 1, shown.out
    assert modelpack("-v", "--version").out.startswith("modelpack, version")
    missing = modelpack("-v")
    assert missing.code == 2 and missing.err.startswith("error: Missing command"), missing.err
    assert "Traceback" not in missing.err
