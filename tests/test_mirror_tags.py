"""A repository's tag list read through a registries.conf mirror, as pulls read: a real Distribution
pull-through cache (`proxy: remoteurl:`) in front of a Distribution origin, which is then stopped. The cache
keeps a tag it served (pulled by tag through it), and with its origin down lists those alone: `report`'s
lifecycle section and `ls REPO` show that list and say it is the mirror's, not the origin's. With the origin
up, its list (the whole one) is shown, the mirror not asked."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry
from test_mirrors import layer_digests, make_model, mirrored, served, wait_cached, write_conf

pytestmark = pytest.mark.interop


@pytest.fixture
def two_tags(fresh_registry: Callable[..., Registry], tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> tuple[Registry, Registry, str]:
    """(origin, its cache, repository): tags 1 and 2 at the origin, 1 alone pulled through the cache."""
    origin = fresh_registry()
    cache = fresh_registry(proxy=origin.url)
    write_conf(tmp_path, monkeypatch, mirrored(origin.host, cache.host))
    repository = f"{origin.host}/team/m"
    pushed = modelpack("push", "--plain-http", str(make_model(tmp_path / "model")), f"{repository}:1")
    assert pushed.code == 0, pushed.err
    tagged = modelpack("tag", "--remote", "--plain-http", f"{repository}:1", "2")
    assert tagged.code == 0, tagged.err
    warm = modelpack("pull", "--plain-http", f"{repository}:1", env={"MODELPACK_HOME": str(tmp_path / "warm")})
    assert warm.code == 0, warm.err
    wait_cached(cache, layer_digests(f"{repository}:1"))
    return origin, cache, repository


def test_origin_down_report_lists_the_caches_tags_and_says_they_are_the_mirrors(
        two_tags: tuple[Registry, Registry, str]) -> None:
    origin, cache, repository = two_tags
    origin.stop()
    report = modelpack("report", "-v", "--plain-http", "--json", f"{repository}:1")
    assert report.code == 0, report.err
    facts = json.loads(report.out)
    # The cache's list: the tag it served, not the origin's `2` (which it never saw).
    assert [sibling["tag"] for sibling in facts["siblings"]] == ["1"], facts["notes"]
    assert facts["tags"] == ["1"]
    [listing] = facts["notes"]["lifecycle"]
    assert f"listed by mirror {cache.host}" in listing and f"not by {origin.host}" in listing, listing
    assert served(report.err, "tag list") == [f"modelpack.mirrors: tag list served by {cache.host} (mirror)"]


def test_ls_reads_the_tag_list_through_the_mirror(two_tags: tuple[Registry, Registry, str]) -> None:
    origin, cache, repository = two_tags
    origin.stop()
    listed = modelpack("ls", "-v", "--plain-http", repository)
    assert listed.code == 0, listed.err
    assert [line.split()[0] for line in listed.out.splitlines()[1:]] == ["1"], listed.out
    assert f"warning: the tags were listed by mirror {cache.host} (registries.conf), not by {origin.host}" \
        in listed.err
    assert served(listed.err, "tag list") == [f"modelpack.mirrors: tag list served by {cache.host} (mirror)"]
    # Writes still go to the origin alone: down, it is the error (exit 5), the cache never asked.
    refused = modelpack("tag", "--remote", "--plain-http", f"{repository}:1", "3")
    assert refused.code == 5 and f"cannot connect to {origin.host}" in refused.err, refused.err


def test_origin_down_the_ui_shows_the_caches_versions(two_tags: tuple[Registry, Registry, str],
                                                     ui: Callable[..., str]) -> None:
    from ui_support import Pages, scan

    origin, cache, repository = two_tags
    origin.stop()
    page = Pages(ui([repository])).get(f"/r/{repository}")
    rows = [row for row in scan(page).rows if row and row[1].startswith("sha256:")]
    assert [row[0] for row in rows] == ["1"], page[-2000:]
    assert f"the tags were listed by mirror {cache.host}" in page


def test_a_report_by_digest_lists_tags_only_where_a_tag_pull_reads(
        fresh_registry: Callable[..., Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A digest-only mirror serves the model of REF@DIGEST, never its repository's tags: they come from the origin.
    origin = fresh_registry()
    cache = fresh_registry(proxy=origin.url)
    write_conf(tmp_path, monkeypatch, mirrored(origin.host, cache.host, pull_from="digest-only"))
    pushed = modelpack("push", "--plain-http", str(make_model(tmp_path / "model")), f"{origin.host}/team/m:1")
    assert pushed.code == 0, pushed.err
    by_digest = pushed.out.strip()
    report = modelpack("report", "-v", "--plain-http", "--json", by_digest)
    assert report.code == 0, report.err
    assert served(report.err, f"manifest {by_digest.split('@')[1]}")[0].endswith(f"served by {cache.host} (mirror)")
    # -v: the tags listed by the origin, the only endpoint of a tag read here; the mirror never asked.
    assert f"GET http://{origin.host}/v2/team/m/tags/list -> 200" in report.err, report.err
    assert f"{cache.host}/v2/team/m/tags/list" not in report.err
    assert [sibling["tag"] for sibling in json.loads(report.out)["siblings"]] == ["1"]
    assert "lifecycle" not in json.loads(report.out)["notes"]

    warm = modelpack("pull", "--plain-http", by_digest, env={"MODELPACK_HOME": str(tmp_path / "warm")})
    assert warm.code == 0, warm.err
    wait_cached(cache, [by_digest.split("@")[1], *layer_digests(by_digest)])
    origin.stop()
    report = modelpack("report", "-v", "--plain-http", "--json", by_digest)
    assert report.code == 0, report.err
    [listing] = json.loads(report.out)["notes"]["lifecycle"]
    assert listing.startswith("the repository's versions could not be listed: cannot connect to"), listing
    # The cache is named only as not asked (a tag read skips a digest-only mirror), and was not.
    assert listing.endswith(f'(mirrors not asked: {cache.host}, pull-from-mirror = "digest-only": pulls by digest '
                            'only)'), listing
    assert f"{cache.host}/v2/team/m/tags/list" not in report.err, report.err


def test_origin_up_its_whole_tag_list_is_shown_and_the_mirror_not_asked(
        two_tags: tuple[Registry, Registry, str]) -> None:
    _origin, cache, repository = two_tags
    listed = modelpack("ls", "-v", "--plain-http", repository)
    assert listed.code == 0, listed.err
    assert sorted(line.split()[0] for line in listed.out.splitlines()[1:]) == ["1", "2"], listed.out
    assert "listed by mirror" not in listed.err
    assert f"{cache.host}/v2/team/m/tags/list" not in listed.err, listed.err
    report = modelpack("report", "--plain-http", "--json", f"{repository}:1")
    assert report.code == 0, report.err
    assert sorted(json.loads(report.out)["tags"]) == ["1", "2"]
    assert "lifecycle" not in json.loads(report.out)["notes"]


def test_origin_down_and_no_tags_in_the_cache_the_error_says_what_the_cache_answered(
        fresh_registry: Callable[..., Registry], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A cache that served the model by digest only holds no tag: with the origin down, `ls` said only
    # "cannot connect to ORIGIN", as if no mirror were configured; a pull's line names what the mirrors said.
    origin = fresh_registry()
    cache = fresh_registry(proxy=origin.url)
    write_conf(tmp_path, monkeypatch, mirrored(origin.host, cache.host))
    pushed = modelpack("push", "--plain-http", str(make_model(tmp_path / "model")), f"{origin.host}/team/m:1")
    assert pushed.code == 0, pushed.err
    warm = modelpack("pull", "--plain-http", pushed.out.strip(), env={"MODELPACK_HOME": str(tmp_path / "warm")})
    assert warm.code == 0, warm.err
    origin.stop()
    listed = modelpack("ls", "--plain-http", f"{origin.host}/team/m")
    assert (listed.code, listed.out) == (5, ""), listed.err
    assert listed.err == (f"error: cannot connect to {origin.host}: connection refused "
                          f"(mirrors asked after it: {cache.host}: not found)\n")
