"""safe_relpath: every path from an artifact is refused unless plainly inside the output directory."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from modelpack.artifact_paths import safe_relpath
from modelpack.errors import IntegrityError, UnsafePathError

SETTINGS = settings(database=None, deadline=None, max_examples=300)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("model.bin", "model.bin"),
        ("a/b/c.txt", "a/b/c.txt"),
        ("./a//b", "a/b"),
        ("a/./b/", "a/b"),
        ("././x", "x"),
        ("a\\b\\c", "a/b/c"),
        ("...", "..."),
        ("..a/b..", "..a/b.."),
        ("a b/ç ö.bin", "a b/ç ö.bin"),
        ("~/x", "~/x"),
        (".gitignore", ".gitignore"),
        ("a" * 255, "a" * 255),
        ("a/.github/x.yml", "a/.github/x.yml"),
    ],
)
def test_normalises_safe_paths(path: str, expected: str) -> None:
    assert safe_relpath(path) == expected
    assert safe_relpath(expected) == expected


@pytest.mark.parametrize(
    "path",
    [
        "",
        ".",
        "./",
        "//",
        "/etc/passwd",
        "/",
        "\\windows\\system32",
        "\\\\server\\share\\x",
        "..",
        "../x",
        "a/../../x",
        "a/..",
        "a/b/../c",
        "..\\x",
        "a\\..\\..\\x",
        "C:\\Windows\\x",
        "C:/x",
        "c:x",
        "a\0b",
        "\0",
        ".git/hooks/post-checkout",
        "x/.GIT/config",
        ".git",
        ".Git./hooks/x",
        "a\\.git \\hooks",
        "GIT~1/hooks/x",
        "a" * 256,  # a name no filesystem holds (255 bytes)
        "models/" + "é" * 128,  # 256 bytes in UTF-8
        "/".join(["a" * 200] * 21),  # 4,220 bytes: past PATH_MAX
    ],
)
def test_refuses_unsafe_paths(path: str) -> None:
    with pytest.raises(UnsafePathError):
        safe_relpath(path)


@pytest.mark.parametrize("path", ["./C:/Windows/x", ".\\C:\\x", "././D:", ".//c:x"])
def test_refuses_drive_paths_hidden_behind_dot_segments(path: str) -> None:
    with pytest.raises(UnsafePathError):
        safe_relpath(path)


def test_unsafe_path_error_is_an_integrity_error() -> None:
    assert issubclass(UnsafePathError, IntegrityError)


_path_alphabet = st.sampled_from(["a", "b", ".", "..", "/", "\\", ":", "C", "\0", " ", "é", "~", "//", "./"])


@SETTINGS
@given(st.one_of(st.text(max_size=40), st.lists(_path_alphabet, max_size=20).map("".join)))
@example("../x")
@example("a/../../etc")
@example("C:..")
@example("./.")
def test_property_result_is_inside_the_root(path: str) -> None:
    try:
        rel = safe_relpath(path)
    except UnsafePathError:
        return
    parts = PurePosixPath(rel).parts
    assert rel
    assert ".." not in parts
    assert "" not in rel.split("/")
    assert not PurePosixPath(rel).is_absolute()
    assert "\0" not in rel
    root = Path("/x")
    resolved = (root / rel).resolve()
    assert resolved != root
    assert root in resolved.parents
