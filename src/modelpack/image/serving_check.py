"""What a pod that runs `modelpack serve /models` in a serving image (`k8s --kind image-volume`) needs of that
image, as far as its config tells without running it or reading its layers:

- a Linux image (the pod's command is a Python program's);
- `modelpack` found through the image's PATH: the container runtime looks the command's first word up there.
  build-image's launcher is /opt/modelpack/bin/modelpack (its `io.modelpack.serve.*` labels say the image
  has it); another image's entrypoint may name where its modelpack is (`/venv/bin/modelpack serve`);
- the runtime of the file `serve` will load (onnxruntime for .onnx, ...), where the image records what it
  installed (build-image's `io.modelpack.serve.installed` label). An image that does not record it is not
  judged: its Python and packages are in layers this check does not read.

Every problem is a warning: the image may have what its config does not say (a PATH set by the pod, a
package installed another way)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from typing import Any

from modelpack.image.serving import SERVE_COMMAND
from modelpack.image.serving_layer import BIN, DEFAULT_PATH, LABEL
from modelpack.serve.model_file import PICKLE_SUFFIXES, SAFE_SUFFIXES, suffixes_for

# The distributions (as pip names them in `name==version`, normalized) each kind of model file is loaded
# with (serve.runtimes.load); a name counts when it starts with one given (onnxruntime-gpu, xgboost-cpu).
_RUNTIMES: dict[str, tuple[str, ...]] = {
    ".onnx": ("onnxruntime",), ".skops": ("skops", "scikit_learn"), ".ubj": ("xgboost",), ".bst": ("xgboost",),
    ".json": ("xgboost",), **{suffix: ("joblib", "scikit_learn") for suffix in PICKLE_SUFFIXES},
}
INSTALLED = f"{LABEL}installed"


def serving_image_problems(config: Any, model_paths: Iterable[str], framework: str | None = None) -> list[str]:
    """Why the serving image whose config is `config` may fail to run `modelpack serve /models` for a model of
    `model_paths` (declaring `framework`), each said after the image's name ("IMAGE does not ...").

    Args:
        config: the image's config (of its first platform), as read: anything, checked here.
        model_paths: the file paths of the model it will serve.
        framework: the model's declared framework, which narrows the file `serve` loads.

    Returns:
        The problems found, none when the config shows none.
    """
    config = config if isinstance(config, dict) else {}
    settings = _mapping(config.get("config"))
    problems = []
    system = config.get("os")
    if isinstance(system, str) and system and system != "linux":
        problems.append(f"is a {_shown(system)} image: `modelpack serve` runs on linux")
    labels = _mapping(settings.get("Labels"))
    where = _modelpack_folder(settings, labels)
    if where is None:
        problems.append("does not run `modelpack serve` (its entrypoint): the Deployment runs `modelpack serve "
                        "/models` in it, which needs modelpack installed there (build-image makes such an image)")
    elif where and where not in (path := _path(settings)).split(":"):
        problems.append(f"has its modelpack in {_shown(where)}, which its PATH ({_shown(path)}) does not list: the "
                        f"Deployment's command `modelpack` would not be found (add {_shown(where)} to PATH)")
    installed = labels.get(INSTALLED)
    if isinstance(installed, str) and installed:
        names = {_normal(item.split("==", 1)[0]) for item in installed.split(",")}
        missing = _missing_runtime(names, list(model_paths), framework)
        if missing:
            file, needed = missing
            problems.append(f"has no {', '.join(needed)} (its {INSTALLED} label), which serving {_shown(file)} "
                            "needs (build the image again with build-image)")
    return problems


def _modelpack_folder(settings: dict[str, Any], labels: dict[str, Any]) -> str | None:
    """Where the image's `modelpack` is: build-image's folder, the folder its entrypoint names ("" for a bare
    `modelpack`, found through PATH as the Deployment's is), or None when nothing says it has one."""
    entrypoint = settings.get("Entrypoint")
    if isinstance(labels.get(f"{LABEL}version"), str):
        return BIN
    if (isinstance(entrypoint, list) and len(entrypoint) >= 2 and all(isinstance(p, str) for p in entrypoint)
            and posixpath.basename(entrypoint[0]) == SERVE_COMMAND[0] and entrypoint[1] == SERVE_COMMAND[1]):
        return posixpath.dirname(entrypoint[0]).rstrip("/") if entrypoint[0].startswith("/") else ""
    return None


def _path(settings: dict[str, Any]) -> str:
    """The PATH the container runs with: the config's, else the runtime's default (runc's, containerd's)."""
    env = settings.get("Env")
    found = [e.split("=", 1)[1] for e in (env if isinstance(env, list) else [])
             if isinstance(e, str) and e.startswith("PATH=")]
    return found[-1] if found else DEFAULT_PATH


def _missing_runtime(names: set[str], paths: list[str], framework: str | None) -> tuple[str, list[str]] | None:
    """The file `serve` would load and the distributions it needs that `names` lacks, when every candidate
    file lacks one (safe formats before pickles, as serve.model_file chooses; a .json only for xgboost)."""
    narrowed = suffixes_for(framework)
    kinds = (*SAFE_SUFFIXES, *PICKLE_SUFFIXES, *(narrowed if narrowed and ".json" in narrowed else ()))
    candidates = [p for p in paths if _suffix(p) in kinds]
    if narrowed is not None and any(_suffix(p) in narrowed for p in candidates):
        candidates = [p for p in candidates if _suffix(p) in narrowed]
    safe = [p for p in candidates if _suffix(p) not in PICKLE_SUFFIXES]
    lacking = [(p, [n for n in _RUNTIMES[_suffix(p)] if not any(have.startswith(n) for have in names)])
               for p in sorted(safe or candidates)]
    if lacking and all(needed for _, needed in lacking):
        return lacking[0][0], [n.replace("_", "-") for n in lacking[0][1]]
    return None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _suffix(path: str) -> str:
    return posixpath.splitext(path)[1].lower()


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name.strip()).lower()


def _shown(text: str) -> str:
    """A value of the image's config as a warning line shows it: printable, and short."""
    shown = "".join(c if c.isprintable() else "?" for c in text)
    return shown if len(shown) <= 200 else shown[:200] + "..."
