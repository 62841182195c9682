"""Reading `modelpack.yaml` into plain data (YAML as JSON can hold it), apart from its validation: a push
reads it before its first hash, and validates it (pydantic) on another thread while files are hashed."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import yaml

from modelpack.errors import MetadataError
from modelpack.metadata.filename import MAX_METADATA_BYTES


def read_yaml(path: Path) -> dict[str, Any]:
    if path.stat().st_size > MAX_METADATA_BYTES:
        raise MetadataError(f"{path}: larger than {MAX_METADATA_BYTES} bytes")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MetadataError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    try:
        data = yaml.load(text, Loader=JsonLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise MetadataError(f"{path}: not valid YAML{line}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MetadataError(f"{path}: expected a mapping of fields at the top level")
    return data


class JsonLoader(yaml.SafeLoader):
    """safe_load, but building only what JSON can hold, since metadata ends up as JSON: text, numbers,
    true/false, null, lists and mappings. A timestamp stays text (the fields that are times parse it and
    name a bad one, such as month 13); `!!binary`, `!!set`, `!!omap` and `!!pairs` are refused. A key
    given twice in one mapping is an error: YAML would keep the last silently, and a second `metrics:`
    block lower in the file would quietly replace the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, typing.Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_text(self, node: yaml.Node) -> str:
        return str(self.construct_scalar(node))  # type: ignore[arg-type]

    def refuse(self, node: yaml.Node) -> None:
        raise yaml.constructor.ConstructorError(
            None, None, f"!!{node.tag.rsplit(':', 1)[-1]} is not allowed: metadata holds only text, numbers, "
            "true/false, lists and mappings", node.start_mark)


JsonLoader.add_constructor("tag:yaml.org,2002:timestamp", JsonLoader.construct_text)
for _tag in ("binary", "set", "omap", "pairs"):
    JsonLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", JsonLoader.refuse)
