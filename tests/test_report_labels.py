"""The report shows the model's labels (`labels: {stage: staging, owner: ...}` in modelpack.yaml): it left them
out, so a reviewer approving a version from its technical documentation did not see that its own packer had
labelled it `stage: staging`. Escaped as every other value; against the real registry."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry
from ui_support import push_version

LABELS = {"stage": "staging", "owner": "<b>risk</b> team", "ticket": "AI-42"}


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_labels_are_in_the_description_section(registry: Registry, tmp_path: Path, fmt: str) -> None:
    ref = registry.repo("labels") + ":1.0"
    push_version(tmp_path / "m", ref, {"version": "1.0", "labels": LABELS})
    made = modelpack("report", "--plain-http", "--format", fmt, ref)
    assert made.code == 0, made.err
    start, end = ("## Description", "## Architecture") if fmt == "md" else ('id="description"', 'id="architecture"')
    section = made.out.split(start, 1)[1].split(end, 1)[0]
    assert "Label: stage" in section and "staging" in section and "AI-42" in section
    assert "<b>risk" not in made.out and "&lt;b&gt;risk&lt;/b&gt; team" in section
    assert mp.build_report(ref, options=ClientOptions(plain_http=True)).labels == dict(sorted(LABELS.items()))
