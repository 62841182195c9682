"""The local store's messages name a reference as the user wrote it (`champion`, not `champion:latest`), and
a bare name that is a tag of a stored model (`tag REF champion` names REPOSITORY:champion) says which
reference to write; `rm`'s registry-only flags are refused without --remote. No registry: every command here
reads or writes the local store only."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import modelpack
from test_serve_trust import assert_one_line

TAGGED = "localhost:5000/team/iris:champion"


@pytest.fixture
def model(tmp_path: Path) -> Path:
    folder = tmp_path / "iris"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"weights")
    return folder


def test_a_bare_name_is_named_as_typed(model: Path) -> None:
    assert modelpack("pack", str(model), "-t", "champion").code == 0
    removed = modelpack("rm", "champion")
    assert (removed.code, removed.out) == (0, "removed champion\n"), removed.err
    again = modelpack("rm", "champion")
    assert_one_line(again.err, 3, again.code, "champion is not in the local store")
    assert ":latest" not in again.err
    assert modelpack("pack", str(model), "-t", "champion").code == 0
    typed = modelpack("rm", "champion:latest")  # written with its tag: shown with it
    assert (typed.code, typed.out) == (0, "removed champion:latest\n"), typed.err


@pytest.mark.parametrize("command", [("rm", "champion"), ("inspect", "champion"), ("tag", "champion", "prod"),
                                     ("unpack", "champion", "-o", "out")])
def test_a_bare_name_that_is_a_tag_names_the_reference_to_write(model: Path, tmp_path: Path,
                                                                command: tuple[str, ...]) -> None:
    assert modelpack("pack", str(model), "-t", "localhost:5000/team/iris:1.0").code == 0
    tagged = modelpack("tag", "localhost:5000/team/iris:1.0", "champion")
    assert tagged.out == f"{TAGGED} -> " + tagged.out.split(" -> ")[1], tagged.err
    run = modelpack(*command, cwd=tmp_path)
    assert_one_line(run.err, 3, run.code, "champion is not in the local store", f"champion is a tag of {TAGGED}")
    assert ":latest" not in run.err and not (tmp_path / "out").exists()
    whole = modelpack("rm", TAGGED)
    assert (whole.code, whole.out) == (0, f"removed {TAGGED}\n"), whole.err


def test_a_name_with_no_such_tag_gets_no_hint(model: Path) -> None:
    assert modelpack("pack", str(model), "-t", "localhost:5000/team/iris:1.0").code == 0
    run = modelpack("inspect", "nosuch")
    assert_one_line(run.err, 3, run.code, "nosuch is not in the local store")
    assert "tag of" not in run.err
    registry_ref = modelpack("inspect", "localhost:5000/team/iris")  # its registry: read it with --remote
    assert_one_line(registry_ref.err, 3, registry_ref.code,
                    "localhost:5000/team/iris is not in the local store", "--remote")


@pytest.mark.parametrize("flag", ["--all-tags", "--yes"])
def test_rm_refuses_a_registry_only_flag_without_remote(model: Path, flag: str) -> None:
    assert modelpack("pack", str(model), "-t", "localhost:5000/team/iris:1.0").code == 0
    run = modelpack("rm", flag, "localhost:5000/team/iris:1.0")
    assert_one_line(run.err, 2, run.code, f"{flag} is for --remote", "add --remote")
    listed = modelpack("list")
    assert "localhost:5000/team/iris:1.0" in listed.out  # nothing was removed
