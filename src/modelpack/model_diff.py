"""What changed between two model versions: files by path (digest and size) and metadata fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelpack.model_info import ModelInfo


@dataclass
class Diff:
    """What `diff` found: files (each as `FileInfo.to_json()` gives it) and metadata fields that differ."""

    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)  # dotted key -> {"old", "new"}
    # The sides read from the local store (as given, and the digest read): its tag may name another digest
    # than the registry's.
    from_store: tuple[tuple[str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.metadata)

    def to_json(self) -> dict[str, Any]:
        metrics = {k.removeprefix("metrics."): v for k, v in self.metadata.items() if k.startswith("metrics.")}
        return {"files": {"added": self.added, "removed": self.removed, "changed": self.changed},
                "metadata": self.metadata, "metrics": metrics}


def diff_models(old: ModelInfo, new: ModelInfo) -> Diff:
    """Files added, removed and changed, and every metadata field that differs, between two models."""
    result = Diff()
    before = {f.path: f.to_json() for f in old.files if f.path}
    after = {f.path: f.to_json() for f in new.files if f.path}
    for path in sorted(after.keys() - before.keys()):
        result.added.append(_file(after[path]))
    for path in sorted(before.keys() - after.keys()):
        result.removed.append(_file(before[path]))
    for path in sorted(before.keys() & after.keys()):
        a, b = before[path], after[path]
        if a["digest"] != b["digest"]:
            result.changed.append({"path": path, "oldDigest": a["digest"], "newDigest": b["digest"],
                                   "oldSize": a["size"], "newSize": b["size"]})
    flat_old, flat_new = flatten(old.metadata), flatten(new.metadata)
    for key in sorted(flat_old.keys() | flat_new.keys()):
        if flat_old.get(key) != flat_new.get(key):
            result.metadata[key] = {"old": flat_old.get(key), "new": flat_new.get(key)}
    return result


def _file(layer: dict[str, Any]) -> dict[str, Any]:
    return {"path": layer["path"], "digest": layer["digest"], "size": layer["size"]}


def flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"metrics": {"accuracy": 0.9}} -> {"metrics.accuracy": 0.9}; lists stay whole."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            out.update(flatten(item, name + "."))
        else:
            out[name] = item
    return out
