"""Partial pull: --include, --exclude and --kind fetch only the chosen layers' blobs (checked on the wire); the
local store records such a model as partial, and a later full pull completes it with only what is missing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import modelpack as mp
from fault_proxy import FaultProxy
from helpers import modelpack
from modelpack.oci import digest as digests
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_transfer import _repo

PLAIN = ClientOptions(plain_http=True)


def _model(root: Path) -> dict[str, str]:
    """Two weights (one nested), a config, a README and a script; path -> digest."""
    files = {"model.safetensors": os.urandom(120_000), "shards/part-2.safetensors": os.urandom(90_000),
             "config.json": b'{"hidden": 4}\n', "README.md": b"# partial\n", "run.py": b"print('hi')\n"}
    out = {}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        out[rel] = digests.of_bytes(data)
    return out


def _pushed(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> tuple[str, dict[str, str]]:
    files = _model(tmp_path / "m")
    ref = _repo(registry, proxy) + ":1"
    mp.push(tmp_path / "m", ref, options=PLAIN)
    proxy.clear()
    return ref, files


def _layer_gets(proxy: FaultProxy, files: dict[str, str]) -> set[str]:
    """The files whose blobs were fetched (the config blob is always fetched and not counted)."""
    fetched = {line.rsplit("/", 1)[1] for line in proxy.requests("GET", "/blobs/")}
    return {rel for rel, digest in files.items() if digest in fetched}


def test_include_fetches_only_the_matching_blobs(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    ref, files = _pushed(registry, proxy, tmp_path)
    result = modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "out"), "--include", "*.json",
                       "--include", "shards/")
    assert result.code == 0, result.err
    assert _layer_gets(proxy, files) == {"config.json", "shards/part-2.safetensors"}
    assert len(proxy.requests("GET", "/blobs/")) == 3  # and the config blob
    restored = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")
                      if p.is_file())
    assert restored == ["config.json", "modelpack.yaml", "shards/part-2.safetensors"]


def test_kind_and_exclude_choose_layers(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    ref, files = _pushed(registry, proxy, tmp_path)
    mp.pull(ref, output=tmp_path / "w", options=PLAIN, selection=mp.LayerSelection.of(kinds=["weight"]))
    assert _layer_gets(proxy, files) == {"model.safetensors", "shards/part-2.safetensors"}
    proxy.clear()
    selection = mp.LayerSelection.of(exclude=["*.safetensors"], kinds=["doc", "code", "weight"])
    mp.pull(ref, output=tmp_path / "d", options=PLAIN, selection=selection)
    assert _layer_gets(proxy, files) == {"README.md", "run.py"}


def test_include_and_kind_add_up_as_the_readme_example_reads(registry: Registry, proxy: FaultProxy,
                                                            tmp_path: Path) -> None:
    # README: `--include '*.json' --kind doc   # configs and docs only`
    ref, files = _pushed(registry, proxy, tmp_path)
    result = modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "cfg"), "--include", "*.json",
                       "--kind", "doc", "--exclude", "shards/")
    assert result.code == 0, result.err
    assert _layer_gets(proxy, files) == {"config.json", "README.md"}


def test_partial_store_entry_then_a_full_pull_fetches_only_what_is_missing(
        registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    ref, files = _pushed(registry, proxy, tmp_path)
    result = modelpack("pull", "--plain-http", ref, "--kind", "weight.config", "--kind", "doc")
    assert result.code == 0, result.err
    assert _layer_gets(proxy, files) == {"config.json", "README.md"}
    listing = modelpack("list")
    assert "partial" in listing.out and "MISSING CONTENT" not in listing.out, listing.out
    [entry] = json.loads(modelpack("list", "--json").out)
    assert entry["partial"] is True and entry["complete"] is False
    shown = modelpack("inspect", ref)
    assert shown.code == 0 and "Partial: 3 layers not in the local store" in shown.out
    assert shown.out.count("(absent: not pulled)") == 3
    check = modelpack("store", "check")
    assert check.code == 0, check.out + check.err  # absent by choice, not lost
    # unpack of what is there works; of what is not, one line naming it
    assert modelpack("unpack", ref, "-o", str(tmp_path / "docs"), "--kind", "doc").code == 0
    missing = modelpack("unpack", ref, "-o", str(tmp_path / "all"))
    assert missing.code == 3 and "partial" in missing.err and "Traceback" not in missing.err
    assert missing.err.count("\n") == 1
    elsewhere = registry.repo("elsewhere") + ":1"  # where the left-out blobs are not
    assert modelpack("tag", ref, elsewhere).code == 0
    pushed = modelpack("push", "--plain-http", elsewhere)
    assert pushed.code == 2 and "partial" in pushed.err and "pull it in full" in pushed.err, pushed.err
    assert pushed.err.count("\n") == 1
    assert modelpack("rm", elsewhere).code == 0
    proxy.clear()
    assert modelpack("pull", "--plain-http", ref).code == 0
    assert _layer_gets(proxy, files) == {"model.safetensors", "shards/part-2.safetensors", "run.py"}
    assert len(proxy.requests("GET", "/blobs/")) == 3  # the config is not fetched again
    [entry] = json.loads(modelpack("list", "--json").out)
    assert entry["complete"] is True and entry["partial"] is False
    assert modelpack("unpack", ref, "-o", str(tmp_path / "all")).code == 0


def test_a_selection_that_matches_nothing_fetches_no_blob(registry: Registry, proxy: FaultProxy,
                                                          tmp_path: Path) -> None:
    ref, _ = _pushed(registry, proxy, tmp_path)
    for args in (["-o", str(tmp_path / "out")], []):
        result = modelpack("pull", "--plain-http", ref, *args, "--include", "*.gguf")
        assert result.code == 2, result.err
        assert result.err.startswith("error: --include '*.gguf' matches none of the 5 layers"), result.err
        assert result.err.count("\n") == 1
    assert proxy.requests("GET", "/blobs/") == []
    assert not (tmp_path / "out").exists()
    assert mp.list_models() == []


def test_an_include_pattern_that_climbs_out_is_refused(registry: Registry, proxy: FaultProxy, tmp_path: Path) -> None:
    ref, _ = _pushed(registry, proxy, tmp_path)
    for pattern in ("../etc/passwd", "weights/../../x", "..", ""):
        result = modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "out"), "--include", pattern)
        assert result.code == 2 and "Traceback" not in result.err, result.err
    assert proxy.requests("GET") == []  # refused before the registry is asked anything
    bad_kind = modelpack("pull", "--plain-http", ref, "--kind", "weights")
    assert bad_kind.code == 2


def test_a_folder_packed_as_one_archive_is_taken_by_a_glob_for_what_is_below_it(registry: Registry,
                                                                                tmp_path: Path) -> None:
    # The user sees the folder `data` on disk and writes `data/**`; the manifest has one layer named `data`.
    model = tmp_path / "m"
    (model / "data" / "deep").mkdir(parents=True)
    (model / "data" / "a.txt").write_bytes(b"a\n")
    (model / "data" / "deep" / "b.txt").write_bytes(b"b\n")
    (model / "model.bin").write_bytes(os.urandom(1000))
    (model / "modelpack.yaml").write_text("files: {archives: [data]}\n")
    ref = registry.repo() + ":1"
    mp.push(model, ref, options=PLAIN)
    for pattern in ("data/**", "data/*", "data"):
        out = tmp_path / pattern.replace("*", "s").replace("/", "_")
        result = modelpack("pull", "--plain-http", ref, "-o", str(out), "--include", pattern)
        assert result.code == 0, result.err
        assert (out / "data" / "deep" / "b.txt").read_bytes() == b"b\n" and not (out / "model.bin").exists()
    left_out = modelpack("pull", "--plain-http", ref, "-o", str(tmp_path / "rest"), "--exclude", "data/**")
    assert left_out.code == 0, left_out.err
    assert (tmp_path / "rest" / "model.bin").exists() and not (tmp_path / "rest" / "data").exists()


def test_copy_from_the_store_of_a_partial_model_says_to_pull_it_in_full(
        registry: Registry, proxy: FaultProxy, fresh_registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # As push does: not "blob sha256:… is not in the local store" (exit 3), but what to do (exit 2).
    ref, _ = _pushed(registry, proxy, tmp_path)
    assert modelpack("pull", "--plain-http", ref, "--kind", "doc").code == 0
    other = fresh_registry().repo("copy") + ":1"  # another registry: nothing to mount the absent blobs from
    copied = modelpack("copy", "--plain-http", "--from-local", ref, other)
    assert copied.code == 2, copied.err
    assert copied.err.strip() == (f"error: {ref} is partial in the local store (4 layer(s) not pulled); pull it in "
                                  f"full first (modelpack pull {ref}), then copy")
    assert modelpack("pull", "--plain-http", ref).code == 0
    assert modelpack("copy", "--plain-http", "--from-local", ref, other).code == 0
