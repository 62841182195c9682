"""What a model is, typed: rebuilt from its manifest, config and annotations, the same type whatever
wrote the artifact (modelpack, the legacy `cnai` names, other tools' formats) and wherever it was read
(a registry, the local store, an OCI layout). `diff`, `lineage`, `serve`, `k8s` and the CLI read its
fields; `to_json()` is for output only (`inspect --json`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from modelpack.errors import UsageError
from modelpack.formats import layer_kind
from modelpack.image.kinds import platform_name, refuse_image_as_model
from modelpack.metadata.disagreement import Disagreement, disagreements
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Index, Manifest
from modelpack.unpacking import layer_path


@dataclass(frozen=True)
class FileInfo:
    """One layer: the file (or folder archive) it restores."""

    path: str | None  # None: a layer that names no path
    kind: str | None  # weight, weight.config, doc, code, dataset; None for other tools' media types
    media_type: str
    digest: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "mediaType": self.media_type, "digest": self.digest,
                "size": self.size}


@dataclass(frozen=True)
class IndexEntry:
    """One manifest an index lists: what it is for (platform) and what it is (artifact type)."""

    digest: str
    size: int
    media_type: str
    platform: str | None  # os/architecture[/variant], when the index says
    artifact_type: str | None  # the entry's, else its manifest's artifactType or config media type

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "size": self.size, "mediaType": self.media_type, "platform": self.platform,
                "artifactType": self.artifact_type}


@dataclass(frozen=True)
class ModelInfo:
    """A model's identity, metadata and files.

    `metadata` holds every field the artifact records (the `modelpack.yaml` names: name, version,
    description, metrics, datasets, ...; `readers.Fields`), as the reader of its format found them;
    the properties read the common ones, typed. `source_format` names that format ("modelpack",
    "cnai", "kitops", "docker-model", "omlmd", "modctl", "container-image", "oras", or "index").
    """

    reference: str
    descriptor: Descriptor
    manifest: Manifest | Index
    config: dict[str, Any] | None = None  # the config blob, when it is JSON
    metadata: dict[str, Any] = field(default_factory=dict)
    files: tuple[FileInfo, ...] = ()
    source_format: str = "modelpack"
    entries: tuple[IndexEntry, ...] = ()  # an index's manifests (see `with_entry_types`)
    malformed: tuple[str, ...] = ()  # annotation keys left out of `metadata` as not well formed

    @classmethod
    def read(cls, reference: str, descriptor: Descriptor, manifest: Manifest | Index,
             config: dict[str, Any] | None, malformed: list[str] | None = None) -> ModelInfo:
        """Build from what a storage returned.

        Args:
            reference: what the model was read as (shown back).
            descriptor: the manifest's (or index's) descriptor.
            manifest: the parsed manifest or index.
            config: its parsed config blob, or None when it was not read (`ls`) or is not JSON.
            malformed: collects the annotation keys left out as not well formed (also kept in `malformed`).

        Returns:
            The model, its metadata read by the reader of whichever format wrote it.
        """
        # Imported here: every format's reader is needed only to read metadata (not by a pull).
        from modelpack.readers import read_fields

        found: list[str] = []
        source_format, metadata = read_fields(manifest, config, found)
        if malformed is not None:
            malformed.extend(key for key in found if key not in malformed)
        if isinstance(manifest, Index):
            entries = tuple(IndexEntry(child.digest, child.size, child.media_type,
                                       platform_name(child.platform) if child.platform else None,
                                       child.artifact_type) for child in manifest.manifests)
            return cls(reference, descriptor, manifest, config, metadata, source_format=source_format,
                       entries=entries, malformed=tuple(found))
        files = tuple(FileInfo(layer_path(layer), layer_kind(layer.media_type), layer.media_type, layer.digest,
                               layer.size) for layer in manifest.layers)
        return cls(reference, descriptor, manifest, config, metadata, files, source_format, malformed=tuple(found))

    # -- identity ----------------------------------------------------------------------------------
    @property
    def digest(self) -> str:
        return self.descriptor.digest

    @property
    def artifact_type(self) -> str | None:
        node = self.manifest
        return node.artifact_type or (node.config.media_type if isinstance(node, Manifest) else None)

    def with_entry_types(self, types: dict[str, str]) -> ModelInfo:
        """A copy whose index entries that declare no artifact type take theirs from `types` (digest ->
        the child manifest's artifact type, read by the caller)."""
        return replace(self, entries=tuple(replace(e, artifact_type=e.artifact_type or types.get(e.digest))
                                           for e in self.entries))

    @property
    def children(self) -> list[Descriptor]:
        """An index's manifests (none for a single model)."""
        return list(self.manifest.manifests) if isinstance(self.manifest, Index) else []

    def one_model(self, named: object, use: str) -> ModelInfo:
        """This info, when it describes one model (what report, sbom and diff compare or document).

        Args:
            named: how the user named it, for the message.
            use: what it is read for ("diff", "sbom", "report"): a container image names what to use instead.

        Returns:
            self.

        Raises:
            ContainerImageError: it is a container image (a modelcar, a serving image), or an index of them.
            UsageError: it is an index.
        """
        refuse_image_as_model(named, self.manifest, use)  # first: a multi-platform image is an index too
        if self.children:
            raise UsageError(index_refusal(named, "is an index; name one of its models by digest"))
        return self

    # -- metadata ----------------------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        return _text(self.metadata.get("name"))

    @property
    def version(self) -> str | None:
        return _text(self.metadata.get("version"))

    @property
    def description(self) -> str | None:
        return _text(self.metadata.get("description"))

    @property
    def created(self) -> str | None:
        return _text(self.metadata.get("created"))

    @property
    def framework(self) -> str | None:
        return _text(self.metadata.get("framework"))

    @property
    def software(self) -> list[str]:
        """The software versions its labels record (`metadata.software`), e.g. `scikit-learn 1.5.2`."""
        from modelpack.metadata.software import software_versions

        return software_versions(self.metadata.get("labels"))

    @property
    def parent(self) -> str | None:
        return _text(self.metadata.get("parent"))

    @property
    def title(self) -> str | None:
        return _text(self.metadata.get("title"))

    @property
    def family(self) -> str | None:
        return _text(self.metadata.get("family"))

    @property
    def architecture(self) -> str | None:
        return _text(self.metadata.get("architecture"))

    @property
    def param_size(self) -> str | None:
        """The parameter count as recorded (`paramSize`: 8b, 1.2M)."""
        return _text(self.metadata.get("paramSize"))

    @property
    def precision(self) -> str | None:
        return _text(self.metadata.get("precision"))

    @property
    def quantization(self) -> str | None:
        return _text(self.metadata.get("quantization"))

    @property
    def datasets(self) -> list[str]:
        """The datasets' names or URLs."""
        return _texts(self.metadata.get("datasets"))

    @property
    def source(self) -> str | None:
        """Where the model's source lives (`sourceURL`)."""
        return _text(self.metadata.get("sourceURL"))

    @property
    def authors(self) -> list[str]:
        return _texts(self.metadata.get("authors"))

    @property
    def licenses(self) -> list[str]:
        return _texts(self.metadata.get("licenses"))

    @property
    def parameters(self) -> dict[str, Any]:
        """The model's parameters as recorded (`hyperparameters`; a KitOps model's `parameters`)."""
        raw = self.metadata.get("hyperparameters")
        return dict(raw) if isinstance(raw, dict) else {}

    @property
    def metrics(self) -> dict[str, float]:
        """The numeric metrics (an artifact may record others; they stay in `metadata`)."""
        raw = self.metadata.get("metrics")
        if not isinstance(raw, dict):
            return {}
        return {str(k): float(v) for k, v in raw.items()
                if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)}

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def disagreements(self) -> list[Disagreement]:
        """Fields a model-spec config and the manifest annotations both record, differently (never for what
        modelpack packs; `ls` shows the annotations' value, `metadata` the one `metadata_view` prefers)."""
        node = self.manifest
        if not isinstance(node, Manifest) or not mt.is_model_config(node.config.media_type):
            return []
        return disagreements(node.annotations, self.config)

    # -- output ------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The `inspect --json` document."""
        node = self.manifest
        out: dict[str, Any] = {
            "reference": self.reference,
            "digest": self.digest,
            "mediaType": node.media_type,
            "artifactType": self.artifact_type,
            "artifactFormat": self.source_format,
            "size": self.descriptor.size,
            "annotations": dict(node.annotations or {}),
        }
        if isinstance(node, Index):
            out["manifests"] = [m.to_json() for m in node.manifests]
            out["children"] = [entry.to_json() for entry in self.entries]
            out["metadata"] = self.metadata
            out["layers"] = []
            return out
        out["config"] = node.config.to_json()
        out["metadata"] = self.metadata
        out["metadataDisagreements"] = [d.to_json() for d in self.disagreements]
        out["malformedAnnotations"] = list(self.malformed)
        out["layers"] = [f.to_json() for f in self.files]
        out["totalSize"] = self.total_size
        return out


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _texts(value: object) -> list[str]:
    return [str(item) for item in value if item not in (None, "")] if isinstance(value, list) else []


def index_refusal(named: object, otherwise: str) -> str:
    """Why an index is refused where one model is needed. A signature tag (`sha256-<hex>`, which `crane ls`
    and registry UIs list beside the versions) says whose signatures it holds and names that model.

    Args:
        named: the reference as the user gave it.
        otherwise: what to say of any other index ("is an index; ...").

    Returns:
        The message.
    """
    from modelpack.signatures.lookup import is_signature_tag

    text = str(named)
    repository, _, tag = text.rpartition(":")
    if "@" not in text and "/" in repository and is_signature_tag(tag):
        model = f"{repository}@{tag.split('.')[0].replace('-', ':', 1)}"
        return f"{text} holds the signatures of a model, not a model; name the model itself: {model}"
    return f"{text} {otherwise}"
