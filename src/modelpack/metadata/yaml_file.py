"""Reading `modelpack.yaml` into plain data (YAML as JSON can hold it), apart from its validation: a push
reads it before its first hash, and validates it (pydantic) on another thread while files are hashed."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import yaml

from modelpack.errors import MetadataError
from modelpack.metadata.filename import MAX_METADATA_BYTES
from modelpack.oci.jsontext import MAX_DEPTH

# Values (each text, number, list or mapping) a document may hold, as written and once its aliases are
# expanded. The metadata describes a model (model-spec's config: a few dozen fields, short lists of authors,
# licenses, datasets, languages); the longest honest lists hold tens or hundreds of items. PyYAML composes
# ~50,000 values a second, so a 1 MiB file of 300,000 list items took ~6 s per read (a push reads it twice),
# and ten lines of "billion laughs" hold 10**9 values that every later walk (checks, JSON) would visit.
MAX_VALUES = 10_000


class TooManyValues(yaml.composer.ComposerError):
    """The document holds more than MAX_VALUES values: refused while composing, before it is all read."""


def read_yaml(path: Path) -> dict[str, Any]:
    return parse_yaml(read_yaml_bytes(path), path)


def read_yaml_bytes(path: Path) -> bytes:
    """The bytes of the YAML file at `path`, refused past MAX_METADATA_BYTES (MetadataError)."""
    if path.stat().st_size > MAX_METADATA_BYTES:
        raise MetadataError(f"{path}: larger than {MAX_METADATA_BYTES} bytes")
    with open(path, "rb") as f:
        data = f.read(MAX_METADATA_BYTES + 1)
    if len(data) > MAX_METADATA_BYTES:  # (grown since its stat)
        raise MetadataError(f"{path}: larger than {MAX_METADATA_BYTES} bytes")
    return data


def parse_yaml(data: bytes, path: Path) -> dict[str, Any]:
    """The fields of a YAML document's `data`, read from `path` (named in errors).

    Raises:
        MetadataError: not UTF-8, not YAML, past this module's bounds, or not a mapping at the top level.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MetadataError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    try:
        data = yaml.load(text, Loader=JsonLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        if isinstance(exc, TooManyValues):
            raise MetadataError(f"{path}{line}: {problem}: metadata describes the model; keep long lists in a "
                                "file of the model instead") from None
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
    block lower in the file would quietly replace the first. Nesting deeper than MAX_DEPTH levels, an
    alias inside what it names (JSON has no cycles) and more than MAX_VALUES values, as written or with
    aliases expanded, are refused before anything is built: PyYAML composes recursively (a
    RecursionError), and builds aliases as shared objects that every later walk expands."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._values = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        self._values += 1
        try:
            if self._values > MAX_VALUES:
                raise TooManyValues(None, None, f"more than {MAX_VALUES:,} values", self.peek_event().start_mark)
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node: yaml.Node) -> Any:
        _expanded(node, {}, set(), 1)
        return super().construct_document(node)

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


def _expanded(node: yaml.Node, sizes: dict[int, tuple[int, int]], path: set[int], depth: int) -> tuple[int, int]:
    """How many values `node` holds with its aliases expanded, and how many levels (each node counted once
    per use, computed once: `sizes`); raises ComposerError past MAX_VALUES, MAX_DEPTH levels from the top
    (`depth`: `node`'s), or for an alias inside what it names (`path`: the nodes being counted)."""
    key = id(node)
    if key in sizes:
        if depth + sizes[key][1] - 1 > MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep (through "
                                              "aliases)", node.start_mark)
        return sizes[key]
    if key in path:
        raise yaml.composer.ComposerError(None, None, "an alias refers to a value it is part of", node.start_mark)
    if depth > MAX_DEPTH:
        raise yaml.composer.ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep (through "
                                          "aliases)", node.start_mark)
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    path.add(key)
    counted = [_expanded(child, sizes, path, depth + 1) for child in children]
    path.discard(key)
    total = 1 + sum(size for size, _ in counted)
    if total > MAX_VALUES:
        raise TooManyValues(None, None, f"its aliases expand to more than {MAX_VALUES:,} values", node.start_mark)
    sizes[key] = (total, 1 + max((levels for _, levels in counted), default=0))
    return sizes[key]
