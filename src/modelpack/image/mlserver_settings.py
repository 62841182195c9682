"""MLServer's `model-settings.json` in a modelcar: what it makes MLServer run.

KServe's `kserve-mlserver` runtime serves `sklearn`, `xgboost` and `lightgbm` modelcars (and the sklearn
runtimes are what `k8s --kind kserve` may get). MLServer looks for `model-settings.json` files anywhere
under its models folder (`/mnt/models/**`) and, finding one, loads the model it describes instead of the
one KServe names. Such a file can make MLServer run code the modelcar brings:

- `implementation`: a Python class MLServer imports with the file's own folder on `sys.path` (a custom
  runtime: `models.MyModel` from a `models.py` beside it); only MLServer's own data-reading runtimes are
  taken as they are.
- `parameters.uri`: the file the runtime loads, whatever its name: MLServer's sklearn runtime `joblib.load`s
  it, so a pickle named `weights.dat` would escape the check by suffix.
- `parameters.environment_tarball` / `environment_path`: a Python environment MLServer unpacks and runs the
  model in.

Such a file counts as one a runtime runs code from (`modelcar.refuse_unverified_pickles`). A file MLServer
cannot read at all (not a JSON object, a field of the wrong type, over 64 KiB) is refused when a modelcar
is built: MLServer would skip it with a logged traceback, and the model would not be served as its
author wrote.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SETTINGS_NAME = "model-settings.json"
MAX_SETTINGS = 64 * 1024  # a real one is a few hundred bytes
# MLServer's runtimes that load data formats, not code (mlserver_mlflow loads pyfunc pickles; alibi and
# huggingface ones load pickles or a model's remote code).
DATA_RUNTIMES = ("mlserver_sklearn.SKLearnModel", "mlserver_xgboost.XGBoostModel", "mlserver_lightgbm.LightGBMModel")
_CODE_PARAMETERS = ("uri", "environment_tarball", "environment_path")
_STRINGS = ("name", "platform", "implementation")


def is_settings(path: str) -> bool:
    """Whether MLServer reads `path` (relative to its models folder, at any depth) as model settings."""
    return path.rpartition("/")[2] == SETTINGS_NAME


def unreadable(content: bytes) -> str | None:
    """Why MLServer cannot read a model-settings.json, or None when it can.

    Args:
        content: the file's bytes (at most MAX_SETTINGS + 1 of them: more is said to be too large).

    Returns:
        One clause naming the problem, e.g. "is not JSON", "'parameters' is not an object".
    """
    if len(content) > MAX_SETTINGS:
        return f"is over {MAX_SETTINGS // 1024} KiB"
    try:
        settings = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return "is not JSON"
    if not isinstance(settings, dict):
        return "is not a JSON object"
    for key in _STRINGS:
        if key in settings and not isinstance(settings[key], str):
            return f"has {key!r} that is not a string"
    parameters = settings.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        return "has 'parameters' that is not an object"
    for key, value in (parameters or {}).items():
        if key in (*_CODE_PARAMETERS, "version", "format", "content_type") and not isinstance(value, str):
            return f"has 'parameters.{key}' that is not a string"
    return None


def runs_code(content: bytes) -> str | None:
    """What in a model-settings.json makes MLServer run code the modelcar brings, or None.

    Args:
        content: the file's bytes (or their head: a file MLServer cannot read counts, unread).

    Returns:
        A short reason, e.g. "MLServer imports models.MyModel", or None.
    """
    if unreadable(content) is not None:
        return "unreadable here: it may name code MLServer runs"
    settings: dict[str, Any] = json.loads(content.decode("utf-8"))
    implementation = settings.get("implementation")
    if implementation is not None and implementation not in DATA_RUNTIMES:
        return f"MLServer imports {_short(implementation)}"
    parameters = settings.get("parameters") or {}
    if "uri" in parameters:
        return f"MLServer loads {_short(parameters['uri'])} whatever its name"
    for key in ("environment_tarball", "environment_path"):
        if key in parameters:
            return f"MLServer runs the model in the environment {_short(parameters[key])}"
    return None


def settings_running_code(files: Mapping[str, Path], sizes: Mapping[str, int] | None = None) -> list[str]:
    """The model-settings.json files among a modelcar's that make MLServer run code, each with why.

    Args:
        files: each path (as under /models) and a file holding its bytes, or its head when `sizes` says
            the whole is longer (a head cut short counts: what it names was not read).
        sizes: each path's whole size, where `files` holds heads.

    Returns:
        "PATH (REASON)" entries, sorted.
    """
    found = []
    for path in sorted(p for p in files if is_settings(p)):
        content = _head(files[path])
        whole = (sizes or {}).get(path)
        if whole is not None and whole > len(content):
            found.append(f"{path} (read only in part: it may name code MLServer runs)")
        elif (reason := runs_code(content)) is not None:
            found.append(f"{path} ({reason})")
    return found


def refuse_unreadable(files: Mapping[str, Path]) -> None:
    """Refuse a model whose model-settings.json MLServer cannot read (building a modelcar of it).

    Args:
        files: each path (as under /models) and the file holding its bytes.

    Raises:
        UsageError: naming the file and what is wrong with it (exit 2).
    """
    from modelpack.advice import compose
    from modelpack.errors import UsageError

    for path in sorted(p for p in files if is_settings(p)):
        problem = unreadable(_head(files[path]))
        if problem is not None:
            raise UsageError(f"{path[:200]} {problem}: MLServer (a KServe runtime for this modelcar) cannot read "
                             "it as model settings", advice=compose("fix or delete it in the model's folder, push the "
                                                                        "model again and build from that"))


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(MAX_SETTINGS + 1)
    except OSError:
        return b"\0"  # unreadable: counted as such


def _short(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:80] + "...")
