"""`modelpack init`: a `modelpack.yaml` written from what a directory's files say, with no network.

Each format has its own reader (safetensors and GGUF headers, config.json, the model card, ONNX, pickles
(their class and scikit-learn version) and skops files, XGBoost's own model files, the Hugging Face cache
path); this module runs them on the files it recognises and merges their answers, the first source in
`_merge`'s order winning for each field. Of the model files, only the one that wins (MODEL_FILE_KINDS'
order) is read: a stray pickle beside an XGBoost model says nothing about it. The result is validated by
the same loader `pack` uses before anything is written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modelpack.advice import compose, setting
from modelpack.cli.escape import clean
from modelpack.errors import InvalidReferenceError, UsageError
from modelpack.inspection.gguf_header import GgufSummary, read_gguf_header
from modelpack.inspection.hf_cache import snapshot_fields
from modelpack.inspection.hf_config import read_hf_config
from modelpack.inspection.model_card import read_model_card
from modelpack.inspection.onnx_header import read_onnx_header
from modelpack.inspection.param_size import format_param_count
from modelpack.inspection.pickle_classes import pickled_class
from modelpack.inspection.pickle_versions import pickled_sklearn_version
from modelpack.inspection.reading import short_text
from modelpack.inspection.safetensors_header import SafetensorsSummary, read_safetensors_header
from modelpack.inspection.skops_schema import skops_class, skops_schema, skops_versions
from modelpack.inspection.xgboost_file import SUFFIXES as XGBOOST_SUFFIXES
from modelpack.inspection.xgboost_file import is_xgboost_model
from modelpack.inspection.xgboost_model import read_xgboost_model
from modelpack.metadata.filename import METADATA_FILE
from modelpack.metadata.load import validate
from modelpack.metadata.schema import FileRules
from modelpack.metadata.software import ONNX_PRODUCER
from modelpack.model_folder import require_model_folder
from modelpack.oci.reference import Reference
from modelpack.packing.select import LayerSource, select_layers

MAX_SAFETENSORS_FILES = 10_000  # shards whose headers are read
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")


@dataclass
class InitResult:
    """What `init` found: the metadata (as modelpack.yaml holds it), the files it came from, notes on
    what was left out, the YAML text and where it was written (None with `write=False`)."""

    fields: dict[str, Any]
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    text: str = ""
    path: Path | None = None


def init_metadata(model_dir: str | Path, *, force: bool = False, write: bool = True) -> InitResult:
    """Describe a model directory's files as modelpack.yaml metadata and (by default) write it there.

    Args:
        model_dir: the model's directory (a Hugging Face cache snapshot folder too).
        force: replace an existing modelpack.yaml.
        write: False to only return the text (`init --print`).

    Returns:
        The fields, their sources, notes and the YAML text; `path` is the file written.

    Raises:
        UsageError: not a directory, or modelpack.yaml exists and `force` is not set.
        MalformedFileError: a recognised file whose header cannot be read (named, with what is wrong).
    """
    root = require_model_folder(model_dir)
    target = root / METADATA_FILE
    if write and not force and os.path.lexists(target):
        raise UsageError(f"{target} exists: nothing written", advice=compose(
            "{} replaces it, {} shows what would be written", setting("force=True", "--force"),
            setting("write=False", "--print")))
    result = describe_files(root)
    validate(dict(result.fields))  # what pack will read must load: refused here, not at pack time
    result.text = render(result)
    if write:
        result.path = _write(target, result.text, force)
    return result


def describe_files(root: Path) -> InitResult:
    """The metadata fields the files below `root` state, merged; nothing is written."""
    found = recognised_files(select_layers(root, FileRules()))
    result = InitResult(fields={})
    model = _model_kind(found, result)
    parts: list[dict[str, Any]] = [snapshot_fields(root)]
    if model == "safetensors":
        parts.append(_safetensors(found["safetensors"], result))
    parts += [_single(found, kind, reader, result) for kind, reader in _READERS
              if kind not in MODEL_FILE_KINDS or kind == model]
    _merge(result, parts)
    result.fields.setdefault("name", short_text(root.absolute().name) or "model")
    # name first; labels last, so text appended to the file (README's Quick start) follows the scalars
    labels = {"labels": result.fields.pop("labels")} if "labels" in result.fields else {}
    result.fields = {"name": result.fields.pop("name"), **result.fields, **labels}
    return result


def render(result: InitResult) -> str:
    """modelpack.yaml's text: a comment naming the sources, then the fields."""
    # File names are anyone's (a download, a pull): a newline would end the comment and start a key.
    sources = clean(", ".join(result.sources)) or "no recognised file"
    head = f"# Written by `modelpack init` from {sources}.\n# Edit freely: pack and push read this file.\n"
    return head + yaml.safe_dump(result.fields, sort_keys=False, allow_unicode=True, default_flow_style=False)


def recognised_files(sources: Iterable[LayerSource]) -> dict[str, list[tuple[str, Path]]]:
    """The files `init` can read among a directory's layers, by kind (a MODEL_FILE_KINDS entry,
    `config.json` or `README.md`), each as (path in the model, path to read), in the layers' order.

    Args:
        sources: the layers `select_layers` chose; a folder packed as one archive is not looked into.

    Returns:
        A list of files for each kind found.
    """
    found: dict[str, list[tuple[str, Path]]] = {}
    for layer in sources:
        if layer.archive:
            continue
        path = Path(layer.files[0].path)
        kind = _format_of(layer.relpath, path)
        if kind is not None:
            found.setdefault(kind, []).append((layer.relpath, path))
    return found


def format_name(kind: str, relpath: str) -> str:
    """The `format` init writes for a model file of `kind`: the kind itself, or for an estimator or
    XGBoost file its suffix (`joblib`, `skops`, `ubj`), `.pkl` being `pickle`."""
    if kind not in ("skops", "pickle", "xgboost"):
        return kind
    suffix = relpath.rsplit(".", 1)[-1].lower()
    return "pickle" if suffix == "pkl" else suffix


def _format_of(relpath: str, path: Path) -> str | None:
    if is_xgboost_model(path):  # serve's own test: a .json only when it begins as XGBoost writes a model
        return "xgboost"
    return format_by_name(relpath)


def format_by_name(relpath: str) -> str | None:
    """The kind a file's name alone tells (`recognised_files` also reads a `.json`'s first bytes, which
    may make it an XGBoost model): a MODEL_FILE_KINDS entry, `config.json`, `README.md` or None."""
    lower = relpath.lower()
    if lower.endswith(XGBOOST_SUFFIXES):
        return "xgboost"
    if relpath in ("config.json", "README.md"):
        return relpath
    for suffix, kind in ((".safetensors", "safetensors"), (".gguf", "gguf"), (".onnx", "onnx"),
                         (".skops", "skops")):
        if lower.endswith(suffix):
            return kind
    return "pickle" if lower.endswith(PICKLE_SUFFIXES) else None


def _model_kind(found: dict[str, list[tuple[str, Path]]], result: InitResult) -> str | None:
    """The kind of the one model file the fields describing a model (format, framework, architecture,
    size, precision) come from: the first of MODEL_FILE_KINDS present. Files of the other kinds describe
    other files, so they are noted and not read (a pickle's class is not the XGBoost model's)."""
    present = [kind for kind in MODEL_FILE_KINDS if found.get(kind)]
    if not present:
        return None
    for kind in present[1:]:
        result.notes.append(f"{found[kind][0][0]}: not described (the model file is {found[present[0]][0][0]})")
    return present[0]


def _safetensors(files: list[tuple[str, Path]], result: InitResult) -> dict[str, Any]:
    if not files:
        return {}
    total = SafetensorsSummary()
    for relpath, path in files[:MAX_SAFETENSORS_FILES]:
        total.add(read_safetensors_header(path, relpath))
    if len(files) > MAX_SAFETENSORS_FILES:
        result.notes.append(f"{len(files)} safetensors files: the first {MAX_SAFETENSORS_FILES} were counted")
    result.sources.append(files[0][0] if len(files) == 1 else f"{len(files)} safetensors files")
    out: dict[str, Any] = {"format": "safetensors", "paramSize": format_param_count(total.parameters)}
    if total.precision:
        out["precision"] = total.precision
    if total.versions:  # what __metadata__ says wrote it (Annex IV 1(c))
        out["labels"] = {f"{name}.version": version for name, version in total.versions.items()}
    return out


def _single(found: dict[str, list[tuple[str, Path]]], kind: str,
            reader: Callable[[Path, str, InitResult], dict[str, Any]], result: InitResult) -> dict[str, Any]:
    """The fields of the first file of `kind` (sorted by path); a note when others were not read."""
    files = found.get(kind, [])
    if not files:
        return {}
    relpath, path = files[0]
    if len(files) > 1:
        result.notes.append(f"{len(files)} {kind} files: described from {relpath} only")
    fields = reader(path, relpath, result)
    result.sources.append(relpath)
    return fields


def _config(path: Path, relpath: str, result: InitResult) -> dict[str, Any]:
    return read_hf_config(path, relpath)


def _card(path: Path, relpath: str, result: InitResult) -> dict[str, Any]:
    card = read_model_card(path, relpath)
    fields: dict[str, Any] = {k: card[k] for k in ("licenses", "datasets") if k in card}
    if "languages" in card:
        fields["capabilities"] = {"languages": card["languages"]}
    if base := card.get("base_model"):
        try:
            registry = Reference.parse(base).registry
        except InvalidReferenceError:
            registry = None
        if registry:
            fields["parent"] = base
        else:  # a Hugging Face id (ORG/NAME) names no registry: as parent, lineage could not follow it
            fields["labels"] = {"baseModel": base}
            why = "is not a valid reference (upper case?)" if registry is None else \
                "names no registry (a Hugging Face id?)"
            result.notes.append(f"{relpath}: base_model {base!r} {why}, so it is recorded as labels.baseModel, "
                                "not parent (set parent to its registry reference to record the lineage)")
    return fields


def _gguf(path: Path, relpath: str, result: InitResult) -> dict[str, Any]:
    summary: GgufSummary = read_gguf_header(path, relpath)
    fields = {"format": "gguf", **summary.fields()}
    if summary.parameters:
        fields["paramSize"] = format_param_count(summary.parameters)
    elif size := short_text(summary.values.get("general.size_label"), 32):
        fields["paramSize"] = size
    return fields


def _onnx(path: Path, relpath: str, result: InitResult) -> dict[str, Any]:
    summary = read_onnx_header(path, relpath)
    labels = {}
    if summary.opset is not None:
        labels["onnx.opset"] = str(summary.opset)
    if summary.inputs:
        labels["onnx.inputs"] = ",".join(summary.inputs)
    if summary.producer:  # the exporting framework (Annex IV 1(c)): pytorch 2.1.0, skl2onnx 1.17.0
        labels[ONNX_PRODUCER] = f"{summary.producer} {summary.producer_version}".strip()
    return {"format": "onnx", **({"labels": labels} if labels else {})}


def _estimator(path: Path, relpath: str, result: InitResult) -> dict[str, Any]:
    suffix = relpath.rsplit(".", 1)[-1].lower()
    fields: dict[str, Any] = {"format": format_name("pickle", relpath)}
    if suffix == "skops":
        schema = skops_schema(path, relpath)
        found = skops_class(schema)
        if versions := skops_versions(schema):  # the software it was saved with (Annex IV 1(c))
            fields["labels"] = {f"{name}.version": version for name, version in versions.items()}
    else:
        found = pickled_class(path, relpath)
        if version := pickled_sklearn_version(path, relpath):  # from the estimator's state, nothing loaded
            fields["labels"] = {"scikit-learn.version": version}
    if found is None:
        result.notes.append(f"{relpath}: no class named before the end of what was read")
        return fields
    module, cls = found
    fields["architecture"] = cls
    if module.split(".")[0] == "sklearn":
        fields["framework"] = "scikit-learn"
    return fields


def _xgboost(path: Path, relpath: str, result: InitResult) -> dict[str, Any]:
    # Its name and first bytes said it is one (`is_xgboost_model`); the document says the rest (booster,
    # objective ...), the trees skipped.
    fields, note = read_xgboost_model(path, relpath)
    if note:
        result.notes.append(note)
    return {"framework": "xgboost", "format": format_name("xgboost", relpath), **fields}


# The kinds of model file, most preferred first: weights before the files `serve` loads, and among those
# data before pickles, as `serve` chooses them (XGBoost's files before pickles). Only the first present
# is read.
MODEL_FILE_KINDS = ("safetensors", "gguf", "onnx", "xgboost", "skops", "pickle")
# After the cache path and safetensors: their order is each field's precedence.
_READERS: tuple[tuple[str, Callable[[Path, str, InitResult], dict[str, Any]]], ...] = (
    ("config.json", _config), ("README.md", _card), ("gguf", _gguf), ("onnx", _onnx), ("xgboost", _xgboost),
    ("skops", _estimator), ("pickle", _estimator),
)


def _merge(result: InitResult, parts: list[dict[str, Any]]) -> None:
    """Each field from the first part that has it; labels merged key by key."""
    for part in parts:
        for key, value in part.items():
            if key == "labels":
                result.fields["labels"] = {**value, **result.fields.get("labels", {})}
            else:
                result.fields.setdefault(key, value)


def _write(target: Path, text: str, force: bool) -> Path:
    """Write `text` to `target`: created exclusively (a file made meanwhile is not replaced) unless
    `force`, then through a temporary file renamed over it (a link there is replaced, not followed)."""
    data = text.encode()
    if not force:
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise UsageError(f"{target} exists: nothing written (--force replaces it)") from None
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        return target
    fd, temp = tempfile.mkstemp(prefix=".modelpack.yaml.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        os.unlink(temp)
        raise
    return target
