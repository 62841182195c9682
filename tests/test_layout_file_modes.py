"""Files written for others to read follow the user's umask, as any program's new files do: an `oci:` layout's
index.json and oci-layout were left 0600 (the temporary file's mode) while its blobs were readable, so another
user (a registry serving the folder, skopeo or CRI-O run as someone else) could not open the layout; and a pulled
folder's modelpack.yaml was 0644 whatever the umask said."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest


def _run(umask: int, *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "modelpack", *args], capture_output=True, text=True, timeout=120,
                          preexec_fn=lambda: os.umask(umask))  # only os.umask, in the child before exec
    assert done.returncode == 0, done.stderr


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077], ids=oct)
def test_a_layout_and_a_pulled_folder_follow_the_umask(tmp_path: Path, umask: int) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.safetensors").write_bytes(b"w" * 100)
    layout = tmp_path / "layout"
    _run(umask, "push", str(model), f"oci:{layout}:1")
    for name in ("index.json", "oci-layout"):
        assert _mode(layout / name) == 0o666 & ~umask, name
    out = tmp_path / "out"
    _run(umask, "pull", f"oci:{layout}:1", "-o", str(out))
    assert _mode(out / "modelpack.yaml") == 0o666 & ~umask
