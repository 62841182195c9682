#!/usr/bin/env python3
"""The kserve SDK's ModelServer serving a scikit-learn .skops model, for `benchmarks/serving.py`.

A tiny `kserve.Model` subclass, written as kserve's own sklearnserver is (a synchronous `predict` on the
event loop, V2 `InferRequest` in, `InferResponse` out), returning what `modelpack serve` returns for the
same model: `predict` (the class labels) and `predict_proba`.

    python benchmarks/kserve_server.py MODEL.skops NAME PORT
"""

from __future__ import annotations

import sys
from typing import Any

import kserve
import numpy as np
import skops.io as sio
from kserve import InferOutput, InferRequest, InferResponse


class SklearnModel(kserve.Model):  # type: ignore[misc]
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path
        self.model: Any = None
        self.load()

    def load(self) -> bool:
        # The benchmark made this file itself; the types it names are scikit-learn's and numpy's.
        self.model = sio.load(self.path, trusted=sio.get_untrusted_types(file=self.path))
        self.ready = True
        return True

    def predict(self, payload: InferRequest, headers: dict[str, str] | None = None,
                response_headers: dict[str, str] | None = None) -> InferResponse:
        features = payload.inputs[0].as_numpy()
        outputs = []
        for name, value in (("predict", self.model.predict(features)),
                            ("predict_proba", self.model.predict_proba(features))):
            array = np.asarray(value)
            output = InferOutput(name=name, shape=list(array.shape),
                                 datatype="INT64" if array.dtype.kind == "i" else "FP64")
            output.set_data_from_numpy(array, binary_data=False)
            outputs.append(output)
        return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=outputs)


if __name__ == "__main__":
    path, name, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    kserve.ModelServer(http_port=port, enable_grpc=False).start([SklearnModel(name, path)])
