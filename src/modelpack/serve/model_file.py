"""Which file of a model directory to serve: safe formats before pickles, and no guessing.

ONNX, .skops and XGBoost's own files (.ubj, .bst, and a .json whose content is an XGBoost model) hold
data (an ONNX graph, an allow-listed skops tree, trees XGBoost's parser reads); .joblib/.pkl/.pickle are
pickles, i.e. code. A pickle is only chosen when no safe candidate exists; two candidates of the same
preference, or a declared framework none of the files belongs to, are refused with the files named.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from modelpack.advice import compose, setting
from modelpack.errors import UsageError
from modelpack.inspection.xgboost_file import SUFFIXES as XGBOOST_SUFFIXES
from modelpack.inspection.xgboost_file import is_xgboost_model

SAFE_SUFFIXES = (".onnx", ".skops", *XGBOOST_SUFFIXES)
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
_FRAMEWORK_SUFFIXES = {
    "onnx": (".onnx",), "onnxruntime": (".onnx",),
    "scikit-learn": (".skops", *PICKLE_SUFFIXES), "sklearn": (".skops", *PICKLE_SUFFIXES),
    "xgboost": (*XGBOOST_SUFFIXES, ".json"),
}
FRAMEWORKS = tuple(_FRAMEWORK_SUFFIXES)  # the declared frameworks that narrow the choice (others do not)
_KINDS = ".onnx, scikit-learn .skops/.joblib/.pkl, XGBoost .ubj/.bst/.json"
CHOOSE_MODEL_FILE = compose("choose one with {}", setting("model_file=PATH", "--model-file PATH"))


def suffixes_for(framework: str | None) -> tuple[str, ...] | None:
    """The file suffixes a declared framework restricts the choice to, or None when it does not."""
    return _FRAMEWORK_SUFFIXES.get((framework or "").lower())


def is_pickle(path: Path) -> bool:
    """Whether loading `path` unpickles it (runs code the file names)."""
    return path.suffix.lower() in PICKLE_SUFFIXES


def choose(model_dir: Path, framework: str | None = None, model_file: str | Path | None = None,
           label: str | None = None) -> Path:
    """The model file to serve from `model_dir`.

    Args:
        model_dir: the model's directory.
        framework: the model's declared framework (metadata); `onnx`/`scikit-learn` restrict the choice.
        model_file: an explicit choice, relative to `model_dir` (it must stay inside it).
        label: how errors name the model (default: `model_dir`), e.g. the reference it was pulled from.

    Returns:
        The path of the file to load.

    Raises:
        UsageError: nothing servable, several equally good candidates, a framework none of the files
            matches, or a `model_file` that is missing, outside the directory or of an unknown kind.
    """
    root = model_dir.resolve()
    if model_file is not None:
        return _explicit(root, Path(model_file))
    files = {str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file()}
    return files[pick(files, framework, label or str(model_dir))]


def pick(files: Mapping[str, Path], framework: str | None, label: str) -> str:
    """`choose`'s decision over files named apart from where their bytes are (a model's layers in the
    store, before they become a directory): build-image asks what `serve` will load from the image.

    Args:
        files: each file's path relative to the model directory, and the file holding its bytes.
        framework: the model's declared framework (see `choose`).
        label: how errors name the model.

    Returns:
        The relative path of the file `serve` loads.

    Raises:
        UsageError: nothing servable, several equally good candidates, or a framework none matches.
    """
    servable = sorted(name for name, content in files.items() if _servable(Path(name), content))
    if not servable:
        raise UsageError(f"no model file modelpack can serve in {label} ({_KINDS})")
    wanted = suffixes_for(framework)
    matching = [n for n in servable if wanted is None or Path(n).suffix.lower() in wanted]
    if not matching:
        raise UsageError(f"the model's framework is {framework} but its files are {', '.join(servable)}",
                         advice=CHOOSE_MODEL_FILE)
    safe = [n for n in matching if not is_pickle(Path(n))]
    best = safe or matching
    if len(best) > 1:
        raise UsageError(f"several model files could be served: {', '.join(best)}", advice=CHOOSE_MODEL_FILE)
    return best[0]


def refuse_none_servable(paths: list[str], label: str) -> None:
    """Refuse from a manifest's file paths alone, before anything is downloaded, a model `choose` would
    find nothing to serve in: no file of a kind it loads (a `.json` may be an XGBoost model: left to it).

    Raises:
        UsageError: none of `paths` could be served, as `pick` says it (nothing was downloaded).
    """
    if not any(Path(p).suffix.lower() in (*SAFE_SUFFIXES, *PICKLE_SUFFIXES, ".json") for p in paths):
        raise UsageError(f"no model file modelpack can serve in {label} ({_KINDS}); nothing was downloaded")


def only_pickles(paths: list[str], model_file: str | Path | None = None) -> bool:
    """Whether `choose` could only pick a pickle among these file paths (a manifest's, before anything is
    downloaded): the named `model_file` is one, or pickles are the only servable files. A `.json` might
    be an XGBoost model (only its content tells), so it leaves the answer to `choose`."""
    if model_file is not None:
        return is_pickle(Path(model_file))
    suffixes = {Path(p).suffix.lower() for p in paths}
    return bool(suffixes & set(PICKLE_SUFFIXES)) and not suffixes & {*SAFE_SUFFIXES, ".json"}


def _explicit(root: Path, model_file: Path) -> Path:
    path = (root / model_file).resolve()
    if not path.is_relative_to(root):
        raise UsageError(f"--model-file {model_file}: outside the model directory")
    if not path.is_file():
        raise UsageError(f"--model-file {model_file}: no such file in the model directory")
    if path.suffix.lower() not in (*SAFE_SUFFIXES, *PICKLE_SUFFIXES, ".json"):
        raise UsageError(f"--model-file {model_file}: modelpack serves {_KINDS} files")
    return path


def _servable(path: Path, content: Path) -> bool:
    return path.suffix.lower() in SAFE_SUFFIXES + PICKLE_SUFFIXES or is_xgboost_model(path, content)
