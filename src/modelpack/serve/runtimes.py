"""Model runtimes: load a model directory and run predictions on numpy arrays."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from modelpack.errors import MissingDependencyError, ModelpackError, UsageError
from modelpack.inspection.xgboost_file import SUFFIXES as XGBOOST_SUFFIXES
from modelpack.serve.datatypes import cast
from modelpack.serve.xgboost_runtime import load_booster


class Runtime(Protocol):
    platform: str
    named_inputs: bool  # the model names its inputs (False: it takes one matrix, under any name)

    def predict(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Named numpy arrays in, named numpy arrays out."""
        ...

    def signature(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(inputs, outputs) metadata: name, datatype, shape (-1 for any)."""
        ...


@dataclass
class SklearnRuntime:
    model: Any
    platform: str = "sklearn"
    named_inputs: bool = False
    outputs: list[str] = field(default_factory=lambda: ["predict"])

    def predict(self, inputs: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        features = np.asarray(next(iter(inputs.values())))  # one 2-D input: `signature_check`
        out = {"predict": np.asarray(self.model.predict(features))}
        if hasattr(self.model, "predict_proba"):
            out["predict_proba"] = np.asarray(self.model.predict_proba(features))
        return out

    def signature(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The datatypes predictions really have: a classifier's labels are of its `classes_` dtype
        (INT64, BYTES, BOOL ...), a regressor's FP64; probabilities FP64, one column per class."""
        from modelpack.serve.datatypes import datatype_of

        width = int(getattr(self.model, "n_features_in_", -1))
        classes = getattr(self.model, "classes_", None)
        dtype = getattr(classes, "dtype", None)
        labels = datatype_of(dtype) if dtype is not None else "FP64"
        outputs = [{"name": "predict", "datatype": labels, "shape": [-1]}]
        if hasattr(self.model, "predict_proba"):
            columns = len(classes) if classes is not None and getattr(classes, "ndim", 0) == 1 else -1
            outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, columns]})
        return [{"name": "input-0", "datatype": "FP64", "shape": [-1, width]}], outputs


@dataclass
class OnnxRuntime:
    session: Any
    platform: str = "onnxruntime_onnx"
    named_inputs: bool = True

    def predict(self, inputs: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        expected = {i.name: i for i in self.session.get_inputs()}
        feed = {}
        for name, value in inputs.items():  # names and shapes checked by `signature_check`
            value = cast(np.asarray(value), _v2_type(expected[name].type), f"input {name!r}")
            if expected[name].type == "tensor(string)" and np.size(value):  # onnxruntime takes text: binary
                try:  # BYTES arrive as bytes
                    value = np.vectorize(_text, otypes=[object])(value)
                except UnicodeDecodeError as exc:
                    raise ValueError(f"input {name!r}: BYTES element {exc.object[:20]!r} is not UTF-8, as the "
                                     "model's string input needs") from None
            feed[name] = value
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self.session.run(names, feed), strict=True))

    def signature(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        def describe(items: Any) -> list[dict[str, Any]]:
            return [{"name": i.name, "datatype": _v2_type(i.type),
                     "shape": [d if isinstance(d, int) else -1 for d in i.shape]} for i in items]

        return describe(self.session.get_inputs()), describe(self.session.get_outputs())


_ONNX_TO_V2 = {"tensor(float)": "FP32", "tensor(double)": "FP64", "tensor(float16)": "FP16", "tensor(bool)": "BOOL",
               "tensor(string)": "BYTES", **{f"tensor({t.lower()})": t for t in
                                            ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64")}}


def _text(value: Any) -> str:
    """A BYTES element as the text onnxruntime's string tensors take (ValueError: not UTF-8)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _v2_type(onnx_type: str) -> str:
    return _ONNX_TO_V2.get(onnx_type, "FP32")


def load(path: Path) -> Runtime:
    """The runtime for one model file (chosen by `model_file.choose`; the caller decides whether a
    pickle may be loaded at all).

    Args:
        path: an .onnx, .skops, .joblib, .pkl or .pickle file, or an XGBoost .ubj, .bst or .json file.

    Returns:
        A runtime ready to predict.

    Raises:
        MissingDependencyError: the `[serve]` extra (or the package the model needs) is not installed.
        UntrustedContentError: a .skops file names types outside the allow-list.
        UsageError: the file cannot be loaded.
    """
    require("numpy")
    if path.suffix.lower() == ".onnx":
        onnxruntime = require("onnxruntime")
        options = onnxruntime.SessionOptions()
        # Fatal only: onnxruntime's logger writes to fd 2 past Python, raw, naming the graph's nodes and
        # initializers as the model file does (escape sequences included); a failure comes as an exception.
        options.log_severity_level = 4
        return OnnxRuntime(_loading(path, lambda: onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"])))
    if path.suffix.lower() in (*XGBOOST_SUFFIXES, ".json"):
        require("xgboost")
        return _loading(path, lambda: load_booster(path))
    if path.suffix.lower() == ".skops":
        require("skops.io")
        from modelpack.serve.skops_trust import load_skops

        return SklearnRuntime(_loading(path, lambda: load_skops(path)))
    joblib = require("joblib")
    return SklearnRuntime(_loading(path, lambda: joblib.load(path)))


GRPC_MISSING = '--grpc-port needs grpcio and protobuf: pip install "modelpack[grpc]"'


def require_stack(grpc: bool = False) -> None:
    """Import what a server needs beyond the model's runtime (the `[serve]` extra's HTTP stack and, for
    gRPC, the `[grpc]` extra), or say how to install it: before a model is pulled or loaded, so a missing
    extra is said before gigabytes are downloaded, not after.

    Raises:
        MissingDependencyError: a module is not installed.
    """
    for module in ("uvicorn", "starlette", "prometheus_client"):
        require(module)
    if grpc:
        try:
            importlib.import_module("grpc")
            importlib.import_module("google.protobuf")
        except ImportError:
            raise MissingDependencyError(GRPC_MISSING) from None


def require(module: str) -> Any:
    """Import a module the `[serve]` extra provides, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        from modelpack.cli.stops import Terminated, terminated_meanwhile

        if terminated_meanwhile():  # a stop signal cut an import short (`serve --workers` stopped while loading)
            raise Terminated from None
        missing = exc.name or module
        raise MissingDependencyError(f'serving needs {missing}, which is not installed: '
                                     'pip install "modelpack[serve]"') from None


def _loading(path: Path, load: Callable[[], Any]) -> Any:
    try:
        return load()
    except ModelpackError:
        raise
    except ModuleNotFoundError as exc:  # the model names a package: ours to install, or not servable
        if (exc.name or "").split(".")[0] in _SERVE_PACKAGES:
            raise MissingDependencyError(f'{path.name} needs {exc.name}, which is not installed: '
                                         'pip install "modelpack[serve]"') from None
        raise UsageError(f"{path.name}: cannot load it, it needs the module {exc.name}") from None
    except Exception as exc:  # a corrupt or foreign file: say which, one line (XGBoost's errors span several)
        first = next(iter(str(exc).strip().splitlines()), "")[:300]
        raise UsageError(f"{path.name}: cannot load it ({type(exc).__name__}: {first})") from None


_SERVE_PACKAGES = ("numpy", "scipy", "sklearn", "joblib", "skops", "onnxruntime", "xgboost")
