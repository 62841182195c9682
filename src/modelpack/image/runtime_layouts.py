"""Where the runtime KServe picks for a modelcar looks for the model under `/mnt/models` (the modelcar's
`/models`), and whether a modelcar of ours is laid out so, read from KServe's ClusterServingRuntimes
(config/runtimes/ in kserve/kserve):

- `onnx`: kserve-tritonserver, `tritonserver --model-store=/mnt/models`: `NAME/1/model.onnx` (laid out by
  `modelcar.layout_for`, annotated `triton`).
- `tensorflow`: kserve-tensorflow-serving, `tensorflow_model_server --model_base_path=/mnt/models`, which
  serves SavedModels in numbered version folders: `1/saved_model.pb` and `1/variables/`. It speaks the
  v1 protocol only (`protocolVersions: v1, grpc-v1`); asked for v2, KServe would pick Triton instead. A
  flat SavedModel is laid out as `/models/1/` (annotated `tfserving`); a model already in version folders
  stays as it is.
- `pytorch`: kserve-torchserve, `torchserve --model-store=/mnt/models/model-store
  --ts-config=/mnt/models/config/config.properties`: `.mar` archives and that config file, which only the
  model's author can write (handler, workers, model snapshot), so nothing is written: the model must hold
  them at those paths.

None of these servers runs here: the layouts follow their documented command lines, not a run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

TFSERVING_VERSION = "1"
SAVED_MODEL = "saved_model.pb"
_VERSIONED = re.compile(r"^[0-9]+/saved_model\.pb(txt)?$")
TORCHSERVE_CONFIG = "config/config.properties"
TORCHSERVE_STORE = "model-store/"
# The v1 protocol, where the runtime KServe should pick speaks no v2.
V1_ONLY = frozenset({"tensorflow"})


def tfserving_root(paths: Iterable[str]) -> str | None:
    """Where a TensorFlow model's files go for TF Serving: `models/1` for a SavedModel at the model's root,
    `models` for one already in numbered version folders, None when the model holds no SavedModel.

    Args:
        paths: the model's file paths.

    Returns:
        The root, or None.
    """
    paths = list(paths)
    if SAVED_MODEL in paths or "saved_model.pbtxt" in paths:
        return f"models/{TFSERVING_VERSION}"
    if any(_VERSIONED.match(path) for path in paths):
        return "models"
    return None


def layout_problem(model_format: str, layout: str | None, paths: list[str], reference: str) -> str | None:
    """Why the runtime KServe picks for `model_format` could not load a modelcar of ours, or None.

    Args:
        model_format: KServe's modelFormat name.
        reference: the modelcar, named in the reason.
        layout: the modelcar's recorded layout (`io.modelpack.modelcar.layout`; None: not recorded).
        paths: the file paths of the model it was built from (empty: not known, not checked).

    Returns:
        The reason (its first words name the runtime and what it loads), or None.
    """
    if model_format == "onnx" and layout != "triton":
        return (f"KServe serves onnx with Triton, which loads /mnt/models/NAME/1/model.onnx, and {reference} holds "
                "its files flat under /models (built by an older modelpack, or no single .onnx file to serve)")
    if model_format == "tensorflow" and layout != "tfserving":
        return (f"KServe serves tensorflow with TF Serving, which loads a SavedModel from /mnt/models/1/"
                f"saved_model.pb, and {reference} holds none there (a .keras or .h5 file is not one; or it was "
                "built by an older modelpack)")
    if model_format == "pytorch" and paths and not (
            TORCHSERVE_CONFIG in paths and any(p.startswith(TORCHSERVE_STORE) and p.endswith(".mar") for p in paths)):
        return (f"KServe serves pytorch with TorchServe, which loads /mnt/models/{TORCHSERVE_STORE}*.mar with "
                f"/mnt/models/{TORCHSERVE_CONFIG}, and the model of {reference} holds no such files (modelpack "
                "writes no TorchServe config)")
    return None
