"""The commands users run most import only what they use (each module costs its import, and again its
teardown at exit): a model of one file is pushed, listed, inspected and pulled without tarfile (archives
only), cryptography (`ls --key` only), the copy machinery (`inspect` and `ls` copy nothing), every
format's metadata reader (a pull reads none), the subprocess runner (credential helpers only) or difflib
(a tag not found, a misspelt field)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from registry_process import Registry

_WATCHED = ("tarfile", "modelpack.archives", "modelpack.packing.tarball", "cryptography", "modelpack.signatures.keys",
            "modelpack.store.copy", "modelpack.readers", "modelpack.bounded_run", "difflib")
_REPORT = (
    "import atexit, os, sys\n"
    f"atexit.register(lambda: os.write(2, ('LOADED ' + ' '.join(m for m in {_WATCHED!r}\n"
    "                                                         if m in sys.modules) + '\\n').encode()))\n"
    "sys.argv[0] = 'modelpack'\n"
    "from modelpack.cli.entry import main\n"
    "main()\n"
)


def _loaded(*args: str) -> set[str]:
    """Run a modelpack command in a fresh interpreter; the watched modules it imported."""
    run = subprocess.run([sys.executable, "-c", _REPORT, *args], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    line = next(line for line in run.stderr.splitlines() if line.startswith("LOADED"))
    return set(line.split()[1:])


def test_a_one_file_model_is_pushed_listed_inspected_and_pulled_importing_only_what_each_uses(
        registry: Registry, modelpack_home: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(os.urandom(10_000))
    ref = registry.repo() + ":1"

    assert _loaded("push", "--plain-http", str(model), ref) & {"tarfile", "modelpack.archives",
                                                                "modelpack.packing.tarball"} == set()
    assert _loaded("ls", "--plain-http", ref.rsplit(":", 1)[0]) & {
        "cryptography", "modelpack.signatures.keys", "modelpack.store.copy", "tarfile", "difflib"} == set()
    assert _loaded("inspect", "--remote", "--plain-http", ref) & {
        "cryptography", "modelpack.store.copy", "tarfile", "difflib"} == set()
    out = tmp_path / "out"
    assert _loaded("pull", "--plain-http", ref, "-o", str(out)) & {
        "tarfile", "modelpack.archives", "modelpack.readers", "modelpack.bounded_run"} == set()
    assert (out / "model.safetensors").read_bytes() == (model / "model.safetensors").read_bytes()


def test_a_folder_without_modelpack_yaml_has_its_metadata_read_without_importing_yaml(tmp_path: Path) -> None:
    # What a push reads of the folder: PyYAML (~10 ms) only when there is a modelpack.yaml to parse.
    script = ("import sys\nfrom pathlib import Path\n"
              "from modelpack.metadata.folder_metadata import FolderMetadata\n"
              "m = FolderMetadata(Path(sys.argv[1]))\n"
              "print(m.fields(), m.data, 'yaml' in sys.modules)\n")
    (tmp_path / "model.safetensors").write_bytes(b"x")

    def read() -> str:
        return subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                              check=True).stdout.strip()

    assert read() == "{} b'' False"
    (tmp_path / "modelpack.yaml").write_text("description: d\n")
    assert read() == "{'description': 'd'} b'description: d\\n' True"
