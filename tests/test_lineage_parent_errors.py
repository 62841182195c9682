"""`lineage` when a parent cannot be read: the line names the parent and the model that records it (a bare
`cannot connect to HOST` read as the user's own registry being down), exits as the cause does (5 for an
unreachable registry), and a parent annotation that is no registry reference is said without advice meant
for someone writing a layout (`modelpack.copy_model(...)`). Against the real registry."""

from __future__ import annotations

from pathlib import Path

from helpers import modelpack, push_edited_manifest
from registry_process import Registry, free_port
from ui_support import push_version


def test_an_unreachable_parent_registry_is_named(registry: Registry, tmp_path: Path) -> None:
    ref = registry.repo("far") + ":1.1"
    parent = f"127.0.0.1:{free_port()}/other/base@sha256:{'0' * 64}"  # pinned: not contacted at push
    push_version(tmp_path / "m", ref, {"version": "1.1", "parent": parent})
    shown = modelpack("lineage", "--plain-http", ref)
    assert shown.code == 5, shown.err
    assert ref in shown.out  # the chain known so far
    assert shown.err.startswith(f"error: cannot read {parent}, the parent {ref} records: cannot connect to "), \
        shown.err
    made = modelpack("report", "--plain-http", "--format", "md", ref)
    assert made.code == 0 and f"cannot read {parent}, the parent " in made.out, made.err


def test_a_parent_annotation_naming_a_layout_is_refused_without_layout_advice(registry: Registry,
                                                                               tmp_path: Path) -> None:
    ref = registry.repo("layout") + ":1.0"
    push_version(tmp_path / "m", ref, {"version": "1.0"})
    edited = push_edited_manifest(registry, ref, {"io.modelpack.model.parent": "oci:/etc"}, "edited")
    shown = modelpack("lineage", "--plain-http", edited)
    assert shown.code == 6, shown.err
    assert shown.err.strip().endswith("invalid reference 'oci:/etc': an OCI layout, where a registry reference "
                                      "(HOST/REPOSITORY:TAG) is needed"), shown.err
    assert "copy_model" not in shown.err
