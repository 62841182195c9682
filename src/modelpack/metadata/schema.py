"""The metadata a user declares for a model (`modelpack.yaml`), validated with pydantic."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelpack.oci.mediatypes import Compression, Kind
from modelpack.plain_json import as_json, non_finite

Modality = Literal["text", "image", "audio", "video", "embedding", "other"]


class _Strict(BaseModel):
    # Unknown keys are refused so a typo (`metric:` for `metrics:`) is an error, not silently lost.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FileRules(_Strict):
    """Which files become layers, and how. Globs are matched against paths relative to the model root."""

    include: list[str] = Field(default_factory=list, description="Only paths matching one of these globs.")
    exclude: list[str] = Field(default_factory=list, description="Paths matching any of these are left out.")
    kinds: dict[str, Kind] = Field(
        default_factory=dict, description="glob -> kind; the first matching glob overrides the default."
    )
    archives: list[str] = Field(
        default_factory=list,
        description="Folders packed as one reproducible tar layer each, instead of one layer per file.",
    )
    compress: Compression | None = Field(
        default=None,
        description="Compress doc, code and dataset layers (each file, or folder of `archives`, as a tar): "
        "gzip or zstd. Weights and their config files stay uncompressed.",
    )

    @field_validator("archives")
    @classmethod
    def _folders_inside(cls, value: list[str]) -> list[str]:
        # Each must name a folder below the model root, written relative to it.
        folders = []
        for text in value:
            parts = [p for p in text.strip().split("/") if p not in ("", ".")]
            if text.strip().startswith("/"):
                raise ValueError(f"{text!r} is an absolute path: name a folder relative to the model directory")
            if ".." in parts:
                raise ValueError(f"{text!r} leaves the model directory: name a folder inside it")
            if not parts:
                raise ValueError(f"{text!r} is the model directory itself: name a folder inside it")
            folders.append("/".join(parts))
        return folders


class Capabilities(_Strict):
    input_types: list[Modality] | None = Field(default=None, alias="inputTypes")
    output_types: list[Modality] | None = Field(default=None, alias="outputTypes")
    knowledge_cutoff: datetime | None = Field(default=None, alias="knowledgeCutoff")
    reasoning: bool | None = None
    tool_usage: bool | None = Field(default=None, alias="toolUsage")
    reward: bool | None = None
    languages: list[str] | None = None

    @field_validator("languages")
    @classmethod
    def _iso639(cls, value: list[str] | None) -> list[str] | None:
        for lang in value or []:
            if len(lang) != 2 or not lang.isascii() or not lang.islower() or not lang.isalpha():
                raise ValueError(f"{lang!r} is not a two-letter ISO 639-1 code")
        return value


class ModelMetadata(_Strict):
    """Everything modelpack records about a model version. All fields are optional except `name`."""

    name: str = Field(min_length=1, description="Model name.")
    version: str | None = Field(default=None, description="Version label, e.g. 1.2.0.")
    title: str | None = None
    description: str | None = None
    authors: list[str] = Field(default_factory=list)
    licenses: list[str] = Field(default_factory=list, description="SPDX license identifiers.")
    vendor: str | None = None
    family: str | None = Field(default=None, description="Model family, e.g. llama.")
    framework: str | None = Field(default=None, description="Training framework, e.g. scikit-learn.")
    format: str | None = Field(default=None, description="Weight format, e.g. safetensors, onnx, joblib.")
    architecture: str | None = None
    param_size: str | None = Field(default=None, alias="paramSize", description="e.g. 8b, 1.2M.")
    precision: str | None = Field(default=None, description="e.g. float16, int8.")
    quantization: str | None = Field(default=None, description="e.g. awq, gptq, q4_k_m.")
    capabilities: Capabilities | None = None
    metrics: dict[str, float] = Field(default_factory=dict, description="Metric name -> number.")
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    datasets: list[str] = Field(default_factory=list, description="Dataset names or URLs.")
    parent: str | None = Field(default=None, description="The model this one derives from (a reference).")
    labels: dict[str, str] = Field(default_factory=dict)
    doc_url: str | None = Field(default=None, alias="docURL")
    source_url: str | None = Field(default=None, alias="sourceURL")
    revision: str | None = Field(default=None, description="Source revision (git commit).")
    created: datetime | None = Field(default=None, description="Set at pack time unless given.")
    files: FileRules = Field(default_factory=FileRules)

    @field_validator("authors", "licenses", "datasets", mode="before")
    @classmethod
    def _one_as_list(cls, value: Any) -> Any:
        # `licenses: MIT` means the one-item list, as `--set licenses=MIT` does.
        return [value] if isinstance(value, str) else value

    @field_validator("metrics", mode="before")
    @classmethod
    def _not_boolean(cls, value: Any) -> Any:
        # pydantic would read `true` as 1.0; a metric is a measured number.
        for key, item in value.items() if isinstance(value, dict) else ():
            if isinstance(item, bool):
                raise ValueError(f"metric {key!r} is {str(item).lower()}, not a number")
        return value

    @field_validator("metrics")
    @classmethod
    def _finite(cls, value: dict[str, float]) -> dict[str, float]:
        for key, number in value.items():
            if not math.isfinite(number):
                raise ValueError(f"metric {key!r} is not a finite number")
        return value

    @field_validator("metrics", "hyperparameters", mode="before")
    @classmethod
    def _plain_json(cls, value: Any) -> Any:
        # A training script passes what it computed: numpy numbers and arrays become JSON's numbers and lists.
        return as_json(value) if isinstance(value, dict) else value

    @field_validator("hyperparameters")
    @classmethod
    def _finite_anywhere(cls, value: dict[str, Any]) -> dict[str, Any]:
        # JSON has no NaN or infinity: json.dumps would write an invalid document, or null silently.
        if (where := non_finite(value)) is not None:
            raise ValueError(f"{where or 'value'} is not a finite number (JSON has no NaN or infinity)")
        return value

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_as_text(cls, value: Any) -> Any:
        # YAML turns `stage: 1` or `prod: yes` into numbers and booleans; labels are text.
        if isinstance(value, dict):
            return {k: v if isinstance(v, str) else _scalar_text(v) for k, v in value.items()}
        return value


def _scalar_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value
