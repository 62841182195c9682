"""Which registries.conf files are read, and how they merge, as containers/image reads them
(pkg/sysregistriesv2; containers-registries.conf(5) and containers-registries.conf.d(5)).

The main file: `$CONTAINERS_REGISTRIES_CONF` when set (as podman and buildah take it; a missing
file is an error there too), else `$HOME/.config/containers/registries.conf` if it exists, else
`/etc/containers/registries.conf`. Then the drop-ins: every `*.conf` directly in
`/etc/containers/registries.conf.d` and then in `$HOME/.config/containers/registries.conf.d`, in name
order; only the user's when the user's main file is the one read. Sub-folders are ignored; a drop-in
that cannot be read (a dangling symlink, a symlink loop) stops the command, naming it. A later
`[[registry]]` with the same `prefix` replaces an earlier one; two tables with the same `location` that
disagree on `insecure` or `blocked` are refused, as containers/image refuses them.

`$MODELPACK_REGISTRIES_CONF_D`, when set, is the one folder whose drop-ins are read, instead of both (as
a program embedding containers/image chooses one with `SystemRegistriesConfDirPath`): with
`$CONTAINERS_REGISTRIES_CONF`, what a machine's own files say is left out (the test suite's use).
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from modelpack.errors import UsageError
from modelpack.files import read_capped
from modelpack.store.mirrors import RegistriesConf, RegistryEntry
from modelpack.store.registries_parse import check_conflicts, parse_file
from modelpack.store.short_names import Alias

ENV = "CONTAINERS_REGISTRIES_CONF"
DIR_ENV = "MODELPACK_REGISTRIES_CONF_D"
SYSTEM_CONF = Path("/etc/containers/registries.conf")
USER_CONF = Path(".config/containers/registries.conf")  # under $HOME, as containers/image (not XDG_CONFIG_HOME)
MAX_CONF_BYTES = 1 << 20  # real files are a few KiB; a huge one is a mistake, not a configuration
MAX_DROP_INS = 100
MAX_DIR_ENTRIES = 10_000  # a drop-in folder is listed up to this many names, so a huge one costs little

_cache: dict[tuple[tuple[str, int, int], ...], RegistriesConf] = {}
_cache_lock = threading.Lock()


def config_files() -> list[Path]:
    """The files read, in order: the main file (possibly missing), then the drop-ins.

    Raises:
        UsageError: `$CONTAINERS_REGISTRIES_CONF` names no file, `$MODELPACK_REGISTRIES_CONF_D` no folder,
            or a drop-in folder holds too many.
    """
    home = _home()
    user = home / USER_CONF if home is not None else None
    chosen = os.environ.get(ENV, "").strip()
    users_own = not chosen and user is not None and user.is_file()
    if chosen:
        main = Path(chosen)
        if not main.exists():
            raise UsageError(f"{ENV}={chosen} names no file; create it (an empty file configures nothing) or "
                             "unset the variable")
    else:
        main = user if users_own and user is not None else SYSTEM_CONF
    dirs = _drop_in_folders(user, users_own)
    drop_ins: list[Path] = []
    for folder in dirs:
        drop_ins.extend(_drop_ins(folder))
    if len(drop_ins) > MAX_DROP_INS:
        raise UsageError(f"{len(drop_ins)} drop-in files in {', '.join(map(str, dirs))}: over the {MAX_DROP_INS} "
                         "modelpack reads; merge them")
    return [main, *drop_ins]


def _drop_in_folders(user: Path | None, users_own: bool) -> list[Path]:
    """The folders whose drop-ins are read, in order: `$MODELPACK_REGISTRIES_CONF_D` alone when set."""
    chosen = os.environ.get(DIR_ENV, "").strip()
    if chosen:
        if not Path(chosen).is_dir():  # a typo must not quietly leave every drop-in out
            raise UsageError(f"{DIR_ENV}={chosen} names no folder; create it (an empty one adds nothing) or "
                             "unset the variable")
        return [Path(chosen)]
    dirs = [] if users_own else [Path(f"{SYSTEM_CONF}.d")]
    if user is not None:
        dirs.append(Path(f"{user}.d"))
    return dirs


def _drop_ins(folder: Path) -> list[Path]:
    """The `*.conf` names directly in `folder` that are not folders (symlinks included, as containers/image
    takes them), sorted; none when it does not exist."""
    found: list[Path] = []
    try:
        with os.scandir(folder) as entries:
            for count, entry in enumerate(entries):
                if count >= MAX_DIR_ENTRIES:
                    raise UsageError(f"{folder} holds over {MAX_DIR_ENTRIES} names; a registries.conf.d holds a "
                                     "few drop-ins: clean it up")
                if entry.name.endswith(".conf") and not entry.is_dir(follow_symlinks=False):
                    found.append(Path(entry.path))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise UsageError(f"cannot list {folder}: {exc.strerror or exc}") from None
    if len(found) > MAX_DROP_INS:
        raise UsageError(f"{len(found)} drop-in files in {folder}: over the {MAX_DROP_INS} modelpack reads; merge "
                         "them")
    return sorted(found)


def _home() -> Path | None:
    home = os.environ.get("HOME", "")
    if not home:
        try:
            home = str(Path.home())
        except RuntimeError:  # no home directory (a bare service account): the system files alone
            return None
    return Path(home)


def load() -> RegistriesConf:
    """The registries configuration in effect, read again when a file changes.

    Raises:
        UsageError: a file cannot be read, is over 1 MiB, or is malformed, or two tables conflict (the
            file is named).
    """
    files = config_files()
    key = tuple(_signature(path, index > 0) for index, path in enumerate(files))
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    merged: dict[str, RegistryEntry] = {}
    aliases: dict[str, Alias] = {}
    helpers: tuple[str, ...] | None = None
    read: list[str] = []
    for index, (path, (_, _, size)) in enumerate(zip(files, key, strict=True)):
        if size < 0:
            continue
        entries, named, listed = parse_file(_read(path), str(path), drop_in=index > 0)
        if listed is not None:  # a later file's list replaces an earlier one's, as in containers/image
            helpers = listed
        for entry in entries:
            merged[entry.prefix] = entry  # a drop-in's table replaces the same prefix's earlier one
        aliases.update((alias.name, alias) for alias in named)  # and its alias the same name's
        read.append(str(path))
    check_conflicts(merged.values())
    conf = RegistriesConf(tuple(merged.values()), tuple(read), tuple(aliases.values()), helpers or ())
    with _cache_lock:
        _cache.clear()  # one configuration is in effect at a time: keep only the latest
        _cache[key] = conf
    return conf


def _signature(path: Path, drop_in: bool) -> tuple[str, int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        if drop_in:  # listed, so it is a dangling symlink: containers/image fails to read it too
            raise UsageError(f"cannot read {path}: it is a symlink to nothing; fix or remove it") from None
        return (str(path), 0, -1)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}; fix or remove it") from None
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the read; a folder is no file
        raise UsageError(f"cannot read {path}: it is not a regular file; fix or remove it")
    return (str(path), st.st_mtime_ns, st.st_size)


def _read(path: Path) -> str:
    try:
        data = read_capped(path, MAX_CONF_BYTES)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if data is None:
        raise UsageError(f"{path} is over {MAX_CONF_BYTES >> 20} MiB; a registries.conf is a few KiB: fix it")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text; fix or remove it") from None
