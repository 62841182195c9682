"""Looking digests up in an OCI layout with many tags (`oci:DIR`): index.json is read once per version of the
file, a digest the layout holds no blob of is refused without reading any index, and the indexes that list
children (what `skopeo copy --all` writes) are read once per operation, each still verified.

Before: every lookup read and parsed index.json again, and every digest it does not list read every index it
lists (verified), on each lookup: copying a tagged index of 10 children out of a layout of 2,001 tags
(1,000 of them `sha256-<hex>` fallback indexes) opened 10,023 blobs and index.json 33 times; a miss, 1,001."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from modelpack.errors import IntegrityError, NotFoundError
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor
from modelpack.store.layout import LayoutStore
from modelpack.store.layout_index_view import IndexFile
from modelpack.store.oci_layout import OciLayout

INDEXES = 200  # fallback-style indexes, each listing one model manifest
CHILDREN = 5  # manifests listed only by the tagged index "multi"


def _put(root: Path, data: bytes) -> dict[str, object]:
    hexd = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256" / hexd).write_bytes(data)
    return {"digest": "sha256:" + hexd, "size": len(data)}


def _manifest(root: Path, note: str) -> dict[str, object]:
    config = _put(root, b'{"descriptor":{"name":"m"}}')
    layer = _put(root, b"weights")
    data = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "artifactType": mt.MODEL_ARTIFACT,
            "config": {"mediaType": mt.MODEL_CONFIG, **config},
            "layers": [{"mediaType": "application/octet-stream", **layer}], "annotations": {"n": note}}
    return {"mediaType": mt.OCI_MANIFEST, **_put(root, json.dumps(data).encode())}


def _index(root: Path, children: list[dict[str, object]], tag: str) -> dict[str, object]:
    data = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": children}
    return {"mediaType": mt.OCI_INDEX, **_put(root, json.dumps(data).encode()),
            "annotations": {mt.A_REF_NAME: tag}}


def _layout(root: Path) -> tuple[list[str], dict[str, object]]:
    """A layout of 2 x INDEXES + 1 tags; returns the digests of "multi"'s children and its entry."""
    (root / "blobs" / "sha256").mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    entries = []
    for n in range(INDEXES):
        model = _manifest(root, str(n))
        entries.append({**model, "annotations": {mt.A_REF_NAME: f"v{n}"}})
        entries.append(_index(root, [model], f"sha256-{n:064x}"))
    children = [_manifest(root, f"child {n}") for n in range(CHILDREN)]
    multi = _index(root, children, "multi")
    entries.append(multi)
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                                                 "manifests": entries}))
    return [str(c["digest"]) for c in children], multi


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many blobs were read (each verified) and how many times index.json was read."""
    counts = {"blobs": 0, "index.json": 0}
    read_blob_bytes, read_index = LayoutStore.read_blob_bytes, IndexFile.read

    def blob(self: LayoutStore, *args: object, **kwargs: object) -> bytes:
        counts["blobs"] += 1
        return read_blob_bytes(self, *args, **kwargs)  # type: ignore[arg-type]

    def index(self: IndexFile) -> list[Descriptor]:
        counts["index.json"] += 1
        return read_index(self)

    monkeypatch.setattr(LayoutStore, "read_blob_bytes", blob)
    monkeypatch.setattr(IndexFile, "read", index)
    return counts


def test_children_of_an_index_are_found_reading_each_index_once(tmp_path: Path, counted: dict[str, int]) -> None:
    children, _ = _layout(tmp_path / "L")
    layout = OciLayout(tmp_path / "L")
    for digest in children * 2:
        desc, data = layout.fetch_manifest(digest)
        assert desc.digest == digest and hashlib.sha256(data).hexdigest() == digest.split(":")[1]
    # Every index once (INDEXES + "multi"), plus each child fetched; index.json once.
    assert counted == {"blobs": INDEXES + 1 + 2 * CHILDREN, "index.json": 1}


def test_a_digest_the_layout_holds_no_blob_of_reads_no_index(tmp_path: Path, counted: dict[str, int]) -> None:
    _layout(tmp_path / "L")
    layout = OciLayout(tmp_path / "L")
    for n in range(20):
        with pytest.raises(NotFoundError, match="is not in the OCI layout"):
            layout.resolve(f"sha256:{n:064x}")
        assert layout.find(f"v{n}") is not None
    assert counted == {"blobs": 0, "index.json": 1}


def test_a_changed_index_json_is_read_again(tmp_path: Path) -> None:
    children, _ = _layout(tmp_path / "L")
    layout = OciLayout(tmp_path / "L")
    assert layout.find("multi") is not None
    assert layout.untag("multi")  # written by another OciLayout: index.json is replaced
    desc, data = layout.fetch_manifest("v3")
    OciLayout(tmp_path / "L").push_manifest(desc, data, tag="late")
    assert layout.find("multi") is None and layout.find("late") is not None
    with pytest.raises(NotFoundError):
        layout.resolve(children[0])  # no index lists it any more


def test_a_tampered_index_lists_nothing_and_a_tampered_child_is_refused(tmp_path: Path) -> None:
    children, multi = _layout(tmp_path / "L")
    blobs = tmp_path / "L" / "blobs" / "sha256"
    child = blobs / children[0].split(":")[1]
    child.chmod(0o644)
    child.write_bytes(child.read_bytes().replace(b"child 0", b"child X"))
    with pytest.raises(IntegrityError):
        OciLayout(tmp_path / "L").fetch_manifest(children[0])
    index = blobs / str(multi["digest"]).split(":")[1]
    index.write_bytes(index.read_bytes().replace(children[1].encode(), children[2].encode()))
    with pytest.raises(NotFoundError):
        OciLayout(tmp_path / "L").resolve(children[1])
