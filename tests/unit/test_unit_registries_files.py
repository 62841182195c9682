"""Which registries.conf files are read and how they merge, as containers/image reads them (checked
against skopeo in tests/test_mirrors_match_skopeo.py): no network."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from modelpack.errors import UsageError
from modelpack.store import registries_files as files

BLOCK = '[[registry]]\nlocation = "{host}"\nblocked = true\n'


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A $HOME of its own and a system file in a temporary folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(files.ENV, raising=False)
    monkeypatch.delenv(files.DIR_ENV, raising=False)  # the default folders, here under tmp_path
    system = tmp_path / "etc" / "registries.conf"
    (tmp_path / "etc" / "registries.conf.d").mkdir(parents=True)
    system.write_text("")
    monkeypatch.setattr(files, "SYSTEM_CONF", system)
    (tmp_path / "home" / ".config" / "containers" / "registries.conf.d").mkdir(parents=True)
    return tmp_path / "home" / ".config" / "containers"


def test_the_env_file_replaces_the_main_file_and_both_drop_in_folders_still_apply(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = tmp_path / "chosen.conf"
    chosen.write_text(BLOCK.format(host="a.example.com"))
    (tmp_path / "etc" / "registries.conf.d" / "10-sys.conf").write_text(BLOCK.format(host="s.example.com"))
    (home / "registries.conf.d" / "20-user.conf").write_text(BLOCK.format(host="u.example.com"))
    monkeypatch.setenv(files.ENV, str(chosen))
    assert files.config_files() == [chosen, tmp_path / "etc" / "registries.conf.d" / "10-sys.conf",
                                    home / "registries.conf.d" / "20-user.conf"]
    conf = files.load()
    assert all(conf.entry_for(f"{h}.example.com/m").blocked for h in "asu")  # type: ignore[union-attr]

    monkeypatch.setenv(files.ENV, str(tmp_path / "missing.conf"))  # podman refuses it too
    with pytest.raises(UsageError, match=r"CONTAINERS_REGISTRIES_CONF=.*missing.conf names no file; create it"):
        files.config_files()


def test_the_users_file_is_under_home_and_then_only_the_users_drop_ins_apply(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "etc" / "registries.conf.d" / "10-sys.conf").write_text(BLOCK.format(host="s.example.com"))
    (home / "registries.conf.d" / "50-block.conf").write_text(BLOCK.format(host="a.example.com"))
    (home / "registries.conf.d" / "ignored.txt").write_text("not toml [")
    (home / "registries.conf.d" / "sub.conf").mkdir()  # a folder, even named *.conf, is not read
    (home / "registries.conf.d" / "sub.conf" / "x.conf").write_text("not toml [")
    assert files.config_files()[0] == tmp_path / "etc" / "registries.conf"  # no user file yet
    (home / "registries.conf").write_text('[[registry]]\nlocation = "a.example.com"\ninsecure = true\n'
                                          '[[registry]]\nlocation = "b.example.com"\ninsecure = true\n')
    # XDG_CONFIG_HOME is not where containers/image looks.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "elsewhere"))
    assert files.config_files() == [home / "registries.conf", home / "registries.conf.d" / "50-block.conf"]
    entry = files.load().entry_for("a.example.com/m")
    assert entry is not None and entry.blocked and not entry.insecure  # replaced whole, by prefix
    assert entry.source.endswith("50-block.conf")


def test_unreadable_drop_ins_and_conflicts_are_one_line(home: Path, tmp_path: Path) -> None:
    folder = home / "registries.conf.d"
    loop = folder / "loop.conf"
    os.symlink(loop.name, loop)  # a symlink to itself
    with pytest.raises(UsageError, match=r"cannot read .*loop.conf: Too many levels of symbolic links; fix or "):
        files.load()
    loop.unlink()
    os.symlink("nowhere.conf", folder / "dangling.conf")
    with pytest.raises(UsageError, match=r"cannot read .*dangling.conf: it is a symlink to nothing"):
        files.load()
    (folder / "dangling.conf").unlink()

    (folder / "v1.conf").write_text('[registries.block]\nregistries = ["a.example.com"]\n')
    with pytest.raises(UsageError, match=r"v1.conf: a drop-in must be version 2"):
        files.load()
    (folder / "v1.conf").write_text('[[registry]]\nprefix = "a.example.com/team"\nlocation = "a.example.com"\n'
                                    '[[registry]]\nlocation = "a.example.com"\nblocked = true\n')
    with pytest.raises(UsageError, match=r"v1.conf: location 'a.example.com' is defined more than once with "
                                         r"conflicting blocked"):
        files.load()


def test_hostile_sizes_are_bounded(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.conf"
    with big.open("wb") as out:
        out.truncate(50 << 20)  # 50 MB (sparse): only the first MiB is ever read
    monkeypatch.setenv(files.ENV, str(big))
    with pytest.raises(UsageError, match=r"big.conf is over 1 MiB"):
        files.load()
    monkeypatch.delenv(files.ENV)
    for n in range(files.MAX_DROP_INS + 1):
        (home / "registries.conf.d" / f"{n:04}.conf").write_text("")
    with pytest.raises(UsageError, match=f"{files.MAX_DROP_INS + 1} drop-in files in .*: over the 100"):
        files.load()


def test_hostile_shapes_are_refused_in_one_line(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelpack.store.registries_parse import MAX_MIRRORS

    many = tmp_path / "many.conf"
    many.write_text('[[registry]]\nlocation = "o.example.com"\n' +
                    "".join(f'[[registry.mirror]]\nlocation = "m{n}.example.com"\n' for n in range(10_000)))
    monkeypatch.setenv(files.ENV, str(many))
    with pytest.raises(UsageError, match=f"many.conf: prefix 'o.example.com' lists 10000 mirrors; modelpack tries at "
                                         f"most {MAX_MIRRORS}: keep the nearest"):
        files.load()
    monkeypatch.delenv(files.ENV)

    # Folders in registries.conf.d are not walked, however deep (as containers/image ignores them).
    deep = home / "registries.conf.d"
    for n in range(200):
        deep = deep / f"d{n}.conf"
    deep.mkdir(parents=True)
    (deep / "x.conf").write_text("not toml [")
    assert files.config_files() == [tmp_path / "etc" / "registries.conf"]
    os.mkfifo(home / "registries.conf.d" / "fifo.conf")  # reading it would wait for a writer forever
    with pytest.raises(UsageError, match=r"cannot read .*fifo.conf: it is not a regular file"):
        files.load()
    # The folder itself a symlink loop: one line naming it.
    shutil.rmtree(home / "registries.conf.d")
    os.symlink("registries.conf.d", home / "registries.conf.d")
    with pytest.raises(UsageError, match=r"cannot list .*registries.conf.d: Too many levels of symbolic links"):
        files.load()


def test_the_chosen_drop_in_folder_is_read_instead_of_both(home: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "etc" / "registries.conf.d" / "10-sys.conf").write_text(BLOCK.format(host="s.example.com"))
    (home / "registries.conf.d" / "20-user.conf").write_text(BLOCK.format(host="u.example.com"))
    chosen = tmp_path / "chosen.d"
    chosen.mkdir()
    (chosen / "30-own.conf").write_text(BLOCK.format(host="c.example.com"))
    monkeypatch.setenv(files.DIR_ENV, str(chosen))
    assert files.config_files() == [tmp_path / "etc" / "registries.conf", chosen / "30-own.conf"]
    (home / "registries.conf").write_text("")  # the user's main file: still only the chosen folder
    assert files.config_files() == [home / "registries.conf", chosen / "30-own.conf"]
    conf = files.load()
    assert conf.entry_for("c.example.com/m") is not None
    assert conf.entry_for("s.example.com/m") is None and conf.entry_for("u.example.com/m") is None

    for wrong in (tmp_path / "missing.d", chosen / "30-own.conf"):  # a typo must not quietly read nothing
        monkeypatch.setenv(files.DIR_ENV, str(wrong))
        with pytest.raises(UsageError, match=f"MODELPACK_REGISTRIES_CONF_D={wrong} names no folder; create it"):
            files.config_files()
