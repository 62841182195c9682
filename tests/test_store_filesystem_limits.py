"""The local store on a read-only or full filesystem (a container's read-only root, a small tmpfs): each
failure is one line that names the place and the fix (exit 1), and `ls`, whose manifest cache is only an
optimisation, still answers from a store it cannot write. Real tmpfs mounts (root, as in CI), a real
registry."""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry

Mount = Callable[..., Path]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Mount]:
    """mount(name, options) -> a fresh tmpfs with those mount options, unmounted afterwards."""
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        where = tmp_path / name
        where.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _read_only(where: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True, capture_output=True)


def test_read_only_store_names_modelpack_home(pushed: tuple[str, str], tmpfs: Mount) -> None:
    ref, _ = pushed
    home = tmpfs("ro", "size=4m") / "home"
    home.mkdir()
    _read_only(home.parent)
    env = {"MODELPACK_HOME": str(home)}
    run = modelpack("pull", "--plain-http", ref, env=env)
    assert run.code == 1
    lines = run.err.splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("error: Read-only file system: ")
    assert f"(the local store MODELPACK_HOME={home})" in lines[0]
    assert lines[0].endswith("the filesystem is read-only; write elsewhere (set MODELPACK_HOME to a writable "
                             "directory)")
    # pull -o writes no store: it works from a read-only one
    out = modelpack("pull", "--plain-http", ref, "-o", str(home.parent.parent / "out"), env=env)
    assert out.code == 0, out.err


def test_ls_answers_from_a_store_it_cannot_write(pushed: tuple[str, str], tmpfs: Mount) -> None:
    ref, digest_ref = pushed
    home = tmpfs("ro", "size=4m") / "home"
    home.mkdir()
    _read_only(home.parent)
    run = modelpack("ls", "--plain-http", ref.rsplit(":", 1)[0], "--json", env={"MODELPACK_HOME": str(home)})
    assert run.code == 0, run.err
    assert '"v1"' in run.out and digest_ref.split("@")[1] in run.out


def test_no_inodes_left_in_output_names_it_and_the_fix(pushed: tuple[str, str], tmpfs: Mount) -> None:
    ref, _ = pushed
    full = tmpfs("full", "size=20m,nr_inodes=4")
    for i in range(10):  # use up the inodes: statvfs still reports free bytes, so only the write fails
        try:
            (full / f"f{i}").mkdir()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
            break
    out = full / "out"
    run = modelpack("pull", "--plain-http", ref, "-o", str(out))
    assert run.code == 1
    assert run.err.splitlines() == [f"error: No space left on device: {out}: free space (or inodes) there, or "
                                    "write elsewhere (give -o a folder on another filesystem)"]
    assert not out.exists()


def test_full_store_names_modelpack_home(pushed: tuple[str, str], tmpfs: Mount) -> None:
    ref, _ = pushed
    disk = tmpfs("store", "size=20m,nr_inodes=32")
    home = disk / "home"
    made = modelpack("pull", "--plain-http", ref, "-o", str(disk / "first"), "--keep",
                     env={"MODELPACK_HOME": str(home)})
    assert made.code == 0, made.err  # the store exists; now no inode is left for a new blob in it
    for i in range(64):
        try:
            (disk / f"f{i}").mkdir()
        except OSError:
            break
    other = Path(home.parent.parent / "m")
    other.mkdir()
    (other / "w.bin").write_bytes(b"another model")
    run = modelpack("pack", str(other), "-t", "local/m:1", env={"MODELPACK_HOME": str(home)})
    assert run.code == 1
    lines = run.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: No space left on device: "), run.err
    assert f"(the local store MODELPACK_HOME={home}): free space (or inodes) there" in lines[0]


def test_a_full_read_only_output_is_called_read_only_not_full(pushed: tuple[str, str], tmpfs: Mount) -> None:
    # A read-only image (squashfs, a full volume mounted ro) reports no free space: that is not why it fails.
    ref, _ = pushed
    where = tmpfs("rofull", "size=64k")
    (where / "fill").write_bytes(b"\0" * 64 * 1024)
    _read_only(where)
    out = where / "out"
    run = modelpack("pull", "--plain-http", ref, "-o", str(out))
    assert run.code == 1
    assert run.err.splitlines() == [f"error: Read-only file system: {where}: the filesystem is read-only; write "
                                    "elsewhere (give -o a writable folder)"]


@pytest.mark.parametrize("command", ["pull", "unpack"])
def test_an_output_filled_by_small_files_names_it_not_the_store(registry: Registry, tmp_path: Path, tmpfs: Mount,
                                                                 command: str) -> None:
    # Each small file takes a whole page of the tmpfs: the free-space check (by bytes) passes, and the write
    # that fails names no file. It is the output's filesystem that is full: MODELPACK_HOME would not help.
    model = tmp_path / "small"
    model.mkdir()
    for i in range(40):
        (model / f"f{i}.txt").write_text(f"{i}\n")
    ref = registry.repo() + ":v1"
    assert modelpack("push", str(model), ref, "--plain-http").code == 0
    if command == "unpack":
        assert modelpack("pull", "--plain-http", ref).code == 0
    out = tmpfs("tiny", "size=64k") / "out"
    run = modelpack(command, *(["--plain-http"] if command == "pull" else []), ref, "-o", str(out))
    assert run.code == 1
    assert run.err.splitlines() == [f"error: No space left on device: {out}: free space (or inodes) there, or "
                                    "write elsewhere (give -o a folder on another filesystem)"]
    assert list(out.parent.iterdir()) == []  # nothing half-written left beside it


def test_a_read_only_key_folder_names_its_option(tmpfs: Mount) -> None:
    where = tmpfs("keys", "size=64k")
    _read_only(where)
    run = modelpack("generate-key-pair", "-d", str(where / "keys"), env={"COSIGN_PASSWORD": "pw"})
    assert run.code == 1
    assert run.err.splitlines() == [f"error: Read-only file system: {where / 'keys'}: the filesystem is read-only; "
                                    "write elsewhere (give -d a writable folder)"]


@pytest.mark.parametrize("command", ["pull", "unpack"])
def test_an_output_on_a_virtual_filesystem_names_it_not_its_free_space(pushed: tuple[str, str], command: str) -> None:
    ref, _ = pushed
    if command == "unpack":
        assert modelpack("pull", "--plain-http", ref).code == 0
    run = modelpack(command, *(["--plain-http"] if command == "pull" else []), ref, "-o", "/proc/modelpack-out")
    assert (run.code, run.out) == (1, ""), run.err
    assert run.err == ("error: cannot write /proc/modelpack-out: No such file or directory (/proc: a virtual "
                       "filesystem, where no files can be made)\n")


def test_a_report_onto_a_read_only_folder_names_it_and_the_fix(pushed: tuple[str, str], tmpfs: Mount) -> None:
    # `report -o` (and `sbom -o`) said "cannot write FILE: Read-only file system" with exit 2, a usage
    # mistake, where pull -o says the place and the fix with exit 1 (newcomer 41).
    ref, _ = pushed
    where = tmpfs("evidence", "size=64k")
    _read_only(where)
    out = where / "iris.md"
    run = modelpack("report", "--plain-http", ref, "-o", str(out))
    assert (run.code, run.out) == (1, ""), run.err
    assert run.err.splitlines() == [f"error: Read-only file system: {out}: the filesystem is read-only; write "
                                    "elsewhere (give -o a writable folder)"]
    assert list(where.iterdir()) == []
