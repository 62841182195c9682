"""`push DIR REF` over a tag that names another version (a signed 1.0.0 pushed over with other metrics) said
only `pushed REF: ...`, as an unchanged push does: the version the tag named is now reachable by its digest
alone, and nothing said which one it was. A line (and `replaced` in `--json`) names it."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import modelpack
from registry_process import Registry


def test_a_push_that_moves_a_tag_names_the_version_it_named(registry: Registry, tmp_path: Path) -> None:
    model = tmp_path / "iris"
    model.mkdir()
    (model / "model.skops").write_bytes(b"weights" * 100)
    ref = registry.repo() + ":1.0.0"
    first = modelpack("push", str(model), ref, "--plain-http", "--json")
    assert first.code == 0, first.err
    assert "replaced" not in json.loads(first.out)  # a new tag: nothing moved
    before = json.loads(first.out)["digestReference"]

    again = modelpack("push", str(model), ref, "--plain-http")  # the same model: the tag stays where it is
    assert again.code == 0 and "moved tag" not in again.err, again.err

    moved = modelpack("push", str(model), ref, "--set", "metrics.f1=0.5", "--plain-http")
    assert moved.code == 0, moved.err
    assert f"moved tag 1.0.0 from {before}, which stays in the registry by that digest\n" in moved.err
    assert modelpack("resolve", before, "--plain-http").code == 0  # as it says
    as_json = modelpack("push", str(model), ref, "--set", "metrics.f1=0.6", "--plain-http", "--json")
    assert json.loads(as_json.out)["replaced"] == moved.out.strip().split("@")[1]
