"""Container images (`build-image`'s serving images and modelcars, their bases, anything `docker push`
wrote): an image config over filesystem layers. Nothing of their own is model metadata (the config's
labels are the runtime's), so this reader adds no field: `plain_oras` reads their OCI annotations (which
`build-image` writes: title, version, created). It names the format, so `inspect` and the UI say
"container-image" rather than taking the image for a plain ORAS artifact."""

from __future__ import annotations

from typing import Any

from modelpack.image.kinds import is_filesystem_image
from modelpack.oci.descriptor import Manifest

FORMAT = "container-image"


def applies(manifest: Manifest) -> bool:
    """Whether the manifest is a container image of filesystem layers (`kinds.is_filesystem_image`)."""
    return is_filesystem_image(manifest)


def read(manifest: Manifest, config: dict[str, Any] | None, malformed: list[str] | None) -> dict[str, Any]:
    """No fields: an image config describes a runtime, not a model.

    Args:
        manifest: the image's manifest (unused).
        config: its image config (unused).
        malformed: unused.

    Returns:
        An empty mapping.
    """
    return {}
