"""Any other artifact (what `oras push` makes): the OCI manifest annotations
(`org.opencontainers.image.title`, `.description`, `.version`, `.created`, `.authors`, `.licenses`,
`.source`, ...), plus modelpack's own `io.modelpack.model.*` ones if present. A manifest `title` also
names the model when nothing else does. Every artifact gets these as the last fallback."""

from __future__ import annotations

from typing import Any

from modelpack.metadata.mapping import metadata_view
from modelpack.oci.descriptor import Index, Manifest
from modelpack.readers.values import put, text

FORMAT = "oras"


def applies(manifest: Manifest) -> bool:
    """Always: every manifest may carry OCI annotations."""
    return True


def read(manifest: Manifest | Index, config: dict[str, Any] | None,
         malformed: list[str] | None) -> dict[str, Any]:
    """The fields the manifest's (or index's) annotations record.

    Args:
        manifest: the manifest or index.
        config: unused (a plain artifact's config is not metadata).
        malformed: collects the structured annotation keys ignored as malformed.

    Returns:
        The `Fields` the annotations record.
    """
    fields = metadata_view(manifest.annotations, None, malformed)
    if "name" not in fields:
        put(fields, "name", text(fields.get("title")))
    return fields
