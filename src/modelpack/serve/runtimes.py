"""Model runtimes: load a model directory and run predictions on numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from modelpack.errors import UsageError

SKLEARN_SUFFIXES = (".joblib", ".skops", ".pkl", ".pickle")
SKLEARN_FRAMEWORKS = ("scikit-learn", "sklearn")


class Runtime(Protocol):
    platform: str

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
    outputs: list[str] = field(default_factory=lambda: ["predict"])

    def predict(self, inputs: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        if len(inputs) != 1:
            raise ValueError("a scikit-learn model takes exactly one input tensor")
        features = np.asarray(next(iter(inputs.values())))
        if features.ndim == 1:
            features = features.reshape(1, -1)
        out = {"predict": np.asarray(self.model.predict(features))}
        if hasattr(self.model, "predict_proba"):
            out["predict_proba"] = np.asarray(self.model.predict_proba(features))
        return out

    def signature(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        width = int(getattr(self.model, "n_features_in_", -1))
        outputs = [{"name": "predict", "datatype": "BYTES" if _is_text_labels(self.model) else "FP64",
                    "shape": [-1]}]
        if hasattr(self.model, "predict_proba"):
            outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, -1]})
        return [{"name": "input-0", "datatype": "FP64", "shape": [-1, width]}], outputs


def _is_text_labels(model: Any) -> bool:
    classes = getattr(model, "classes_", None)
    return classes is not None and getattr(classes, "dtype", None) is not None and classes.dtype.kind in "OUS"


@dataclass
class OnnxRuntime:
    session: Any
    platform: str = "onnxruntime_onnx"

    def predict(self, inputs: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        expected = {i.name: i for i in self.session.get_inputs()}
        feed = {}
        for name, value in inputs.items():
            if name not in expected:
                if len(expected) == 1 and len(inputs) == 1:
                    name = next(iter(expected))
                else:
                    raise ValueError(f"unknown input {name!r}; the model takes {sorted(expected)}")
            feed[name] = np.asarray(value, dtype=_numpy_type(expected[name].type))
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self.session.run(names, feed), strict=True))

    def signature(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        def describe(items: Any) -> list[dict[str, Any]]:
            return [{"name": i.name, "datatype": _v2_type(i.type),
                     "shape": [d if isinstance(d, int) else -1 for d in i.shape]} for i in items]

        return describe(self.session.get_inputs()), describe(self.session.get_outputs())


_ONNX_TO_V2 = {"tensor(float)": "FP32", "tensor(double)": "FP64", "tensor(int64)": "INT64", "tensor(int32)": "INT32",
               "tensor(string)": "BYTES", "tensor(bool)": "BOOL", "tensor(float16)": "FP16"}


def _v2_type(onnx_type: str) -> str:
    return _ONNX_TO_V2.get(onnx_type, "FP32")


def _numpy_type(onnx_type: str) -> str:
    return {"FP32": "float32", "FP64": "float64", "INT64": "int64", "INT32": "int32", "BOOL": "bool",
            "FP16": "float16", "BYTES": "object"}[_v2_type(onnx_type)]


def load(model_dir: Path, framework: str | None = None) -> Runtime:
    """The runtime for a model directory: chosen from `framework`, else from the files present."""
    files = sorted(p for p in model_dir.rglob("*") if p.is_file())
    onnx_files = [p for p in files if p.suffix == ".onnx"]
    sklearn_files = [p for p in files if p.suffix in SKLEARN_SUFFIXES]
    wants = (framework or "").lower()
    if (wants == "onnx" or not wants or wants not in SKLEARN_FRAMEWORKS) and onnx_files and \
            (wants == "onnx" or not sklearn_files):
        try:
            import onnxruntime
        except ImportError:
            raise UsageError("serving ONNX models needs onnxruntime: pip install 'modelpack[serve]'") from None
        return OnnxRuntime(onnxruntime.InferenceSession(str(onnx_files[0]), providers=["CPUExecutionProvider"]))
    if sklearn_files:
        path = sklearn_files[0]
        if path.suffix == ".skops":
            try:
                import skops.io as sio
            except ImportError:
                raise UsageError("serving .skops files needs skops: pip install 'modelpack[serve]'") from None
            return SklearnRuntime(sio.load(path, trusted=sio.get_untrusted_types(file=path)))
        import joblib

        return SklearnRuntime(joblib.load(path))
    raise UsageError(f"no model file modelpack can serve in {model_dir} (scikit-learn .joblib/.skops/.pkl, .onnx)")
