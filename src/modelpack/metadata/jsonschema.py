"""The JSON Schema of `modelpack.yaml`, generated from the pydantic model (specs/metadata.schema.json).

    python -m modelpack.metadata.jsonschema > specs/metadata.schema.json
"""

from __future__ import annotations

import json
from typing import Any

from modelpack.metadata.schema import ModelMetadata


def metadata_schema() -> dict[str, Any]:
    schema = ModelMetadata.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://modelpack.dev/schemas/modelpack.yaml.json"
    schema["title"] = "modelpack.yaml"
    return schema


def render() -> str:
    return json.dumps(metadata_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(render(), end="")
