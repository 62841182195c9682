"""`-v` through a mirror: a pull-through cache answering 404 for a signature's fallback tag (`sha256-<hex>`,
asked on every pull by digest) was logged with the advice for a mistyped version, '`modelpack ls
CACHE/team/m` lists its versions', which no signature lookup calls for. Now the line says the 404 alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry
from test_mirrors import cache_pair, make_model, mirrored, write_conf

__all__ = ["cache_pair"]  # the fixture, used by name


def test_a_missing_signature_tag_at_the_mirror_is_logged_without_version_advice(
        cache_pair: tuple[Registry, Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    origin, cache = cache_pair
    pushed = modelpack("push", "--plain-http", str(make_model(tmp_path / "model")), f"{origin.host}/team/m:1")
    assert pushed.code == 0, pushed.err
    write_conf(tmp_path, monkeypatch, mirrored(origin.host, cache.host))
    pulled = modelpack("pull", "-v", "--plain-http", pushed.out.strip(), "-o", str(tmp_path / "out"))
    assert pulled.code == 0, pulled.err
    said = [line for line in pulled.err.splitlines() if "manifest sha256-" in line and "failed" in line]
    assert said and all(line.endswith("not found (HTTP 404); trying the next endpoint") for line in said), said
