"""The Kubernetes version a manifest is written for, and the fields that version decides.

By default `k8s` writes for a current cluster. Two fields it writes are younger than clusters still in use:

- `lifecycle.preStop.sleep` (KEP-3960): alpha in 1.29 behind the PodLifecycleSleepAction gate, off by
  default, so a 1.29 API server drops the field and refuses the now empty handler; absent before 1.29.
  On by default since 1.30. For an older cluster the same pause is an `exec` hook running the serving
  image's own Python (`time.sleep`): the image needs no `sleep` binary, which distroless bases lack.
- image volumes (KEP-4639): beta from 1.33; `--kind image-volume` is refused for an older cluster.
"""

from __future__ import annotations

import re
from typing import Any

SLEEP_ACTION = (1, 30)
IMAGE_VOLUMES = (1, 33)
OLDEST = (1, 20)  # startupProbe is GA from 1.20; an older API server refuses the Deployment anyway
_VERSION = re.compile(r"^v?1\.(\d{1,3})(?:\.\d{1,4})?$")
# The interpreter a serving image records (`io.modelpack.serve.python.interpreter`, as base_python finds it)
_INTERPRETER = re.compile(r"^/usr/(?:local/)?bin/python3(?:\.\d{1,2})?$")
FALLBACK_PYTHON = "python3"  # found through PATH: the official python images and Debian's python3 link it


def parse(text: str) -> tuple[int, int] | None:
    """A Kubernetes version as (major, minor): `1.29`, `v1.29` or `1.29.4` (a patch release changes no field).

    Args:
        text: the version, as `kubectl version` gives the server's.

    Returns:
        (1, minor), or None when `text` is not such a version.
    """
    match = _VERSION.match(text.strip()) if isinstance(text, str) else None
    return (1, int(match.group(1))) if match else None


def pre_stop(version: tuple[int, int] | None, seconds: int, interpreter: str | None = None) -> dict[str, Any]:
    """The preStop handler that pauses `seconds` before SIGTERM, in the form `version` accepts.

    Args:
        version: the cluster's (major, minor); None: a current one (the sleep action).
        seconds: how long to pause.
        interpreter: the serving image's Python as it records it; ignored unless an absolute path of the
            form base images have (a registry wrote it), else `python3` through PATH is run.

    Returns:
        A `lifecycle.preStop` handler: `sleep` from 1.30, `exec` before.
    """
    if version is None or version >= SLEEP_ACTION:
        return {"sleep": {"seconds": seconds}}
    python = interpreter if isinstance(interpreter, str) and _INTERPRETER.match(interpreter) else FALLBACK_PYTHON
    return {"exec": {"command": [python, "-c", f"import time; time.sleep({int(seconds)})"]}}
