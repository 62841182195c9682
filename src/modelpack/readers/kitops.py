"""KitOps artifacts: a ModelKit's config blob (`application/vnd.kitops.modelkit.config.v1+json`) is its
Kitfile as JSON; KitOps also carries the Kitfile, as JSON, in the manifest annotation
`ml.kitops.modelkit.kitfile` (on the ModelPack artifacts `kit pack --use-model-pack` writes). The
config is preferred when it was read; the annotation serves `ls`, which reads no config.

Read: `package` name, version, description, authors, license; `model` name (as `title`), framework,
format, version (when the package has none), parameters (a mapping: `hyperparameters`); dataset names.
"""

from __future__ import annotations

from typing import Any

from modelpack.formats import KITOPS_CONFIG
from modelpack.oci.descriptor import Manifest
from modelpack.readers.values import MAX_ITEMS, embedded_object, long_text, mapping, put, text, texts

FORMAT = "kitops"
ANNOTATION = "ml.kitops.modelkit.kitfile"


def applies(manifest: Manifest) -> bool:
    """Whether the manifest carries a Kitfile (as its config or in its annotation)."""
    return manifest.config.media_type == KITOPS_CONFIG or ANNOTATION in (manifest.annotations or {})


def read(manifest: Manifest, config: dict[str, Any] | None, malformed: list[str] | None) -> dict[str, Any]:
    """The model's fields from its Kitfile.

    Args:
        manifest: the model's manifest.
        config: the parsed config blob, or None when it was not read.
        malformed: collects `ml.kitops.modelkit.kitfile` when it is not a JSON object (or over the cap).

    Returns:
        The `Fields` the Kitfile records.
    """
    if manifest.config.media_type == KITOPS_CONFIG and isinstance(config, dict):
        return from_kitfile(config)
    return from_kitfile(embedded_object(manifest.annotations or {}, ANNOTATION, malformed))


def from_kitfile(kitfile: dict[str, Any]) -> dict[str, Any]:
    """A Kitfile (parsed JSON) in modelpack's field names; values of the wrong type are left out.

    Args:
        kitfile: the Kitfile document.

    Returns:
        The `Fields` it records.
    """
    package, model = mapping(kitfile.get("package")), mapping(kitfile.get("model"))
    fields: dict[str, Any] = {}
    put(fields, "name", text(package.get("name")))
    put(fields, "version", text(package.get("version")) or text(model.get("version")))
    put(fields, "description", long_text(package.get("description")) or long_text(model.get("description")))
    put(fields, "authors", texts(package.get("authors")))
    licence = text(package.get("license")) or text(model.get("license"))
    put(fields, "licenses", [licence] if licence else None)
    put(fields, "title", text(model.get("name")))
    put(fields, "framework", text(model.get("framework")))
    put(fields, "format", text(model.get("format")))
    put(fields, "hyperparameters", mapping(model.get("parameters")))
    datasets = kitfile.get("datasets")
    if isinstance(datasets, list):
        named = [mapping(d).get("name") or mapping(d).get("path") for d in datasets[:MAX_ITEMS]]
        put(fields, "datasets", texts(named))
    return fields
