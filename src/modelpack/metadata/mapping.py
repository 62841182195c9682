"""Metadata <-> the ModelPack config blob and manifest annotations.

Annotations carry all the metadata, so registry UIs and `inspect --remote` read a model's metadata from the
manifest alone; the config blob carries what model-spec defines, and nothing else (its schema forbids it).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from modelpack.oci import mediatypes as mt
from modelpack.oci.jsontext import parse_or_none

if TYPE_CHECKING:
    from modelpack.metadata.schema import ModelMetadata

# Our scalar fields: annotation key suffix -> metadata field alias.
_SCALARS = ("name", "framework", "format", "architecture", "family", "paramSize", "precision",
            "quantization", "parent")
# Structured fields, as JSON in keys ending +json (the convention model-spec itself uses).
_STRUCTURED = ("metrics", "hyperparameters", "datasets", "labels", "authors", "capabilities")
SCALAR_FIELDS, STRUCTURED_FIELDS = _SCALARS, _STRUCTURED  # for readers that rebuild modelpack.yaml
_OCI = {
    "title": mt.A_TITLE,
    "description": mt.A_DESCRIPTION,
    "version": mt.A_VERSION,
    "sourceURL": mt.A_SOURCE,
    "revision": mt.A_REVISION,
    "vendor": mt.A_VENDOR,
    "docURL": mt.A_DOCUMENTATION,
}


def rfc3339(moment: datetime) -> str:
    """UTC, whole seconds. A naive time is taken as UTC (as `created` is), not as the machine's zone."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _capabilities(meta: ModelMetadata) -> dict[str, Any] | None:
    if meta.capabilities is None:
        return None
    caps = meta.capabilities.model_dump(by_alias=True, exclude_none=True, mode="json")
    if meta.capabilities.knowledge_cutoff is not None:
        caps["knowledgeCutoff"] = rfc3339(meta.capabilities.knowledge_cutoff)
    return caps


def manifest_annotations(meta: ModelMetadata, created: datetime) -> dict[str, str]:
    fields = meta.model_dump(by_alias=True, exclude_none=True, mode="json")
    fields["capabilities"] = _capabilities(meta)
    out: dict[str, str] = {}
    for alias, key in _OCI.items():
        if fields.get(alias):
            out[key] = str(fields[alias])
    out.setdefault(mt.A_TITLE, meta.name)
    out[mt.A_CREATED] = rfc3339(created)
    if meta.authors:
        out[mt.A_AUTHORS] = ", ".join(meta.authors)
    if meta.licenses:
        # OCI wants one SPDX expression; several licenses all apply.
        out[mt.A_LICENSES] = " AND ".join(meta.licenses)
    for alias in _SCALARS:
        if fields.get(alias):
            out[mt.NS + alias] = str(fields[alias])
    for alias in _STRUCTURED:
        if fields.get(alias):
            out[mt.NS + alias + "+json"] = canonical_json(fields[alias])
    return dict(sorted(out.items()))


def model_config(meta: ModelMetadata, created: datetime, diff_ids: list[str]) -> dict[str, Any]:
    """The config blob, exactly the three objects model-spec's schema allows, empty fields left out."""
    descriptor = {
        "name": meta.name,
        "version": meta.version,
        "title": meta.title,
        "description": meta.description,
        "authors": meta.authors or None,
        "licenses": meta.licenses or None,
        "family": meta.family,
        "vendor": meta.vendor,
        "createdAt": rfc3339(created),
        "docURL": meta.doc_url,
        "sourceURL": meta.source_url,
        "datasetsURL": meta.datasets or None,
        "revision": meta.revision,
    }
    config: dict[str, Any] = {
        "architecture": meta.architecture,
        "format": meta.format,
        "paramSize": meta.param_size,
        "precision": meta.precision,
        "quantization": meta.quantization,
    }
    if meta.capabilities is not None:
        config["capabilities"] = _capabilities(meta)
    return {
        "descriptor": {k: v for k, v in descriptor.items() if v is not None},
        "config": {k: v for k, v in config.items() if v is not None},
        "modelfs": {"type": "layers", "diffIds": diff_ids},
    }


def metadata_view(annotations: dict[str, str] | None, config: dict[str, Any] | None,
                  malformed: list[str] | None = None) -> dict[str, Any]:
    """What a reader shows as a model's metadata, from the manifest annotations and (if read) the config.

    Works for artifacts other tools made: absent fields are simply absent. A structured annotation
    that is not JSON of its field's shape is left out, and its key appended to `malformed`.
    """
    ann = annotations or {}
    view: dict[str, Any] = {}
    if config:
        descriptor = config.get("descriptor") or {}
        model_cfg = config.get("config") or {}
        if isinstance(descriptor, dict):
            for key in ("name", "version", "title", "description", "authors", "licenses", "family", "vendor",
                        "docURL", "sourceURL", "revision"):
                if descriptor.get(key) not in (None, "", []):
                    view[key] = descriptor[key]
            if descriptor.get("createdAt"):
                view["created"] = descriptor["createdAt"]
            if descriptor.get("datasetsURL"):
                view["datasets"] = descriptor["datasetsURL"]
        if isinstance(model_cfg, dict):
            view.update({k: v for k, v in model_cfg.items() if v not in (None, "", [])})
    for alias, key in _OCI.items():
        if key in ann:
            view.setdefault(alias, ann[key])
    if mt.A_CREATED in ann:
        view.setdefault("created", ann[mt.A_CREATED])
    if mt.A_AUTHORS in ann and mt.NS + "authors+json" not in ann:
        view.setdefault("authors", [a.strip() for a in ann[mt.A_AUTHORS].split(",") if a.strip()])
    if mt.A_LICENSES in ann:
        view.setdefault("licenses", [x.strip() for x in ann[mt.A_LICENSES].split(" AND ") if x.strip()])
    for alias in _SCALARS:
        if mt.NS + alias in ann:
            view[alias] = ann[mt.NS + alias]
    for alias in _STRUCTURED:
        key = mt.NS + alias + "+json"
        if key in ann:
            value = parse_or_none(ann[key])  # a registry's annotation: it may be anything
            if _well_formed(alias, value):
                view[alias] = value
            elif malformed is not None:
                malformed.append(key)
    return dict(sorted(view.items()))


def malformed_annotation(key: str) -> str:
    """How `ls`, `inspect` and `report` say a structured annotation was left out (`metadata_view`'s `malformed`)."""
    return f"ignored its malformed {key} annotation (not JSON of its field's shape)"


def _well_formed(alias: str, value: Any) -> bool:
    """Whether a structured annotation has its field's shape (metrics: name -> finite number, ...)."""
    if alias in ("datasets", "authors"):
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if not isinstance(value, dict):
        return False
    if alias == "metrics":
        return all(isinstance(v, int | float) and not isinstance(v, bool) for v in value.values())
    if alias == "labels":
        return all(isinstance(v, str) for v in value.values())
    return True
