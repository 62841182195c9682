"""The registries.conf settings modelpack does not use: each said once with -v, `[aliases]` kept only to
be named when a short name is refused. No network."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from modelpack.errors import InvalidReferenceError
from modelpack.oci.reference import Reference
from modelpack.store import registries_files as files
from modelpack.store.registries_parse import parse_file
from modelpack.store.remote_routes import require_registry

PODMANS = '''unqualified-search-registries = ["docker.io"]
short-name-mode = "enforcing"
credential-helpers = ["containers-auth.json", "secretservice"]

[aliases]
"mymodel" = "registry.example.com/team/mymodel"
"tagged" = "registry.example.com/team/m:1"
"short" = "team/m"
"odd" = 3
'''


def test_each_unused_setting_is_one_verbose_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="modelpack.mirrors"):
        entries, aliases, helpers = parse_file(PODMANS, "/etc/x.conf")
    assert entries == [] and helpers == ("containers-auth.json", "secretservice")
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "/etc/x.conf: unqualified-search-registries not used: modelpack takes fully qualified references only "
        "(registry.example.com/team/model:1)",
        "/etc/x.conf: short-name-mode not used: modelpack takes fully qualified references only "
        "(registry.example.com/team/model:1)",
        "/etc/x.conf: [aliases] (4 short names) not used: modelpack takes fully qualified references only "
        "(registry.example.com/team/model:1)",
    ]  # credential-helpers is followed (tests/test_credential_helpers_conf.py), so not said
    assert all(r.levelno == logging.DEBUG for r in caplog.records)  # -v only
    # Only targets that are what the man page asks for: fully qualified, no tag or digest.
    assert [(a.name, a.target) for a in aliases] == [("mymodel", "registry.example.com/team/mymodel")]

    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="modelpack.mirrors"):
        parse_file('[registries.search]\nregistries = ["docker.io"]\n', "/etc/v1.conf")
    assert [r.getMessage() for r in caplog.records] == [
        "/etc/v1.conf: [registries.search] not used: modelpack takes fully qualified references only "
        "(registry.example.com/team/model:1)"]


def test_a_short_name_with_an_alias_is_refused_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    main = tmp_path / "registries.conf"
    main.write_text(PODMANS)
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "50-later.conf").write_text('[aliases]\n"mymodel" = "other.example.com/models/mymodel"\n')
    monkeypatch.setenv(files.ENV, str(main))
    monkeypatch.setenv(files.DIR_ENV, str(folder))
    with pytest.raises(InvalidReferenceError) as refused:
        require_registry(Reference.parse("mymodel:2"))
    assert str(refused.value) == (  # a later file's alias of the same name replaces the earlier one
        f"reference mymodel:2 names no registry; [aliases] in {folder / '50-later.conf'} names "
        "other.example.com/models/mymodel for it, which modelpack does not follow: write "
        "other.example.com/models/mymodel:2")
    with pytest.raises(InvalidReferenceError, match=r"^reference short:1 names no registry; write it as e.g. "
                                                    r"localhost:5000/short$"):
        require_registry(Reference.parse("short:1"))  # its target is no full name: no alias
    (folder / "60-broken.conf").write_text("not toml [")
    with pytest.raises(InvalidReferenceError, match=r"^reference mymodel:2 names no registry; write it as e.g."):
        require_registry(Reference.parse("mymodel:2"))  # the broken file is the next command's news
    require_registry(Reference.parse("registry.example.com/team/m:1"))  # a full name: nothing to say
