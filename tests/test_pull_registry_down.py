"""`modelpack pull REPO@DIGEST [-o DIR]` while its registry cannot be reached: the copy a pull left in the local
store is written (every blob verified), or without -o found to be there already, with one warning; by tag, the
error names the digest the store last recorded for it; a signature to check, a copy that is partial or damaged,
still fail as unreachable (exit 5)."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack, tree
from hostile_registry import HostileRegistry, reply
from modelpack.oci.descriptor import MAX_MANIFEST_BYTES, Descriptor, parse_manifest
from modelpack.store.layout import LayoutStore
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)


def _model(root: Path) -> Path:
    """A model of a file and a folder packed as one archive layer (whose blob unpacking extracts, not copies)."""
    (root / "tokenizer").mkdir(parents=True)
    (root / "modelpack.yaml").write_text("name: m\nfiles: {archives: [tokenizer]}\n")
    (root / "model.safetensors").write_bytes(os.urandom(20_000))
    (root / "tokenizer" / "vocab.txt").write_bytes(os.urandom(5_000))
    return root


@pytest.fixture
def stored_then_down(fresh_registry: Callable[..., Registry], tmp_path: Path) -> tuple[str, str, Path]:
    """A model pushed and pulled into the store by its tag, then its registry stopped: (REPO:TAG,
    REPO@DIGEST, the model's folder)."""
    registry = fresh_registry()
    tagged = registry.repo() + ":1.0"
    model = _model(tmp_path / "model")
    digest = mp.push(model, tagged, options=PLAIN).descriptor.digest
    mp.pull(tagged, options=PLAIN)
    registry.stop()
    return tagged, tagged.rsplit(":", 1)[0] + "@" + digest, model


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: ")]


def test_a_stored_digest_is_written_from_the_store_with_one_warning(
        stored_then_down: tuple[str, str, Path], tmp_path: Path) -> None:
    _, pinned, model = stored_then_down
    digest = pinned.split("@")[1]
    out = tmp_path / "out"
    run = modelpack("pull", "--plain-http", pinned, "-o", str(out))
    assert run.code == 0, run.err
    assert tree(out) == tree(model)
    warnings = _warnings(run.err)
    assert len(warnings) == 1 and "cannot connect to" in warnings[0], run.err
    assert warnings[0].endswith(f"; writing {digest} into {out} from the local store (every blob verified)")
    assert f"digest: {digest}" in (out / "modelpack.yaml").read_text()  # the metadata says what it is
    linked = modelpack("pull", "--plain-http", "--json", "--link", pinned, "-o", str(tmp_path / "linked"))
    assert linked.code == 0, linked.err
    said = json.loads(linked.out)
    assert said["fromLocalStore"] is True and said["digest"] == digest and said["blobsCopied"] == 0
    assert {path: sha for path, (sha, _) in tree(tmp_path / "linked").items()} == \
        {path: sha for path, (sha, _) in tree(model).items()}  # (linked to the store's blobs: read-only)


def test_a_stored_digest_pulled_into_the_store_is_found_there_with_one_warning(
        stored_then_down: tuple[str, str, Path], tmp_path: Path) -> None:
    # Before, only -o stood the store's copy in: a pull into the store that already held the digest whole
    # failed (exit 5), and a script pulling by digest before it serves stopped there.
    tagged, pinned, _ = stored_then_down
    run = modelpack("pull", "--plain-http", pinned)
    assert run.code == 0, run.err
    assert run.out.strip() == pinned, run.out
    warnings = _warnings(run.err)
    assert len(warnings) == 1 and "cannot connect to" in warnings[0], run.err
    assert warnings[0].endswith(f"; the local store already holds {pinned} (every blob verified)"), run.err
    assert run.err.strip() == warnings[0], run.err  # no "pulled ...: 0 blobs" line besides
    said = json.loads(modelpack("pull", "--plain-http", "--json", pinned).out)
    assert said["fromLocalStore"] is True and said["digest"] == pinned.split("@")[1] and said["blobsCopied"] == 0
    by_tag = modelpack("pull", "--plain-http", tagged)
    assert by_tag.code == 5, by_tag.err
    assert by_tag.err.strip().endswith(f"name {pinned} to use that copy while the registry is down"), by_tag.err
    blob = _damage_a_layer(pinned)
    damaged = modelpack("pull", "--plain-http", pinned)
    assert damaged.code == 5 and f"the local store's copy of {pinned.split('@')[1]} is damaged" in damaged.err, \
        damaged.err
    assert not blob.exists()


def _damage_a_layer(pinned: str) -> Path:
    """Flip a byte in the middle of the stored copy's archive layer (same size: only its digest tells)."""
    store = LayoutStore()
    desc = store.resolve(mp.api.parse_reference(pinned))
    manifest = parse_manifest(store.read_blob_bytes(desc))
    folder = next(layer for layer in manifest.layers if "tar" in layer.media_type)
    blob = store.blob_path(folder.digest)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    return blob


def test_a_damaged_stored_copy_does_not_stand_in(stored_then_down: tuple[str, str, Path], tmp_path: Path) -> None:
    _, pinned, _ = stored_then_down
    blob = _damage_a_layer(pinned)
    out = tmp_path / "out"
    run = modelpack("pull", "--plain-http", pinned, "-o", str(out))
    assert run.code == 5, run.err
    lines = run.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot connect to "), run.err
    assert f"the local store's copy of {pinned.split('@')[1]} is damaged" in lines[0]
    assert not out.exists() and not blob.exists()  # nothing written; the corrupt blob removed for a later pull


def test_a_tag_names_the_digest_the_store_recorded(stored_then_down: tuple[str, str, Path], tmp_path: Path) -> None:
    tagged, pinned, _ = stored_then_down
    run = modelpack("pull", "--plain-http", tagged, "-o", str(tmp_path / "out"))
    assert run.code == 5, run.err
    lines = run.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot connect to "), run.err
    assert lines[0].endswith(f"the local store last recorded {tagged} as {pinned.split('@')[1]}: name {pinned} "
                             "to use that copy while the registry is down")
    assert not (tmp_path / "out").exists()


def test_a_tags_hint_reads_no_layer_and_the_digest_pull_says_the_damage(
        stored_then_down: tuple[str, str, Path], tmp_path: Path) -> None:
    # The hint is an error message: it checks that the blobs are there, of their size, without reading them
    # (a 70 GB model was hashed whole for it). The pull by digest it names verifies every blob, as before.
    tagged, pinned, _ = stored_then_down
    blob = _damage_a_layer(pinned)
    run = modelpack("pull", "--plain-http", tagged, "-o", str(tmp_path / "out"))
    assert run.code == 5, run.err
    assert run.err.strip().endswith(f"name {pinned} to use that copy while the registry is down"), run.err
    assert blob.exists(), "the layer was read for the hint"  # (a check would have removed it)
    by_digest = modelpack("pull", "--plain-http", pinned, "-o", str(tmp_path / "out"))
    assert by_digest.code == 5 and f"the local store's copy of {pinned.split('@')[1]} is damaged" in by_digest.err, \
        by_digest.err
    assert not blob.exists() and not (tmp_path / "out").exists()


class _CountingStore(LayoutStore):
    """The local store, counting the reads of each small blob (a manifest, a config)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: Counter[str] = Counter()

    def read_blob_bytes(self, desc: Descriptor, limit: int = MAX_MANIFEST_BYTES) -> bytes:
        self.reads[desc.digest] += 1
        return super().read_blob_bytes(desc, limit)


def test_the_stored_manifest_is_read_once_for_the_stand_in(stored_then_down: tuple[str, str, Path],
                                                           tmp_path: Path) -> None:
    # The check that the store holds it, the selection's and the unpacking each read and parsed it again.
    _, pinned, model = stored_then_down
    store = _CountingStore()
    result = mp.pull(pinned, output=tmp_path / "out", options=PLAIN, store=store)
    assert result.from_store and tree(tmp_path / "out") == tree(model)
    assert store.reads[pinned.split("@")[1]] == 1, store.reads


def test_what_the_store_cannot_vouch_for_still_needs_the_registry(
        stored_then_down: tuple[str, str, Path], tmp_path: Path) -> None:
    from test_signing import keypair

    tagged, pinned, _ = stored_then_down
    _, public = keypair(tmp_path, "k")
    policy = tmp_path / "policy.json"
    host = tagged.split("/")[0]
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}], "transports": {"docker": {
        host: [{"type": "sigstoreSigned", "keyPath": str(public)}]}}}))
    absent = pinned.split("@")[0] + "@sha256:" + "0" * 64
    for args in (("--verify-key", str(public), pinned), ("--signature-policy", str(policy), pinned), (absent,)):
        out = tmp_path / "out"
        for where in (("-o", str(out)), ()):  # (without -o: into the store)
            run = modelpack("pull", "--plain-http", *args, *where)
            assert run.code == 5 and run.err.startswith("error: cannot connect to "), (args, where, run.err)
            assert "local store" not in run.err and not out.exists(), (args, where, run.err)


def test_a_partial_stored_copy_stands_in_for_the_layers_it_holds_only(
        fresh_registry: Callable[..., Registry], tmp_path: Path) -> None:
    registry = fresh_registry()
    model, repo = _model(tmp_path / "model"), registry.repo()
    pinned = repo + "@" + mp.push(model, repo + ":1", options=PLAIN).descriptor.digest
    assert modelpack("pull", "--plain-http", pinned, "--include", "model.safetensors").code == 0
    registry.stop()
    whole = modelpack("pull", "--plain-http", pinned, "-o", str(tmp_path / "whole"))
    assert whole.code == 5 and "local store" not in whole.err, whole.err
    part = modelpack("pull", "--plain-http", pinned, "--include", "model.safetensors", "-o", str(tmp_path / "part"))
    assert part.code == 0, part.err
    assert (tmp_path / "part" / "model.safetensors").read_bytes() == (model / "model.safetensors").read_bytes()
    assert not (tmp_path / "part" / "tokenizer").exists()


def test_a_registry_failing_with_5xx_after_its_retries_is_unreachable(
        fresh_registry: Callable[..., Registry], tmp_path: Path) -> None:
    registry = fresh_registry()
    model, repo = _model(tmp_path / "model"), registry.repo()
    digest = mp.push(model, repo + ":1", options=PLAIN).descriptor.digest
    mp.pull(repo + "@" + digest, options=PLAIN)

    def unavailable(handler: BaseHTTPRequestHandler) -> None:
        reply(handler, 503, json.dumps({"errors": [{"code": "UNAVAILABLE", "message": "maintenance"}]}))

    with HostileRegistry({r"/manifests/": unavailable}) as server:
        run = modelpack("pull", "--plain-http", "--timeout", "3", f"{server.host}/team/m@{digest}",
                        "-o", str(tmp_path / "out"))
    assert run.code == 0, run.err
    warnings = _warnings(run.err)
    assert len(warnings) == 1 and "answered HTTP 503" in warnings[0] and "from the local store" in warnings[0], \
        run.err
    assert tree(tmp_path / "out") == tree(model)


def test_a_selection_taking_no_layer_is_refused_before_the_store_is_said_to_stand_in(
        stored_then_down: tuple[str, str, Path], tmp_path: Path) -> None:
    _, pinned, _ = stored_then_down
    run = modelpack("pull", "--plain-http", pinned, "-o", str(tmp_path / "out"), "--include", "nothing-*")
    assert run.code == 2, run.err
    assert _warnings(run.err) == [], run.err  # said "writing ... from the local store", then refused
    assert not (tmp_path / "out").exists()
