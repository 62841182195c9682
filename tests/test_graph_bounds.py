"""Graphs and listings a registry controls are walked once and within bounds: pagination loops, indexes
that name a child twice at every level, chains deeper than any real image, 5,000-platform bases, and
more referrers than cosign reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import modelpack as mp
from helpers import Run, modelpack
from hostile_registry import OCI_MANIFEST, HostileRegistry, model_content, reply, serve_content
from modelpack.errors import RegistryError
from modelpack.oci import digest as digests
from modelpack.store.options import ClientOptions

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def assert_refused(result: Run, *fragments: str) -> None:
    lines = result.err.strip().splitlines()
    assert result.code != 0 and len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert "internal error" not in lines[0], lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def nested_indexes(depth: int, fan: int) -> dict[str, tuple[str, bytes]]:
    """Tag "1" -> an index naming the next index `fan` times, `depth` levels down to a model manifest."""
    content = model_content()
    child_data = content["1"][1]
    child = {"mediaType": OCI_MANIFEST, "digest": digests.of_bytes(child_data), "size": len(child_data)}
    for _ in range(depth):
        data = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [child] * fan}).encode()
        child = {"mediaType": OCI_INDEX, "digest": digests.of_bytes(data), "size": len(data)}
        content[child["digest"]] = (OCI_INDEX, data)
    content["1"] = (OCI_INDEX, data)
    return content


def test_a_link_header_back_to_the_same_page_ends_the_listing() -> None:
    with HostileRegistry() as server:
        server.routes["/tags/list"] = lambda h: reply(h, 200, json.dumps({"tags": ["1"]}), {
            "Link": f"<{h.path}>; rel=\"next\""})
        result = modelpack("ls", "--plain-http", f"{server.host}/a/b", timeout=60)
    assert_refused(result, "loops")


def test_an_index_naming_its_child_twice_at_every_level_is_fetched_once_per_node(tmp_path: Path) -> None:
    with HostileRegistry() as server:
        server.routes[r"^(GET|HEAD) /v2/a/b/(manifests|blobs)/"] = serve_content(nested_indexes(12, 2))
        modelpack("pull", "--plain-http", f"{server.host}/a/b:1", timeout=60)
        fetched = server.requests("GET /v2/a/b/manifests/")
    assert len(fetched) <= 2 * 14, f"{len(fetched)} manifest fetches for 13 distinct manifests"


@pytest.mark.parametrize(("depth", "fan"), [(40, 2), (1500, 1)])
def test_indexes_nested_beyond_any_real_image_are_refused(depth: int, fan: int) -> None:
    with HostileRegistry() as server:
        server.routes[r"^(GET|HEAD) /v2/a/b/(manifests|blobs)/"] = serve_content(nested_indexes(depth, fan))
        result = modelpack("pull", "--plain-http", f"{server.host}/a/b:1", timeout=60)
    assert_refused(result, "16 levels")


def test_a_base_index_with_thousands_of_platforms_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(b"weights")
    platforms = [{"mediaType": OCI_MANIFEST, "digest": "sha256:" + f"{i:064x}", "size": 100,
                  "platform": {"os": "linux", "architecture": f"arch{i}"}} for i in range(5000)]
    base = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": platforms}).encode()
    with HostileRegistry() as server:
        server.routes[r"^(GET|HEAD) /v2/base/(manifests|blobs)/"] = serve_content({"1": (OCI_INDEX, base)})
        assert modelpack("pack", str(model), "-t", f"{server.host}/m:1").code == 0
        result = modelpack("build-image", f"{server.host}/m:1", "-t", f"{server.host}/img:1", "--base",
                           f"{server.host}/base:1", "--plain-http", timeout=60)
    assert_refused(result, "5000", "64")


def test_more_referrers_than_cosign_reads_are_refused() -> None:
    referrers = [{"mediaType": OCI_MANIFEST, "digest": "sha256:" + f"{i:064x}", "size": 100,
                  "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json"} for i in range(101)]
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": referrers})
    with HostileRegistry() as server:
        server.routes["/referrers/"] = lambda h: reply(h, 200, body, {"Content-Type": OCI_INDEX})
        repo = mp.remote(mp.Reference.parse(f"{server.host}/a/b:1"), ClientOptions(plain_http=True))
        with pytest.raises(RegistryError, match="100"):
            repo.list_referrers("sha256:" + "0" * 64)
