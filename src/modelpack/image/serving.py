"""How a serving image starts its server: one definition for the built image's config, the Dockerfile of
`build-image --docker` and the Kubernetes manifests' container arguments and probes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SERVE_PORT = 8080
SERVE_ARGS = ["serve", "/models", "--host", "0.0.0.0", "--port", str(SERVE_PORT)]
SERVE_COMMAND = ["modelpack", *SERVE_ARGS]
MAX_IDENTITY = 256  # characters of a model's name or version given to the server


def model_identity(meta: Mapping[str, Any]) -> dict[str, str]:
    """The name and version `serve /models` is told (MODELPACK_MODEL_NAME, _VERSION) by a serving image or
    by a pod that mounts the model: of the model's metadata (`metadata_view`), only printable text.

    The artifact chose them, and the server shows them as they are (its API, logs, /metrics): a value
    with a control character, a line break or a bidi override is left out, and so is one longer than
    `MAX_IDENTITY` characters (megabytes would go into every pod's spec and the image's config); the
    server then names the model by its folder, as when the artifact records none.

    Args:
        meta: the model's metadata view.

    Returns:
        "name" and "version", each only when present and printable.
    """
    return {key: meta[key] for key in ("name", "version")
            if isinstance(meta.get(key), str) and meta[key].isprintable() and len(meta[key]) <= MAX_IDENTITY}
