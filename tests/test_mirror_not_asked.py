"""README suggests `pull-from-mirror = "digest-only"` when tags must come from the origin. With the origin
down, a pull or listing by tag then reads no mirror (rightly), but said only "cannot connect to ORIGIN",
as if registries.conf named no mirror at all: a platform engineer checking the cache's config could not
tell why it was passed by. The line now names each mirror the pull's kind may not use, and why. A real
Distribution pull-through cache (`proxy: remoteurl:`) in front of a Distribution origin, then stopped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry
from test_mirrors import make_model, mirrored, write_conf

pytestmark = pytest.mark.interop


def _origin_down(fresh_registry: Callable[..., Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 pull_from: str) -> tuple[Registry, Registry, str]:
    """(origin, cache, the model's digest reference): pushed, pulled once through the cache, origin stopped."""
    origin = fresh_registry()
    cache = fresh_registry(proxy=origin.url)
    write_conf(tmp_path, monkeypatch, mirrored(origin.host, cache.host, pull_from=pull_from))
    pushed = modelpack("push", "--plain-http", str(make_model(tmp_path / "model")), f"{origin.host}/team/m:1")
    assert pushed.code == 0, pushed.err
    origin.stop()
    return origin, cache, pushed.out.strip()


@pytest.mark.parametrize("command", [("pull", "-o", "{out}"), ("resolve",), ("ls",)])
def test_a_tag_read_names_the_digest_only_mirror_it_did_not_ask(
        fresh_registry: Callable[..., Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        command: tuple[str, ...]) -> None:
    origin, cache, _ = _origin_down(fresh_registry, tmp_path, monkeypatch, "digest-only")
    reference = f"{origin.host}/team/m" + ("" if command[0] == "ls" else ":1")
    args = [a.format(out=tmp_path / "out") for a in command]
    run = modelpack(args[0], *args[1:], reference, "--plain-http")
    assert (run.code, run.out) == (5, ""), run.err
    assert run.err == (f"error: cannot connect to {origin.host}: connection refused (mirrors not asked: "
                       f'{cache.host}, pull-from-mirror = "digest-only": pulls by digest only)\n')
    assert not (tmp_path / "out").exists()


def test_a_digest_read_names_the_tag_only_mirror_it_did_not_ask(
        fresh_registry: Callable[..., Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    origin, cache, by_digest = _origin_down(fresh_registry, tmp_path, monkeypatch, "tag-only")
    run = modelpack("inspect", "--remote", by_digest, "--plain-http")
    assert (run.code, run.out) == (5, ""), run.err
    assert run.err == (f"error: cannot connect to {origin.host}: connection refused (mirrors not asked: "
                       f'{cache.host}, pull-from-mirror = "tag-only": pulls by tag only)\n')


def test_a_mirror_that_was_asked_is_said_as_before(
        fresh_registry: Callable[..., Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A digest the cache never served, through a digest-only mirror: asked, and said as "tried first".
    origin, cache, _ = _origin_down(fresh_registry, tmp_path, monkeypatch, "digest-only")
    run = modelpack("resolve", f"{origin.host}/team/m@sha256:{'0' * 64}", "--plain-http")
    assert run.code == 5, run.err
    assert f"(mirrors tried first: {cache.host}: " in run.err and "not asked" not in run.err, run.err


def test_v_says_why_a_mirror_was_passed_over_in_the_clis_words(
        fresh_registry: Callable[..., Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # -v's line for a mirror passed over quoted its error in Python's terms
    # ("modelpack.list_versions('CACHE/team/m') lists its versions"), and the tag list's said "unreachable
    # (unreachable)"; the CLI's lines name commands, and the origin's own failure.
    origin, cache, _ = _origin_down(fresh_registry, tmp_path, monkeypatch, "all")
    resolved = modelpack("-v", "resolve", f"{origin.host}/team/m:1", "--plain-http")
    assert resolved.code == 5, resolved.err
    assert (f"modelpack.mirrors: manifest 1: {cache.host} (mirror) failed: {cache.host}/team/m:1: not found "
            f"(HTTP 404); `modelpack ls {cache.host}/team/m` lists its versions; trying the next endpoint"
            in resolved.err.splitlines()), resolved.err
    listed = modelpack("-v", "ls", f"{origin.host}/team/m", "--plain-http")
    assert listed.code == 5, listed.err
    assert (f"modelpack.mirrors: tag list: {origin.host} (origin) unreachable (cannot connect to {origin.host}: "
            "connection refused); asking the mirrors" in listed.err.splitlines()), listed.err
    assert "modelpack.list_" not in resolved.err + listed.err
