"""How a serving image starts its server: one definition for the built image's config, the Dockerfile of
`build-image --docker` and the Kubernetes manifests' container arguments and probes."""

from __future__ import annotations

SERVE_PORT = 8080
SERVE_ARGS = ["serve", "/models", "--host", "0.0.0.0", "--port", str(SERVE_PORT)]
SERVE_COMMAND = ["modelpack", *SERVE_ARGS]
