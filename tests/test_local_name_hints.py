"""A name with no registry that the local store holds (`pack -t iris:1.0`), given to a command reading the
registry (`sbom`, `report`, `inspect --remote`, `verify`, `sign`): the line says the store has it and which
flag reads it there, instead of only "names no registry; write it as e.g. localhost:5000/iris"."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack


@pytest.mark.parametrize(("args", "fix"), [(["sbom"], "add --local"), (["report"], "add --local"),
                                           (["inspect", "--remote"], "leave out --remote")])
def test_a_stored_bare_name_read_from_a_registry_names_the_flag(tmp_path: Path, args: list[str], fix: str) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.safetensors").write_bytes(b"w" * 100)
    mp.pack(tmp_path / "m", "iris:1.0")
    run = modelpack(*args, "iris:1.0")
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err == f"error: iris:1.0 names no registry; it is a model of the local store; {fix} to read it there\n"
    assert modelpack(*args[:1], *(["--local"] if fix == "add --local" else []), "iris:1.0").code == 0
    unknown = modelpack(*args, "iris:9")  # not in the store either: the registry's hint, as before
    assert unknown.code == 2 and "names no registry; write it as e.g. localhost:5000/iris" in unknown.err


@pytest.mark.parametrize("command", ["verify", "sign"])
def test_signing_a_stored_bare_name_names_local(tmp_path: Path, command: str) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.safetensors").write_bytes(b"w" * 100)
    mp.pack(tmp_path / "m", "iris:1.0")
    private, public = mp.generate_key_pair(tmp_path / "keys", b"pw")
    run = modelpack(command, "iris:1.0", "--key", str(public if command == "verify" else private),
                    env={"COSIGN_PASSWORD": "pw"})
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err == ("error: iris:1.0 names no registry; it is a model of the local store; add --local to read it "
                       "there\n")


@pytest.mark.parametrize("args", [("inspect",), ("rm",), ("unpack", "-o", "out")])
def test_a_model_folder_named_for_a_stored_model_says_to_pack_it(tmp_path: Path, args: tuple[str, ...]) -> None:
    # The Quick start's folder given where a stored model is read (`inspect iris-classifier`): it said
    # only "iris-classifier is not in the local store", which a newcomer who never packed cannot act on.
    (tmp_path / "iris-classifier").mkdir()
    (tmp_path / "iris-classifier" / "model.skops").write_bytes(b"w" * 10)
    run = modelpack(args[0], "iris-classifier", *args[1:], cwd=tmp_path)
    assert (run.code, run.out) == (3, ""), run.err
    assert run.err == ("error: iris-classifier is not in the local store; a folder of that name is here, not a stored "
                       "model: `modelpack pack iris-classifier -t REF` stores it\n")
    elsewhere = modelpack(args[0], "iris-classifier", *args[1:], cwd=tmp_path / "iris-classifier")
    assert elsewhere.err == "error: iris-classifier is not in the local store\n"  # no such folder there
