"""`modelpack serve`: the Open Inference Protocol (KServe V2) over REST for scikit-learn and ONNX models."""
