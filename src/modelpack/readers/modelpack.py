"""ModelPack artifacts (`application/vnd.cncf.model.*`): the model-spec config blob and modelpack's
manifest annotations (`org.opencontainers.image.*`, `io.modelpack.model.*`), as `metadata_view` reads
them: the annotations alone when the config was not read (`ls`)."""

from __future__ import annotations

from typing import Any

from modelpack.metadata.mapping import metadata_view
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Manifest

FORMAT = "modelpack"


def applies(manifest: Manifest) -> bool:
    """Whether the manifest declares a ModelPack model (its artifact type or config media type)."""
    return manifest.artifact_type == mt.MODEL_ARTIFACT or manifest.config.media_type == mt.MODEL_CONFIG


def read(manifest: Manifest, config: dict[str, Any] | None, malformed: list[str] | None) -> dict[str, Any]:
    """The model's fields from its config (when read) and annotations.

    Args:
        manifest: the model's manifest.
        config: the parsed config blob, or None when it was not read.
        malformed: collects the annotation keys ignored as malformed.

    Returns:
        The `Fields` the artifact records.
    """
    own_config = config if mt.is_model_config(manifest.config.media_type) else None
    return metadata_view(manifest.annotations, own_config, malformed)
