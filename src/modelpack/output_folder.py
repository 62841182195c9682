"""The folder a pull or unpack writes into: checked before anything is fetched, and the hidden work
folders that files are made in before they are renamed into place.

A work folder is held with an exclusive flock on the folder itself for as long as its process uses it.
A process killed with SIGKILL (an OOM kill, a node drain, a CI timeout) cannot remove its own, so the
next pull or unpack into the same output removes every work folder of that output that no live process
holds: a retried Kubernetes init container no longer finds its volume "not empty", nor full of what its
killed attempt had downloaded.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from modelpack.advice import compose, setting
from modelpack.errors import UsageError
from modelpack.space import NOT_WRITABLE

INSIDE_PREFIX = ".modelpack-partial-"  # a work folder inside the output (merging into it)
RESUME = "resume"  # the folder of downloads a stopped pull kept (see resume_folder): never swept
_held: dict[str, int] = {}  # work folder -> the open fd holding its lock
_lock = threading.Lock()


def check_output(output: str | Path, force: bool = False) -> bool:
    """Refuse an output that exists and is not an empty directory, unless `force`; our own work folders
    left inside it by a killed pull do not count. Returns whether unpacking merges into it: it holds
    files already, or it is a mount point (a Kubernetes volume cannot be replaced by a rename).

    Raises:
        UsageError: the output is not a directory, cannot be created, or is not empty (and not `force`).
    """
    if not str(output):  # (Path("") would quietly be the current directory)
        raise UsageError("the output directory is an empty name")
    output = Path(output).absolute()
    if not output.exists():
        refuse_uncreatable(output, "output ")
        return False
    if not output.is_dir():
        raise UsageError(f"output {output} exists and is not a directory")
    if not any(not entry.name.startswith(INSIDE_PREFIX) for entry in output.iterdir()):
        return os.path.ismount(output) or any(output.iterdir())
    if not force:
        raise UsageError(f"output directory {output} exists and is not empty", advice=compose(
            "{} replaces the files that differ", setting("force=True", "--force")))
    return True


def refuse_uncreatable(path: Path, what: str = "") -> None:
    """Refuse, before anything is fetched, a folder to be made at `path` (absent) where none can be: below a
    file, or where the first folder missing on the way cannot be made (made and removed again here: a
    virtual filesystem such as /proc, a read-only one, one this user may not write). `what`: how the line
    calls it, as "output ".

    Raises:
        UsageError: the nearest folder that exists on the way is a file.
        OSError: that folder cannot be made (said as a failed write there is: see work_folder).
    """
    path = path.absolute()
    anchor = next((parent for parent in path.parents if parent.exists()), Path("/"))
    if not anchor.is_dir():
        raise UsageError(f"cannot create {what}{path}: {anchor} is not a directory")
    first = anchor / path.relative_to(anchor).parts[0]
    try:
        os.mkdir(first)
    except FileExistsError:  # made meanwhile, by another process
        return
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM) and not _virtual_note(path, exc):
            raise PermissionError(errno.EACCES, NOT_WRITABLE, str(anchor)) from None  # as require_space says it
        if exc.errno == errno.EROFS:
            raise OSError(exc.errno, exc.strerror, str(anchor)) from None
        raise _named(exc, path) from None
    with contextlib.suppress(OSError):
        os.rmdir(first)


_SPACE_OR_READ_ONLY = (errno.EROFS, errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def naming_output(output: Path) -> Iterator[None]:
    """Name `output` in a failure for want of space or of a writable filesystem while writing into it: a
    failed write() names no file, and the fix of a full output (another folder) is not the store's.

    Raises:
        OSError: what the body raised, with `output` as its file name if it had none.
    """
    try:
        yield
    except OSError as exc:
        if exc.errno not in _SPACE_OR_READ_ONLY or exc.filename:
            raise
        raise OSError(exc.errno, exc.strerror, str(output)) from None


def work_folder(output: Path, merge: bool, purpose: str = "") -> Path:
    """A new hidden folder on the output's filesystem, held by this process until `release_work_folder`,
    so what is made there moves into place by a rename: inside `output` when merging into it, else beside
    it (an empty `output` must stay empty). Dead work folders of `output` are removed first.

    Raises:
        OSError: the folder cannot be made.
    """
    try:
        return _new_work_folder(output, merge, purpose)
    except OSError as exc:  # named as the path the user asked for, not our hidden folder
        raise _named(exc, output) from None


def _named(exc: OSError, output: Path) -> OSError:
    """A folder for `output` could not be made: the error naming `output` (not a hidden folder of ours)."""
    name = str(exc.filename or "")
    shown = str(output) if not name or ".partial-" in name else name
    if exc.errno in _SPACE_OR_READ_ONLY:  # the CLI names their fix from the path
        return OSError(exc.errno, exc.strerror, shown)
    # `-o /proc/x` failed "No such file or directory: /proc/x": say it could not be made, and why.
    return OSError(exc.errno, f"cannot write {shown}: {exc.strerror}{_virtual_note(output, exc)}")


def _virtual_note(output: Path, exc: OSError) -> str:
    """Where a folder could not be made on a filesystem that reports no size (/proc, /sys), that it is one."""
    if exc.errno not in (errno.ENOENT, errno.EPERM, errno.EACCES):
        return ""
    anchor = next((p for p in (output, *output.parents) if p.exists()), Path("/"))
    try:
        if os.statvfs(anchor).f_blocks:
            return ""
        device, mount = os.stat(anchor).st_dev, anchor
        while mount != mount.parent and os.stat(mount.parent).st_dev == device:
            mount = mount.parent
    except OSError:
        return ""
    return f" ({mount}: a virtual filesystem, where no files can be made)"


def _new_work_folder(output: Path, merge: bool, purpose: str) -> Path:
    if merge:
        parent, prefix = output, f"{INSIDE_PREFIX}{purpose}"
    else:
        parent, prefix = output.parent, f".{output.name}.partial-{purpose}"
        parent.mkdir(parents=True, exist_ok=True)
    sweep_work_folders(output)
    while True:
        path = tempfile.mkdtemp(dir=parent, prefix=prefix)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                with _lock:
                    _held[path] = fd
                return Path(path)
        except FileNotFoundError:
            pass  # another process swept it between its creation and our lock: take another
        os.close(fd)


def resume_folder(output: Path, merge: bool) -> Path:
    """Where a pull into `output` keeps the large downloads it did not finish, for the next pull into the
    same output to resume (see resumable_ingest): on the filesystem of its work folders, so a finished blob
    moves into one by a rename. Beside `output`, or inside it when merging into it (a volume's mount point)."""
    return output / f"{INSIDE_PREFIX}{RESUME}" if merge else output.parent / f".{output.name}.partial-{RESUME}"


def release_work_folder(path: Path) -> None:
    """Let go of a work folder (removed, or renamed to be the output itself)."""
    with _lock:
        fd = _held.pop(str(path), None)
    if fd is not None:
        os.close(fd)


def discard_work_folder(path: Path) -> None:
    """Remove a work folder and whatever is left in it, then let go of it."""
    shutil.rmtree(path, ignore_errors=True)
    release_work_folder(path)


def sweep_work_folders(output: Path) -> int:
    """Remove the work folders of `output` (beside it and inside it) that no live process holds.

    Returns:
        How many were removed.
    """
    candidates = _listing(output.parent, f".{output.name}.partial-") + _listing(output, INSIDE_PREFIX)
    removed = 0
    for path in candidates:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    continue  # its process is alive
                raise
            with contextlib.suppress(FileNotFoundError):
                if os.stat(path).st_ino == os.fstat(fd).st_ino:  # still the folder we hold
                    shutil.rmtree(path, ignore_errors=True)
                    removed += 1
        finally:
            os.close(fd)
    return removed


def _listing(folder: Path, prefix: str) -> list[Path]:
    try:
        return [entry for entry in folder.iterdir() if entry.name.startswith(prefix) and entry.is_dir()
                and not entry.is_symlink() and entry.name != f"{prefix}{RESUME}"]
    except OSError:  # absent, not a folder, unreadable: nothing of ours there
        return []
