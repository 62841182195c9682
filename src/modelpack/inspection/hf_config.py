"""A Hugging Face `config.json`: the model type (family), architectures, dtype and quantization."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelpack.errors import MalformedFileError
from modelpack.inspection.reading import parse_json, short_text, text_list

MAX_CONFIG_BYTES = 4 * 1024 * 1024


def read_hf_config(path: Path, name: str) -> dict[str, Any]:
    """The metadata fields a transformers config declares.

    Args:
        path: the config.json file.
        name: its path as shown in messages.

    Returns:
        Any of `family` (model_type), `architecture` (the first of `architectures`), `precision`
        (torch_dtype, or dtype in newer configs), `quantization` (quantization_config's method, with
        its bits: `gptq-4bit`), `framework` (`transformers` when the config says which version
        wrote it) and that version as `labels` `transformers.version`; a field the config does not
        state, or states as something other than short text, is absent.

    Raises:
        MalformedFileError: over 4 MiB, not JSON, or not a JSON object.
    """
    with open(path, "rb") as file:
        data = file.read(MAX_CONFIG_BYTES + 1)
    config = parse_json(data, name, MAX_CONFIG_BYTES)
    if not isinstance(config, dict):
        raise MalformedFileError(f"{name}: not a JSON object")
    fields: dict[str, Any] = {}
    if family := short_text(config.get("model_type")):
        fields["family"] = family
    if architectures := text_list(config.get("architectures")):
        fields["architecture"] = architectures[0]
    dtype = short_text(config.get("torch_dtype")) or short_text(config.get("dtype"))
    if dtype:
        fields["precision"] = dtype.removeprefix("torch.")
    if quantization := _quantization(config.get("quantization_config")):
        fields["quantization"] = quantization
    if version := short_text(config.get("transformers_version"), 64):
        fields["framework"] = "transformers"
        fields["labels"] = {"transformers.version": version}  # the software version (Annex IV 1(c))
    return fields


def _quantization(value: object) -> str | None:
    """`gptq-4bit`, `awq-4bit`, `bitsandbytes-8bit`, `fp8`: the method and, when stated, its bits."""
    if not isinstance(value, dict):
        return None
    method = short_text(value.get("quant_method"), 64)
    if method is None:
        return None
    bits = value.get("bits")
    if bits is None and value.get("load_in_4bit") is True:
        bits = 4
    elif bits is None and value.get("load_in_8bit") is True:
        bits = 8
    if isinstance(bits, int) and not isinstance(bits, bool) and 0 < bits <= 64:
        return f"{method.lower()}-{bits}bit"
    return method.lower()
