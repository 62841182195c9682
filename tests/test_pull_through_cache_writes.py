"""A write sent to a pull-through cache, a real Distribution (`proxy: remoteurl:`) in front of a real
origin: a platform engineer pushing, tagging or deleting at the mirror's address instead of the origin's.
The cache answers every write 405 UNSUPPORTED; the line said only that, as if modelpack had sent something
wrong. It now says the registry takes no writes and to write to its origin (exit 1, as any refusal)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from helpers import modelpack
from registry_process import Registry
from test_mirrors import make_model

TAKES_NO_WRITES = ("; it takes no writes: a pull-through cache (Distribution's proxy.remoteurl) or a read-only "
                   "registry; write to its origin\n")


def test_writes_to_a_pull_through_cache_name_its_origin(fresh_registry: Callable[..., Registry],
                                                         tmp_path: Path) -> None:
    origin = fresh_registry()
    cache = fresh_registry(proxy=origin.url, delete=True)
    pushed = modelpack("push", "--plain-http", str(make_model(tmp_path / "model")), f"{origin.host}/team/m:1")
    assert pushed.code == 0, pushed.err

    new = tmp_path / "new"
    new.mkdir()
    (new / "weights.bin").write_bytes(b"only here")
    for args in (("push", str(new), f"{cache.host}/team/new:1"),
                 ("tag", "--remote", f"{cache.host}/team/m:1", "prod"),
                 ("copy", f"{origin.host}/team/m:1", f"{cache.host}/team/m:copy")):
        run = modelpack(*args, "--plain-http")
        assert (run.code, run.out) == (1, ""), run.err
        assert run.err.startswith("error: ") and run.err.endswith(TAKES_NO_WRITES), run.err
        assert run.err.count("\n") == 1, run.err

    removed = modelpack("rm", "--remote", "--plain-http", f"{cache.host}/team/m:1")
    assert removed.code == 1, removed.err
    assert removed.err.endswith("; a pull-through cache (proxy.remoteurl) deletes nothing: delete at its origin\n")
    assert modelpack("resolve", "--plain-http", f"{origin.host}/team/m:1").code == 0


def test_a_copy_to_a_repository_the_origin_lacks_says_the_cache_takes_no_writes(
        fresh_registry: Callable[..., Registry], tmp_path: Path) -> None:
    """The cache answers a manifest by digest its origin lacks with `500 UNKNOWN` (the origin's
    MANIFEST_UNKNOWN nested in it): `copy` asked it once, retried the 500 for ~13 s in silence, then said
    "answered HTTP 500". It is the origin's 404: final at once, and the write that follows says what the
    cache is."""
    origin = fresh_registry()
    cache = fresh_registry(proxy=origin.url)
    pushed = modelpack("push", "--plain-http", str(make_model(tmp_path / "model")), f"{origin.host}/team/m:1")
    assert pushed.code == 0, pushed.err
    digest = pushed.out.strip().rsplit("@", 1)[1]

    copied = modelpack("copy", "--plain-http", f"{origin.host}/team/m:1", f"{cache.host}/team/new:1")
    assert (copied.code, copied.out) == (1, ""), copied.err
    assert copied.err.startswith("error: ") and copied.err.endswith(TAKES_NO_WRITES), copied.err
    assert copied.err.count("\n") == 1, copied.err
    asked = [line for line in cache.log().splitlines() if "http.request.method=HEAD" in line
             and f"/v2/team/new/manifests/{digest}" in line and "http.response.status=500" in line]
    assert len(asked) == 1, asked  # asked once: not retried

    read = modelpack("inspect", "--remote", "--plain-http", f"{cache.host}/team/new@{digest}")
    assert read.code == 3 and "not found (MANIFEST_UNKNOWN from its origin, which " in read.err, read.err


def test_a_push_the_origin_holds_already_says_nothing_was_written(fresh_registry: Callable[..., Registry],
                                                                   tmp_path: Path) -> None:
    """`push DIR CACHE/team/m:1` of the model the origin's team/m:1 names: the cache answers the tag with
    it, so nothing is sent, and the cache takes no write anyway; it printed "pushed ...: 0 blobs". It now
    says nothing was written, and why (as for any registry whose tag names the model already)."""
    origin = fresh_registry()
    cache = fresh_registry(proxy=origin.url)
    model = make_model(tmp_path / "model")
    pushed = modelpack("push", "--plain-http", str(model), f"{origin.host}/team/m:1")
    assert pushed.code == 0 and pushed.err.startswith("pushed "), pushed.err
    for args in (("push", str(model), f"{cache.host}/team/m:1"),
                 ("copy", f"{origin.host}/team/m:1", f"{cache.host}/team/m:1")):
        run = modelpack(*args, "--plain-http")
        assert (run.code, run.out) == (0, pushed.out.replace(origin.host, cache.host)), run.err
        assert run.err == f"nothing written to {cache.host}/team/m:1: its tag names this model already " \
                          "(3 blobs present)\n", run.err
    as_json = modelpack("push", "--plain-http", "--json", str(model), f"{cache.host}/team/m:1")
    assert json.loads(as_json.out)["written"] is False, as_json.out
