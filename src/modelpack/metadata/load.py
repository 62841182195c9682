"""Read `modelpack.yaml`, apply `--set key=value` overrides, fill in git facts, validate."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from modelpack.advice import Wording, compose, setting
from modelpack.errors import MetadataError
from modelpack.metadata.created import creation_time as creation_time
from modelpack.metadata.created import source_date_epoch as source_date_epoch
from modelpack.metadata.folder_metadata import FolderMetadata
from modelpack.metadata.git_facts import git_facts as git_facts
from modelpack.metadata.git_facts import strip_credentials as strip_credentials
from modelpack.metadata.schema import Capabilities, FileRules, ModelMetadata
from modelpack.metadata.yaml_file import JsonLoader
from modelpack.metadata.yaml_file import read_yaml as read_yaml
from modelpack.spelling import did_you_mean

# `--set` strings (`metrics.f1=0.9`, values parsed as YAML scalars) or a mapping from the API, whose
# values are taken as given and whose nested mappings merge key by key ({"metrics": {"f1": 0.9}}).
Overrides = Sequence[str] | Mapping[str, Any]


def load_metadata(
    model_dir: Path | None,
    overrides: Overrides = (),
    *,
    default_name: str | None = None,
    use_git: bool = True,
    read: FolderMetadata | None = None,
) -> ModelMetadata:
    """The validated metadata for a model directory; raises MetadataError naming the bad field.

    Args:
        model_dir: the model's directory (None: overrides and the default name alone).
        overrides: metadata over `modelpack.yaml`'s (as `pack` takes them).
        default_name: the model's name when the metadata gives none.
        use_git: fill in the revision and sourceURL of the git repository holding the folder.
        read: `model_dir`'s modelpack.yaml and git facts, when the caller read them already (see
            folder_metadata): not read again.

    Returns:
        The metadata.

    Raises:
        MetadataError: modelpack.yaml unreadable as metadata, or a field that does not validate.
    """
    folder = read if read is not None else FolderMetadata(model_dir) if model_dir is not None else None
    raw: dict[str, Any] = folder.fields() if folder is not None else {}
    apply_overrides(raw, overrides)
    if "name" not in raw and default_name:
        raw["name"] = default_name
    if use_git and folder is not None:
        for key, value in folder.git_facts().items():
            raw.setdefault(key, value)
    return validate(raw)


def validate(raw: dict[str, Any]) -> ModelMetadata:
    try:
        return ModelMetadata.model_validate(raw)
    except ValidationError as exc:
        raise MetadataError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each bad field, e.g. `metrics.accuracy: Input should be a valid number`."""
    parts = []
    for err in exc.errors():
        field = ".".join(_shown(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field" + did_you_mean(str(err["loc"][-1]), _known_fields(err["loc"][:-1]))
        elif err["type"] == "missing":
            msg = "required"
        elif err["type"] == "string_type" and isinstance(err.get("input"), int | float):
            msg += f" (quote it: \"{err['input']}\")"
        parts.append(f"{field}: {msg}")
    return "invalid metadata: " + "; ".join(parts)


def _model_at(where: Sequence[Any]) -> type[BaseModel] | None:
    """The schema of the mapping at `where` (the top level, `files`, `capabilities`); None for free-form
    mappings (`metrics`, `labels`) and anything deeper."""
    nested: dict[str, type[BaseModel]] = {"files": FileRules, "capabilities": Capabilities}
    if not where:
        return ModelMetadata
    return nested.get(str(where[0])) if len(where) == 1 else None


def _known_fields(where: tuple[Any, ...]) -> list[str]:
    """The field names (as written in YAML) accepted by the mapping at `where`."""
    model = _model_at(where)
    return [f.alias or name for name, f in model.model_fields.items()] if model else []


def _annotation_at(path: Sequence[str]) -> Any:
    """The declared type of the field a dotted key names (`licenses`, `capabilities.languages`), by name
    or alias; None inside free-form mappings or for an unknown key (validation reports those)."""
    model = _model_at(path[:-1])
    if model is None:
        return None
    field = model.model_fields.get(path[-1]) or next(
        (f for f in model.model_fields.values() if f.alias == path[-1]), None)
    return field.annotation if field else None


def _shown(part: object) -> str:
    """A key as it reads in an error line: quoted when it has spaces, newlines or other oddities."""
    text = str(part)
    return text if text.isprintable() and text.strip() == text and text else repr(text)


def apply_overrides(raw: dict[str, Any], overrides: Overrides) -> None:
    """Apply `--set` strings, or a mapping of dotted keys to values (see `Overrides`)."""
    if isinstance(overrides, Mapping):
        for key, value in _flatten(overrides, ""):
            _set(raw, key.split("."), value, f"override {key!r}")
        return
    if isinstance(overrides, str):  # a lone "k=v" would otherwise be applied character by character
        overrides = [overrides]
    for item in overrides:
        apply_override(raw, item)


def _flatten(mapping: Mapping[Any, Any], prefix: str, depth: int = 0) -> Iterator[tuple[str, Any]]:
    from modelpack.plain_json import MAX_NESTING

    if depth > MAX_NESTING:  # (a mapping that holds itself: as plain_json refuses one)
        shown = prefix if len(prefix) <= 100 else f"{prefix[:60]}...{prefix[-30:]}"
        raise MetadataError(f"override {shown.rstrip('.')!r} is nested more than {MAX_NESTING} levels deep (or "
                            "holds itself), which modelpack would not read back")
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, dotted + ".", depth + 1)
        else:
            yield dotted, dict(value) if isinstance(value, Mapping) else value


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one `dotted.key=value`. Values are YAML scalars, except where the field is text."""
    key, sep, text = item.partition("=")
    key = key.strip()
    given = setting(f"override {item!r}", f"--set {item!r}")
    if not sep or not key or any(not part for part in key.split(".")):
        raise MetadataError(compose("{}: expected key=value, e.g. metrics.accuracy=0.97", given))
    path = key.split(".")
    field = _field(path[0], given)
    value: Any
    if (len(path) == 1 and _is_text(field.annotation)) or path[0] == "labels":
        value = text
    else:
        value = _scalar(text)
        # A comma list wherever the schema expects a list, nested (`capabilities.languages`) or not.
        if _is_list(_annotation_at(path)) and not isinstance(value, list):
            value = [v.strip() for v in text.split(",")] if text else []
    _set(raw, path, value, given)


def _field(name: str, label: Wording | str) -> Any:
    """The metadata field `name` (or its alias) names; MetadataError with "did you mean" otherwise."""
    field = ModelMetadata.model_fields.get(name) or next(
        (f for f in ModelMetadata.model_fields.values() if f.alias == name), None
    )
    if field is None:
        raise MetadataError(compose("{}: unknown field {}{}", label, repr(name), did_you_mean(name, _known_fields(()))))
    return field


def _set(raw: dict[str, Any], path: list[str], value: Any, label: Wording | str) -> None:
    if any(not part for part in path):
        raise MetadataError(compose("{}: expected a dotted key, e.g. metrics.accuracy", label))
    _field(path[0], label)
    node = raw
    for part in path[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise MetadataError(compose("{}: {} is not a mapping", label, repr(part)))
        node = child
    node[path[-1]] = value


def _scalar(text: str) -> Any:
    """A --set value: numbers as numbers (YAML 1.1 would keep `1e-3` as text), else a YAML scalar read as
    modelpack.yaml is (so `2026-13-01` stays text for the field to refuse, not a crash in the date type)."""
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    try:
        return yaml.load(text, Loader=JsonLoader) if text else ""  # (a SafeLoader)
    except yaml.YAMLError:
        return text


def _is_text(annotation: Any) -> bool:
    return annotation is str or (
        isinstance(annotation, types.UnionType | type(typing.Optional[int]))  # noqa: UP045
        and str in typing.get_args(annotation)
        and len([a for a in typing.get_args(annotation) if a is not type(None)]) == 1
    )


def _is_list(annotation: Any) -> bool:
    """Whether the type is a list, or an optional one (`list[str] | None`)."""
    union = isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
    return any(typing.get_origin(a) is list for a in (typing.get_args(annotation) if union else (annotation,)))
