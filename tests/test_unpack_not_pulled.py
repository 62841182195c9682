"""`unpack REG/REPO:TAG -o DIR` of a model that was never pulled (a newcomer takes unpack for pull): it
said only "REF is not in the local store"; it now names the command that fetches it. A bare name keeps
its own hints (a tag of a stored model, a folder here), and a model pushed from the store unpacks."""

from __future__ import annotations

from pathlib import Path

from helpers import modelpack
from registry_process import Registry


def test_unpack_of_a_model_never_pulled_names_pull(registry: Registry, tmp_path: Path) -> None:
    ref = registry.repo() + ":1"
    run = modelpack("unpack", ref, "-o", str(tmp_path / "out"))
    assert run.code == 3 and run.out == ""
    assert run.err.strip() == (f"error: {ref} is not in the local store; `modelpack pull {ref} -o DIR` "
                               "fetches it from its registry"), run.err
    assert not (tmp_path / "out").exists()


def test_a_bare_name_says_no_registry_command(tmp_path: Path) -> None:
    run = modelpack("unpack", "nothing-here:1", "-o", str(tmp_path / "out"))
    assert run.code == 3 and "modelpack pull" not in run.err, run.err
