"""Versions as a registry: ls with filters and sorting, diff, aliases, resolve, delete, copy with
signatures to another registry, tag pagination."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import modelpack as mp
from fault_proxy import FaultProxy
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)


def _one_file_model(tmp_path: Path, name: str, data: bytes) -> Path:
    """A model folder `tmp_path/m` holding one file."""
    model = tmp_path / "m"
    model.mkdir()
    (model / name).write_bytes(data)
    return model


def _push_versions(repo: str, tmp_path: Path) -> dict[str, str]:
    """Three versions: accuracy 0.81, 0.93, 0.88; v3 adds a file and drops another."""
    digests = {}
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.safetensors").write_bytes(os.urandom(5000))
    (model / "notes.md").write_text("v1 notes")
    for version, accuracy, stage in (("1.0.0", 0.81, "dev"), ("1.1.0", 0.93, "prod"), ("1.2.0", 0.88, "dev")):
        if version == "1.2.0":
            (model / "notes.md").unlink()
            (model / "tokenizer.json").write_text("{}")
            (model / "weights.safetensors").write_bytes(os.urandom(6000))
        result = mp.push(model, f"{repo}:{version}", [f"version={version}", f"metrics.accuracy={accuracy}",
                                                      f"labels.stage={stage}", "framework=pytorch"], options=PLAIN)
        digests[version] = result.descriptor.digest
    return digests


def test_ls_filters_sorts_and_caches(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    repo = proxy.host + "/" + registry.repo().split("/", 1)[1]
    digests = _push_versions(repo, tmp_path)
    listed = modelpack("ls", "--plain-http", "--json", repo)
    assert listed.code == 0, listed.err
    rows = json.loads(listed.out)
    assert {r["tag"]: r["digest"] for r in rows} == digests
    assert all({"tag", "digest", "metadata", "size", "created"} <= set(r) for r in rows)

    best = json.loads(modelpack("ls", "--plain-http", "--json", "--where", "metrics.accuracy>=0.85",
                                "--sort", "-metrics.accuracy", repo).out)
    assert [r["tag"] for r in best] == ["1.1.0", "1.2.0"]
    prod = json.loads(modelpack("ls", "--plain-http", "--json", "--where", "labels.stage=prod",
                                "--where", "framework==pytorch", repo).out)
    assert [r["tag"] for r in prod] == ["1.1.0"]
    table = modelpack("ls", "--plain-http", "--sort", "version", repo)
    assert [line.split()[0] for line in table.out.splitlines()[1:]] == ["1.0.0", "1.1.0", "1.2.0"]

    # Manifests are cached by digest: a second listing only lists tags and resolves them.
    proxy.clear()
    assert modelpack("ls", "--plain-http", repo).code == 0
    assert proxy.requests("GET", "/manifests/") == []
    assert len(proxy.requests("HEAD", "/manifests/")) == 3


def test_bad_where_is_one_line() -> None:
    result = modelpack("ls", "--plain-http", "--where", "accuracy>>", "localhost:1/a/b")
    assert result.code == 2 and result.err.startswith("error: ") and "FIELD OP VALUE" in result.err


def test_diff_shows_files_and_metric_changes(registry: Registry, tmp_path: Path) -> None:
    repo = registry.repo()
    _push_versions(repo, tmp_path)
    result = modelpack("diff", "--plain-http", "--json", f"{repo}:1.0.0", f"{repo}:1.2.0")
    assert result.code == 0, result.err
    diff = json.loads(result.out)
    assert [f["path"] for f in diff["files"]["added"]] == ["tokenizer.json"]
    assert [f["path"] for f in diff["files"]["removed"]] == ["notes.md"]
    assert [f["path"] for f in diff["files"]["changed"]] == ["weights.safetensors"]
    assert diff["files"]["changed"][0]["newSize"] == 6000
    assert diff["metrics"]["accuracy"] == {"old": 0.81, "new": 0.88}
    assert diff["metadata"]["version"] == {"old": "1.0.0", "new": "1.2.0"}
    same = modelpack("diff", "--plain-http", f"{repo}:1.0.0", f"{repo}:1.0.0")
    assert same.out.strip() == "no differences"
    # The second a bare tag: a version in the first's repository (was: "1.2.0 names no registry").
    beside = modelpack("diff", "--plain-http", "--json", f"{repo}:1.0.0", "1.2.0")
    assert beside.code == 0, beside.err
    assert json.loads(beside.out) == diff


def test_alias_resolve_and_delete(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    repo = proxy.host + "/" + registry.repo().split("/", 1)[1]
    digests = _push_versions(repo, tmp_path)
    proxy.clear()
    assert modelpack("tag", "--remote", "--plain-http", f"{repo}:1.1.0", f"{repo}:champion").code == 0
    assert proxy.requests("GET", "/blobs/") == [] and proxy.requests("PUT", "/blobs/") == []
    assert modelpack("resolve", "--plain-http", f"{repo}:champion").out.strip() == digests["1.1.0"]

    deleted = modelpack("rm", "--remote", "--plain-http", f"{repo}:1.0.0")
    assert deleted.code == 0, deleted.err
    gone = modelpack("resolve", "--plain-http", f"{repo}:1.0.0")
    assert gone.code == 3 and "not found" in gone.err


def test_tags_are_followed_across_pages(registry: Registry, tmp_path: Path) -> None:
    repo = registry.repo()
    model = _one_file_model(tmp_path, "w.bin", b"w")
    mp.push(model, f"{repo}:t0", options=PLAIN)
    for i in range(1, 7):
        mp.tag_remote(f"{repo}:t0", f"{repo}:t{i}", options=PLAIN)
    remote = mp.remote(mp.Reference.parse(repo), PLAIN)
    assert sorted(remote.tags(page_size=2)) == [f"t{i}" for i in range(7)]


def test_copy_to_another_registry_keeps_the_signature(
    registry: Registry, fresh_registry: Callable[..., Registry], cosign_bin: Path, tmp_path: Path
) -> None:
    model = _one_file_model(tmp_path, "w.safetensors", os.urandom(20_000))
    src = registry.repo() + ":1"
    digest = mp.push(model, src, options=PLAIN).descriptor.digest
    keys = tmp_path / "keys"
    assert modelpack("generate-key-pair", "-d", str(keys), env={"COSIGN_PASSWORD": "pw"}).code == 0
    assert modelpack("sign", "--plain-http", "--key", str(keys / "cosign.key"), src,
                     env={"COSIGN_PASSWORD": "pw"}).code == 0
    other = fresh_registry()
    dst = f"{other.host}/mirror/model:1"
    copied = modelpack("copy", "--plain-http", "--json", src, dst)
    assert copied.code == 0, copied.err
    assert json.loads(copied.out)["digest"] == digest
    checked = subprocess.run([str(cosign_bin), "verify", "--key", str(keys / "cosign.pub"),
                              "--insecure-ignore-tlog=true", "--allow-http-registry", "--allow-insecure-registry",
                              f"{other.host}/mirror/model@{digest}"], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stderr
    out = tmp_path / "out"
    assert modelpack("pull", "--plain-http", "--verify-key", str(keys / "cosign.pub"), dst, "-o", str(out)).code == 0
    assert (out / "w.safetensors").read_bytes() == (model / "w.safetensors").read_bytes()


def test_lineage_is_pinned_at_pack_time(registry: Registry, tmp_path: Path) -> None:
    repo = registry.repo()
    model = _one_file_model(tmp_path, "w.safetensors", os.urandom(1000))
    base = mp.push(model, f"{repo}/base:latest", ["version=1"], options=PLAIN).descriptor.digest
    data = mp.push(model, f"{repo}/data:v1", ["version=d1"], options=PLAIN).descriptor.digest
    child = mp.push(model, f"{repo}/child:1", ["version=2", f"parent={repo}/base:latest",
                                                f"datasets={repo}/data:v1,imagenet"], options=PLAIN)
    mp.push(model, f"{repo}/grandchild:1", ["version=3", f"parent={repo}/child:1"], options=PLAIN)
    mp.push(model, f"{repo}/base:latest", ["version=1-retrained"], options=PLAIN)  # the tag moves on

    info = mp.inspect(f"{repo}/child:1", remote_only=True, options=PLAIN).to_json()
    assert info["metadata"]["parent"] == f"{repo}/base:latest@{base}"
    assert info["metadata"]["datasets"] == [f"{repo}/data:v1@{data}", "imagenet"]
    result = modelpack("lineage", "--plain-http", "--json", f"{repo}/grandchild:1")
    assert result.code == 0, result.err
    chain = json.loads(result.out)
    assert [entry["version"] for entry in chain] == ["3", "2", "1"]
    assert chain[1]["digest"] == child.descriptor.digest and chain[2]["digest"] == base


def test_a_parent_is_pinned_to_what_its_registry_serves_not_a_stale_local_tag(registry: Registry,
                                                                               tmp_path: Path) -> None:
    # The README's quick start: `pack -t X`, later `push DIR X`: the local X stays on the first digest.
    repo = registry.repo()
    model = _one_file_model(tmp_path, "w.safetensors", os.urandom(1000))
    stale = mp.pack(model, f"{repo}/base:1", ["version=1", "metrics.f1=0.5"]).descriptor.digest
    pushed = mp.push(model, f"{repo}/base:1", ["version=1", "metrics.f1=0.7"], options=PLAIN).descriptor.digest
    assert stale != pushed
    child = modelpack("push", "--plain-http", str(model), f"{repo}/child:2", "--set", "version=2",
                      "--set", f"parent={repo}/base:1")
    assert child.code == 0, child.err
    info = mp.inspect(f"{repo}/child:2", remote_only=True, options=PLAIN).to_json()
    assert info["metadata"]["parent"] == f"{repo}/base:1@{pushed}"
    # Offline (the parent's registry does not answer), the local store's tag pins it, with a warning.
    offline = modelpack("pack", str(model), "-t", "example.com/a/child:3", "--set", "version=3",
                        "--set", "parent=127.0.0.1:1/gone/model:1")
    assert offline.code == 5, offline.err  # nothing local either: refused, as the unreachable registry it is
    mp.pack(model, "127.0.0.1:1/gone/model:1", ["version=0"])
    offline = modelpack("pack", str(model), "-t", "example.com/a/child:3", "--set", "version=3",
                        "--set", "parent=127.0.0.1:1/gone/model:1")
    assert offline.code == 0, offline.err
    assert "pinned 127.0.0.1:1/gone/model:1 to the local store's sha256:" in offline.err


def test_unreachable_parent_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    model = _one_file_model(tmp_path, "w.bin", b"w")
    result = modelpack("pack", str(model), "-t", "example.com/a/b:1", "--set", "parent=127.0.0.1:1/gone/model:1")
    assert result.code == 5 and "cannot pin" in result.err, result.err  # 5: a registry unreachable, as documented
    assert json.loads(modelpack("list", "--json").out) == []


def test_a_parent_its_registry_does_not_have_is_refused_as_not_found(registry: Registry, tmp_path: Path) -> None:
    model = _one_file_model(tmp_path, "w.bin", b"w")
    parent = registry.repo() + ":never-pushed"
    result = modelpack("pack", "--plain-http", str(model), "-t", "example.com/a/b:1", "--set", f"parent={parent}")
    assert result.code == 3 and f"cannot pin '{parent}'" in result.err, result.err  # 3: not found, as documented
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert json.loads(modelpack("list", "--json").out) == []


def test_copy_between_the_local_store_and_a_registry(registry: Registry, tmp_path: Path) -> None:
    model = _one_file_model(tmp_path, "w.safetensors", os.urandom(30_000))
    packed = mp.pack(model, "example.com/local/model:1")
    dst = registry.repo() + ":from-store"
    up = modelpack("copy", "--plain-http", "--from-local", "example.com/local/model:1", dst)
    assert up.code == 0, up.err
    assert modelpack("resolve", "--plain-http", dst).out.strip() == packed.descriptor.digest
    down = modelpack("copy", "--plain-http", "--to-local", dst, "example.com/back/model:2")
    assert down.code == 0, down.err
    out = tmp_path / "out"
    assert modelpack("unpack", "example.com/back/model:2", "-o", str(out)).code == 0
    assert (out / "w.safetensors").read_bytes() == (model / "w.safetensors").read_bytes()


def test_ls_of_a_tag_says_it_lists_the_repository_instead_of_ignoring_the_tag(registry: Registry,
                                                                            tmp_path: Path) -> None:
    repo = registry.repo()
    model = _one_file_model(tmp_path, "w.safetensors", os.urandom(100))
    mp.push(model, f"{repo}:1.0.0", ["version=1.0.0"], options=PLAIN)
    tagged = modelpack("ls", "--plain-http", f"{repo}:1.0.0")
    assert tagged.code == 2 and "lists every version of a repository" in tagged.err and "inspect" in tagged.err
    assert len(tagged.err.strip().splitlines()) == 1
    assert f"name the repository alone ({repo})" in tagged.err
    assert modelpack("ls", "--plain-http", repo).code == 0
    # Without a registry, that is the news first (was "name the repository alone (/team/iris)")
    bare = modelpack("ls", "team/iris:1.0")
    assert bare.err == "error: reference team/iris:1.0 names no registry; write it as e.g. localhost:5000/team/iris\n"
    assert bare.code == 2


def test_ls_of_a_repository_with_a_trailing_slash_lists_it(registry: Registry, tmp_path: Path) -> None:
    """`ls REPO/` (a shell completing a path, a URL copied) was refused as a bad repository name; no
    repository name ends in `/`, so it is REPO. A reference with a tag after the slash says the fix."""
    repo = registry.repo("slash")
    mp.push(_one_file_model(tmp_path, "w.safetensors", os.urandom(100)), f"{repo}:1.0.0", ["version=1.0.0"],
            options=PLAIN)
    listed = modelpack("ls", "--plain-http", "--json", f"{repo}/")
    assert listed.code == 0, listed.err
    assert [v["tag"] for v in json.loads(listed.out)] == ["1.0.0"]
    tagged = modelpack("pull", "--plain-http", f"{repo}/:1.0.0")
    assert tagged.code == 2 and len(tagged.err.strip().splitlines()) == 1, tagged.err
    assert f"write it without the trailing /: {repo.split('/', 1)[1]})" in tagged.err


def test_ls_without_sort_lists_newest_first_as_the_ui_does(registry: Registry, tmp_path: Path) -> None:
    """Without --sort, `ls` printed the registry's tag order (Distribution's is its directory order), so
    a reviewer's listing and the UI's page of the same repository disagreed on which version came first."""
    repo = registry.repo("order")
    model = _one_file_model(tmp_path, "w.safetensors", b"x" * 100)
    created = {"a": "2026-01-03T00:00:00Z", "b": "2026-01-05T00:00:00Z", "c": "2026-01-01T00:00:00Z",
               "d": "2026-01-04T00:00:00Z", "e": "2026-01-02T00:00:00Z"}
    for tag, when in created.items():
        mp.push(model, f"{repo}:{tag}", [f"version=1.{tag}", f"created={when}"], options=PLAIN)
    mp.tag_remote(f"{repo}:b", "prod", options=PLAIN)  # an alias: same created, ordered by tag
    newest = ["b", "prod", "d", "a", "e", "c"]
    listed = modelpack("ls", "--plain-http", "--json", repo)
    assert listed.code == 0, listed.err
    assert [row["tag"] for row in json.loads(listed.out)] == newest
    text = modelpack("ls", "--plain-http", repo)
    assert [line.split()[0] for line in text.out.splitlines()[1:]] == newest
    assert [v.tag for v in mp.list_versions(repo, options=PLAIN)] == newest


def test_ls_columns_stay_aligned_with_a_long_escaped_version(registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A version (the artifact's author wrote it) long or full of escapes widens its column, cut with an
    ellipsis past 40 characters: the digests of every row start where the header's DIGEST does."""
    repo = registry.repo("aligned")
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.safetensors").write_bytes(b"w")
    for tag, version in (("a", "1.0"), ("b", "2.0-\x1b[31m" + "x" * 60)):
        (model / "w.safetensors").write_bytes(tag.encode())
        assert modelpack("push", "--plain-http", "--set", f"version={version}", str(model), f"{repo}:{tag}").code == 0
    run = modelpack("ls", "--plain-http", repo)
    assert run.code == 0, run.err
    header, *rows = run.out.splitlines()
    created = header.index("CREATED")
    assert len(rows) == 2 and all(row[created - 2:created] == "  " and row[created] != " " for row in rows), run.out
    assert "…" in run.out and "\x1b" not in run.out
