"""Legacy ModelPack artifacts, the `application/vnd.cnai.model.*` names model-spec had before its CNCF
ones (modctl wrote them): the same config shape (`descriptor`, `config`, `modelfs`) under the old media
types and the same annotations, so they are read exactly as ModelPack's (`modelpack.read`)."""

from __future__ import annotations

from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Manifest
from modelpack.readers import modelpack as current

FORMAT = "cnai"
LEGACY_ARTIFACT = mt.LEGACY_PREFIX + "manifest.v1+json"
LEGACY_CONFIG = mt.LEGACY_PREFIX + "config.v1+json"

read = current.read  # the config reader accepts both names (`mediatypes.is_model_config`)


def applies(manifest: Manifest) -> bool:
    """Whether the manifest declares a legacy `cnai` model (artifact type or config media type)."""
    return manifest.artifact_type == LEGACY_ARTIFACT or manifest.config.media_type == LEGACY_CONFIG
