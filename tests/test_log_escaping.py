"""A warning the library logs reaches the terminal escaped, like everything else a registry chose: here a
layer path with an escape sequence (a folder name is any bytes but `/`), and a Python warning a library
raises quoting what a model file holds."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import modelpack as mp
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry
from serve_models import iris_skops

EVIL = "evil\x1b]0;pwned\x07"  # OSC 0: retitles the terminal


def test_a_library_warning_is_escaped_on_the_terminal(registry: Registry, tmp_path: Path) -> None:
    model = tmp_path / "m"
    (model / EVIL).mkdir(parents=True)
    (model / EVIL / "a.txt").write_text("a")
    (model / "w.safetensors").write_bytes(b"w" * 64)
    (model / "modelpack.yaml").write_text('files: {archives: ["evil\\e]0;pwned\\a"]}\n')
    ref = registry.repo() + ":v1"
    mp.push(model, ref, options=ClientOptions(plain_http=True))

    out = modelpack("k8s", "--plain-http", "--kind", "image-volume", ref,
                    "--serving-image", f"{registry.host}/serving@sha256:{'0' * 64}")

    assert "image volume shows tar layers as single files" in out.err, out.err
    assert "evil\\x1b]0;pwned\\x07" in out.err
    assert "\x1b" not in out.err and "\x07" not in out.err


def with_sklearn_version(skops_file: Path, version: str) -> None:
    """Rewrite the scikit-learn version a .skops file records (its schema.json, a JSON tree)."""
    with zipfile.ZipFile(skops_file) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}

    def rewrite(node: object) -> None:
        if isinstance(node, dict):
            if "_sklearn_version" in node:
                node["_sklearn_version"]["content"] = json.dumps(version)
            for value in node.values():
                rewrite(value)
        elif isinstance(node, list):
            for value in node:
                rewrite(value)

    schema = json.loads(members["schema.json"])
    rewrite(schema)
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(skops_file, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_python_warning_quoting_the_model_is_escaped_on_the_terminal(registry: Registry, tmp_path: Path) -> None:
    # scikit-learn warns, through `warnings`, of a model saved by another version, quoting the version the
    # file records: a .skops file (served from a reference without any trust flag) chooses it.
    folder, _ = iris_skops(tmp_path / "iris")
    with_sklearn_version(folder / "model.skops", "0.1" + EVIL + "\nforged: line")
    ref = registry.repo() + ":1"
    mp.push(folder, ref, options=ClientOptions(plain_http=True))

    proc = subprocess.Popen([sys.executable, "-m", "modelpack", "serve", ref, "--plain-http", "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    try:
        before = []
        while not (line := proc.stderr.readline()).startswith("serving on"):
            assert line, "serve exited before serving: " + "".join(before)
            before.append(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        err = "".join(before) + proc.stderr.read()
        proc.wait(timeout=60)

    assert "InconsistentVersionWarning" in err and "from version 0.1evil\\x1b]0;pwned\\x07\\nforged: line" in err
    assert "\x1b" not in err and "\x07" not in err
    assert not any(line.startswith("forged") for line in err.splitlines())
