"""Model metadata: the `modelpack.yaml` schema, `--set` overrides, and its mapping to config and annotations."""

from modelpack.metadata.schema import FileRules, ModelMetadata

__all__ = ["FileRules", "ModelMetadata"]
