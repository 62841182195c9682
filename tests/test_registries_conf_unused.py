"""registries.conf settings modelpack does not use, through the real CLI against a real registry: a
pull with -v says once which settings of which file it leaves unused (and without -v nothing), and a
short name that has an `[aliases]` entry is refused naming the full name to write, nothing sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import modelpack

CONF = '''credential-helpers = ["containers-auth.json"]

[aliases]
"iris" = "{repo}"
'''


def test_unused_settings_are_said_once_with_v_and_an_alias_is_named(
        tmp_path: Path, pushed: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    ref, by_digest = pushed
    repo = ref.rsplit(":", 1)[0]
    conf = tmp_path / "registries.conf"
    conf.write_text(CONF.format(repo=repo))
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))

    quiet = modelpack("pull", "--plain-http", by_digest, "-o", str(tmp_path / "a"))
    assert quiet.code == 0, quiet.err
    assert "not used" not in quiet.err

    verbose = modelpack("pull", "-v", "--plain-http", by_digest, "-o", str(tmp_path / "b"))
    assert verbose.code == 0, verbose.err
    unused = [line for line in verbose.err.splitlines() if " not used: " in line]
    assert unused == [
        f"modelpack.mirrors: {conf}: [aliases] (1 short name) not used: modelpack takes fully qualified references "
        "only (registry.example.com/team/model:1)",
    ]  # credential-helpers is followed, so not said (tests/test_credential_helpers_conf.py)

    short = modelpack("pull", "--plain-http", "iris:v1", "-o", str(tmp_path / "c"))
    assert short.code == 2
    assert short.err.strip() == (f"error: reference iris:v1 names no registry; [aliases] in {conf} names {repo} for "
                                 f"it, which modelpack does not follow: write {repo}:v1")
    assert not (tmp_path / "c").exists()
