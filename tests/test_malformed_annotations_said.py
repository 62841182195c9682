"""A structured annotation that is not JSON of its field's shape (`metrics+json` holding NaN, a list for
labels) is left out, as `ls` said (`ignored its malformed ... annotation`); `inspect` left it out without a
word and the report said "No metrics recorded" of a model that records them. Now `inspect` warns (and lists
them in `--json`), the report notes it in the section that would have shown it, and so does the UI's version
page. Against the real registry, the manifest edited and pushed under another tag."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from helpers import modelpack, push_edited_manifest
from registry_process import Registry
from ui_support import Pages, push_version

KEY = "io.modelpack.model.metrics+json"
SAID = f"ignored its malformed {KEY} annotation"


def test_a_malformed_metrics_annotation_is_said_everywhere(registry: Registry, ui: Callable[..., str],
                                                           tmp_path: Path) -> None:
    repo = registry.repo("malformed")
    push_version(tmp_path / "m", f"{repo}:1.0", {"version": "1.0", "metrics": {"accuracy": 0.9}})
    edited = push_edited_manifest(registry, f"{repo}:1.0", {KEY: '{"accuracy": NaN}'}, "nan")
    listed = modelpack("ls", "--plain-http", repo)
    assert f"tag nan: {SAID}" in listed.err, listed.err  # as before
    shown = modelpack("inspect", "--remote", "--plain-http", edited)
    assert shown.code == 0 and f"warning: {edited}: {SAID}" in shown.err, shown.err
    as_json = json.loads(modelpack("inspect", "--remote", "--plain-http", "--json", edited).out)
    assert as_json["malformedAnnotations"] == [KEY] and "metrics" not in as_json["metadata"]
    report = modelpack("report", "--plain-http", "--format", "md", edited)
    assert report.code == 0, report.err
    evaluation = report.out.split("## Evaluation", 1)[1].split("## Integrity", 1)[0]
    assert SAID in evaluation
    plain = modelpack("inspect", "--remote", "--plain-http", f"{repo}:1.0")
    assert "malformed" not in plain.err, plain.err
    page = Pages(ui([registry.host])).get(f"/v/{edited}")
    assert SAID in page
