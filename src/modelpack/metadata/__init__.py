"""Model metadata: the `modelpack.yaml` schema, `--set` overrides, and its mapping to config and annotations."""

