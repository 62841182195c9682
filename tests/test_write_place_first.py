"""A place written to that cannot be made (a layout `copy` or `push DIR oci:` writes, a `pull -o` output) is
said before any registry is asked: below a file, or on a virtual filesystem such as /proc. Against a
plain-HTTP registry without --plain-http, `copy REF oci:/proc/lay` said the TLS error first (exit 5), and
with it, once the manifest was fetched, `No such file or directory: /proc/lay` (exit 1); `pull -o /proc/x`
also said the TLS error first. Checking makes the first missing folder and removes it: nothing is left."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry

PROC = "cannot write /proc/x: No such file or directory (/proc: a virtual filesystem, where no files can be made)"


@pytest.mark.parametrize("command", ["copy", "pull", "push"])
@pytest.mark.parametrize("where", ["proc", "below-a-file"])
def test_a_place_that_cannot_be_made_is_said_first(registry: Registry, tmp_path: Path, command: str,
                                                   where: str) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "w.bin").write_text("x")
    place = "/proc/x" if where == "proc" else str(tmp_path / "file" / "x")
    ref = f"{registry.host}/t/first:1"  # plain HTTP, asked without --plain-http: a TLS error if asked at all
    args = {"copy": ("copy", ref, f"oci:{place}:1"), "pull": ("pull", ref, "-o", place),
            "push": ("push", str(tmp_path / "m"), f"oci:{place}:1")}[command]
    run = modelpack(*args)
    said = PROC if where == "proc" else f"cannot create {'output ' if command == 'pull' else ''}{place}: " \
        f"{tmp_path / 'file'} is not a directory"
    assert run.err.strip().splitlines() == [f"error: {said}"], run.err
    assert run.code == (1 if where == "proc" else 2), run.err


def test_checking_a_layout_place_leaves_nothing(registry: Registry, tmp_path: Path) -> None:
    run = modelpack("copy", f"{registry.host}/t/first:1", f"oci:{tmp_path / 'new' / 'lay'}:1")
    assert run.code == 5 and "TLS" in run.err, run.err  # the registry's trouble, once the place was checked
    assert not (tmp_path / "new").exists()
