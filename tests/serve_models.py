"""Small real models for the inference server tests: a scikit-learn classifier saved with skops and an
ONNX graph whose outputs cover several datatypes (FP32, FP16, INT64, BOOL, UINT8)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import skops.io as sio
from onnx import TensorProto, helper
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

WEIGHTS = np.array([[1.0, -2.0], [0.5, 3.0], [2.0, 0.0]], dtype=np.float32)


def iris_skops(folder: Path, name: str = "iris", version: str = "1.0") -> tuple[Path, LogisticRegression]:
    """A logistic regression on iris (integer labels) in `folder`/model.skops, with its modelpack.yaml."""
    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(features, labels)
    folder.mkdir(parents=True)
    sio.dump(model, folder / "model.skops")
    (folder / "modelpack.yaml").write_text(f"name: {name}\nversion: '{version}'\nframework: scikit-learn\n")
    return folder, model


def typed_onnx(folder: Path) -> Path:
    """x (FP32 [N,3]), flags (UINT8 [N]) and text (BYTES [N]) in; y = x @ WEIGHTS (FP32), half (FP16), best
    (INT64 argmax), positive (BOOL y > 0), flags_out (UINT8) and text_out (BYTES, both unchanged) out."""
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"]),
             helper.make_node("Cast", ["y"], ["half"], to=TensorProto.FLOAT16),
             helper.make_node("ArgMax", ["y"], ["best"], axis=1, keepdims=0),
             helper.make_node("Greater", ["y", "zero"], ["positive"]),
             helper.make_node("Identity", ["flags"], ["flags_out"]),
             helper.make_node("Identity", ["text"], ["text_out"])]
    graph = helper.make_graph(
        nodes, "typed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3]),
         helper.make_tensor_value_info("flags", TensorProto.UINT8, [None]),
         helper.make_tensor_value_info("text", TensorProto.STRING, [None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2]),
         helper.make_tensor_value_info("half", TensorProto.FLOAT16, [None, 2]),
         helper.make_tensor_value_info("best", TensorProto.INT64, [None]),
         helper.make_tensor_value_info("positive", TensorProto.BOOL, [None, 2]),
         helper.make_tensor_value_info("flags_out", TensorProto.UINT8, [None]),
         helper.make_tensor_value_info("text_out", TensorProto.STRING, [None])],
        [helper.make_tensor("W", TensorProto.FLOAT, [3, 2], WEIGHTS.reshape(-1).tolist()),
         helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True)
    onnx.save(model, folder / "model.onnx")
    (folder / "modelpack.yaml").write_text("name: typed\nversion: '2'\nframework: onnx\n")
    return folder


def typed_inputs(make: Callable[[str, list[int], str], Any], flags: list[int], text: list[bytes],
                 **options: Any) -> tuple[np.ndarray, list[Any]]:
    """Two rows of inputs for `typed_onnx`, built with a client's InferInput class: (x, inputs)."""
    x = np.array([[1, 2, 3], [0.5, -1, 4]], dtype=np.float32)
    inputs = [make("x", [2, 3], "FP32"), make("flags", [2], "UINT8"), make("text", [2], "BYTES")]
    for tensor, value in zip(inputs, (x, np.array(flags, dtype=np.uint8), np.array(text, dtype=object)), strict=True):
        tensor.set_data_from_numpy(value, **options)
    return x, inputs
