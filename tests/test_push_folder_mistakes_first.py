"""`push DIR REF`: a mistake in the folder (nothing to pack, no such folder, a modelpack.yaml that is not
YAML or does not validate, an override that does not) is said first, in one line, not the registry's
trouble: pushed without --plain-http to a plain-HTTP registry, the TLS error came first (exit 5), and the
user fixed that only to meet the folder's. Where it can be, it is said before any connection is made."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from background_server import tcp_server
from helpers import modelpack
from registry_process import Registry

CASES = {
    # name: (files, extra arguments, the error line's start, whether no connection may be made)
    "empty": ({}, (), "error: no files to pack in ", True),
    "missing": (None, (), "error: m: no such directory", True),
    "not-yaml": ({"w.bin": "x", "modelpack.yaml": "name: [unclosed\n"}, (), "error: ", True),
    "override": ({"w.bin": "x"}, ("--set", "bogus=1"), "error: --set 'bogus=1': unknown field 'bogus'", True),
    # validated while the first files are hashed (pydantic's import kept off a push's start): said first,
    # once the registry failed
    "invalid": ({"w.bin": "x", "modelpack.yaml": "name: 5\n"}, (), "error: invalid metadata: name: ", False),
}


def _folder(tmp_path: Path, files: dict[str, str] | None) -> str:
    folder = tmp_path / "m"
    if files is not None:
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text)
    return "m"


@pytest.mark.parametrize("case", list(CASES))
def test_the_folder_is_said_before_a_plain_http_registry(registry: Registry, tmp_path: Path, case: str) -> None:
    files, extra, said, _ = CASES[case]
    run = modelpack("push", *extra, _folder(tmp_path, files), f"{registry.host}/t/first:1", cwd=tmp_path)
    assert run.code == 2, run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(said), run.err
    if case == "not-yaml":
        assert "modelpack.yaml: not valid YAML" in lines[0], run.err


@pytest.mark.parametrize("case", [name for name, (*_, offline) in CASES.items() if offline])
def test_the_folder_is_said_before_any_connection(tmp_path: Path, case: str) -> None:
    files, extra, said, _ = CASES[case]
    connections: list[str] = []
    lock = threading.Lock()

    def count(connection: socket.socket) -> None:
        with lock:
            connections.append("connected")
        connection.close()

    with tcp_server(count) as host:
        run = modelpack("push", *extra, _folder(tmp_path, files), f"{host}/t/first:1", cwd=tmp_path)
    assert run.code == 2, run.err
    assert run.err.strip().splitlines()[0].startswith(said), run.err
    assert connections == []


@pytest.mark.parametrize("layout", ["m", "m/out"])
def test_a_layout_inside_the_folder_pushed_is_refused(tmp_path: Path, layout: str) -> None:
    # It was written: a second push then packed the first one's blobs and index.json as model files
    _folder(tmp_path, {"w.bin": "x"})
    run = modelpack("push", "m", f"oci:{layout}:1", cwd=tmp_path)
    assert run.code == 2, run.err
    assert run.err.strip().splitlines() == [f"error: the layout {layout} is inside m: its files would be packed as "
                                            "the model's; write it outside the model's folder"], run.err
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["w.bin"]
