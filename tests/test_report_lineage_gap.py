"""A report whose parent cannot be read says so: it never calls a model that records a parent "a first
model". Against the real registry, the parent deleted after the child was pushed."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)


@pytest.fixture
def orphan(registry: Registry, tmp_path: Path) -> tuple[str, str]:
    """A child whose parent (pinned by digest at push) was deleted from the registry since."""
    repo = registry.repo("orphan")
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"p" * 2000)
    parent = mp.push(model, f"{repo}:1.0", ["version=1.0"], options=PLAIN).descriptor.digest
    (model / "model.safetensors").write_bytes(b"c" * 2000)
    mp.push(model, f"{repo}:1.1", ["version=1.1", f"parent={repo}:1.0"], options=PLAIN)
    mp.remove_remote(f"{repo}@{parent}", options=PLAIN)
    return f"{repo}:1.1", parent


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_an_unreadable_parent_is_not_reported_as_no_parent(orphan: tuple[str, str], fmt: str) -> None:
    child, parent = orphan
    made = modelpack("report", "--plain-http", "--format", fmt, child)
    assert made.code == 0, made.err
    assert "No parent recorded" not in made.out  # it was false: the model records one
    assert "records a parent" in made.out and parent in made.out
    facts = mp.build_report(child, options=PLAIN)
    assert len(facts.lineage) == 1 and facts.lineage[0].parent is not None
    assert facts.lineage[0].parent.endswith("@" + parent)
