"""A newcomer's first `pack`/`push` mistakes each get a line that says what is wrong and what to do: a path
that names nothing (it was "X is not a directory; to copy between registries: modelpack copy SRC DST" for
`push nonexist REF`), a model file instead of its folder, an empty folder (it said to check files.include
and files.exclude, which were never written), and `push REF` before anything was packed under REF."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry

REF = "localhost:5000/team/iris:1.0.0"  # nothing is sent: these mistakes are found before a registry is asked


@pytest.mark.parametrize("args", [("push", "{path}", REF), ("pack", "{path}", "-t", REF), ("init", "{path}")])
def test_a_path_that_names_nothing_is_said_to_be_missing(tmp_path: Path, args: tuple[str, ...]) -> None:
    missing = tmp_path / "iris-clasifier"
    run = modelpack(*(a.format(path=missing) for a in args))
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err == f"error: {missing}: no such directory\n"


def test_a_missing_source_that_is_a_registry_reference_still_names_copy() -> None:
    run = modelpack("push", "localhost:5000/a/b:1", "localhost:5000/a/c:1")
    assert run.code == 2
    assert run.err == ("error: localhost:5000/a/b:1: no such directory; to copy between registries: "
                       "modelpack copy SRC DST\n")


def test_a_model_file_given_for_its_folder_names_the_folder(tmp_path: Path) -> None:
    model_file = tmp_path / "model.skops"
    model_file.write_bytes(b"w" * 10)
    run = modelpack("push", str(model_file), REF)
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err == f"error: {model_file} is not a directory: give the folder that holds the model's files\n"


@pytest.mark.parametrize("contents", [{}, {"modelpack.yaml": "name: iris\n"}])
@pytest.mark.parametrize("command", ["push", "pack"])
def test_an_empty_folder_is_not_blamed_on_file_rules(registry: Registry, tmp_path: Path, contents: dict[str, str],
                                                     command: str) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    for name, text in contents.items():
        (folder / name).write_text(text)
    # push DIR REF asks the registry what the tag holds before it reads the folder: a real one answers
    ref = f"{registry.repo()}:1"
    run = modelpack(command, str(folder), *([ref, "--plain-http"] if command == "push" else ["-t", ref]))
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err == (f"error: no files to pack in {folder}: it holds no model files; put them there, or give the "
                       "folder that holds them\n")


def test_rules_that_leave_nothing_still_name_the_rules(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"w")
    (folder / "modelpack.yaml").write_text("name: m\nfiles: {exclude: ['*.bin']}\n")
    run = modelpack("pack", str(folder), "-t", REF)
    assert run.code == 2 and "(check files.include / files.exclude)" in run.err


def test_push_of_a_reference_never_packed_names_pack_and_push_dir() -> None:
    run = modelpack("push", REF)
    assert (run.code, run.out) == (3, ""), run.err
    assert run.err == (f"error: {REF} is not in the local store; pack a directory under it first "
                       f"(`modelpack pack DIR -t {REF}`), or push the directory itself (`modelpack push DIR {REF}`)\n")
    by_digest = modelpack("push", "localhost:5000/team/iris@sha256:" + "0" * 64)
    assert by_digest.code == 3 and "pack a directory" not in by_digest.err  # a digest cannot be packed under
