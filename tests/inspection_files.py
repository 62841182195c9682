"""Synthetic model files for the `init` tests: safetensors, GGUF, ONNX, a model card, a pickled class
whose unpickling would leave a marker file."""

from __future__ import annotations

import json
import struct
from pathlib import Path

GGUF_UINT32, GGUF_STRING, GGUF_ARRAY = 4, 8, 9


def write_safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]], width: dict[str, int]) -> None:
    """A safetensors file (zeros) with these tensors: name -> (dtype, shape); `width`: bytes per dtype."""
    header, offset = {}, 0
    for name, (dtype, shape) in tensors.items():
        size = width[dtype]
        for dim in shape:
            size *= dim
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"\0" * offset)


def gguf_string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(data)) + data


def gguf_bytes(values: list[tuple[str, int, bytes]], tensors: list[tuple[str, list[int]]], version: int = 3) -> bytes:
    """A GGUF header: key/values given as (key, type id, encoded value), tensors as (name, shape)."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(values))
    for key, kind, payload in values:
        out += gguf_string(key) + struct.pack("<I", kind) + payload
    for name, shape in tensors:
        out += gguf_string(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        out += struct.pack("<IQ", 0, 0)
    return out


def llama_gguf() -> bytes:
    """Architecture llama, file type 15 (Q4_K_M), a 3-token vocabulary, 2 tensors of 1,000,000 + 500,000."""
    tokens = struct.pack("<IQ", GGUF_STRING, 3) + b"".join(gguf_string(t) for t in ("<s>", "a", "b"))
    return gguf_bytes(
        [("general.architecture", GGUF_STRING, gguf_string("llama")),
         ("general.name", GGUF_STRING, gguf_string("Tiny Llama")),
         ("tokenizer.ggml.tokens", GGUF_ARRAY, tokens),
         ("llama.block_count", GGUF_UINT32, struct.pack("<I", 2)),
         ("general.file_type", GGUF_UINT32, struct.pack("<I", 15))],
        [("token_embd.weight", [1000, 1000]), ("output.weight", [500, 1000])])


def model_card(front_matter: str) -> str:
    return f"---\n{front_matter}---\n# A model\n\nSome words.\n"


class FakeForestClassifier:
    """A scikit-learn-like estimator: unpickling it writes `marker` (so a test can tell it never happened)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.n_estimators = 3

    def __setstate__(self, state: dict[str, object]) -> None:
        Path(str(state["marker"])).write_text("unpickled")
        self.__dict__.update(state)
