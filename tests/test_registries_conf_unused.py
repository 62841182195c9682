"""registries.conf settings modelpack does not use, through the real CLI against a real registry: a
pull with -v says once which settings of which file it leaves unused (and without -v nothing), and a
short name that has an `[aliases]` entry is refused naming the full name to write, nothing sent. A key
registries.conf(5) does not define is one `warning:` line each, with the near miss: podman and skopeo
ignore it silently, so a typo (`[[registry.mirrors]]`) turned a mirror off unseen."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import modelpack

CONF = '''credential-helpers = ["containers-auth.json"]

[aliases]
"iris" = "{repo}"
'''


TYPOS = '''credential-helper = ["containers-auth.json"]

[[registry]]
prefix = "{host}"

[[registry.mirrors]]
location = "{host}/cache"

[[registry]]
prefix = "other.example.com"

[[registry.mirror]]
location = "cache.example.com"
pull-from-mirrors = "digest-only"
'''


def _conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    """registries.conf holding `text`, made the one in effect."""
    conf = tmp_path / "registries.conf"
    conf.write_text(text)
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    return conf


def _pulled(by_digest: str, out: Path, *flags: str) -> str:
    """`pull -o out` of the pushed model, which must succeed; its stderr."""
    run = modelpack("pull", *flags, "--plain-http", by_digest, "-o", str(out))
    assert run.code == 0, run.err
    return run.err


def test_unused_settings_are_said_once_with_v_and_an_alias_is_named(
        tmp_path: Path, pushed: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    ref, by_digest = pushed
    repo = ref.rsplit(":", 1)[0]
    conf = _conf(tmp_path, monkeypatch, CONF.format(repo=repo))

    assert "not used" not in _pulled(by_digest, tmp_path / "a")

    unused = [line for line in _pulled(by_digest, tmp_path / "b", "-v").splitlines() if " not used: " in line]
    assert unused == [
        f"modelpack.mirrors: {conf}: [aliases] (1 short name) not used: modelpack takes fully qualified references "
        "only (registry.example.com/team/model:1)",
    ]  # credential-helpers is followed, so not said (tests/test_credential_helpers_conf.py)

    short = modelpack("pull", "--plain-http", "iris:v1", "-o", str(tmp_path / "c"))
    assert short.code == 2
    assert short.err.strip() == (f"error: reference iris:v1 names no registry; [aliases] in {conf} names {repo} for "
                                 f"it, which modelpack does not follow: write {repo}:v1")
    assert not (tmp_path / "c").exists()


def test_unknown_keys_are_one_warning_each_with_the_near_miss(
        tmp_path: Path, pushed: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    ref, by_digest = pushed
    host = ref.split("/", 1)[0]
    conf = _conf(tmp_path, monkeypatch, TYPOS.format(host=host))

    warnings = [line for line in _pulled(by_digest, tmp_path / "out").splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: {conf}: 'credential-helper' at the top level is no registries.conf setting (did you mean "
        "'credential-helpers'?): ignored, as podman and skopeo ignore it",
        f"warning: {conf}: 'mirrors' in [[registry]] '{host}' is no registries.conf setting (did you mean "
        "'mirror'?): ignored, as podman and skopeo ignore it",
        f"warning: {conf}: 'pull-from-mirrors' in its [[registry.mirror]] 'cache.example.com' is no "
        "registries.conf setting (did you mean 'pull-from-mirror'?): ignored, as podman and skopeo ignore it",
    ]
    assert (tmp_path / "out" / "model.safetensors").is_file()

    conf.write_text(TYPOS.format(host=host).replace("credential-helper ", "credential-helpers ")
                    .replace("registry.mirrors", "registry.mirror").replace("mirrors =", "mirror ="))
    assert "warning:" not in _pulled(by_digest, tmp_path / "again")
