"""OCI descriptors, manifests and indexes: frozen value types, checked when built, kept whole.

Written out by hand rather than as pydantic models (pydantic stays for the metadata schema):
importing pydantic and building these models cost ~75 ms of every command's ~125 ms start-up, paid
before a push or pull moves its first byte. Each type declares its fields once; construction (from
our code or from a registry's JSON) checks types and formats, fields we do not know are kept and
written back after the known ones, and absent optional fields stay absent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from modelpack.oci import digest as _digest
from modelpack.oci import mediatypes as mt

# Manifests and configs are small; a cap keeps a hostile registry from exhausting memory.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024

T = TypeVar("T", bound="_Document")


class InvalidDocument(ValueError):
    """A field of a descriptor, manifest or index has the wrong type or form."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True)
class _Field:
    attr: str  # Python attribute
    key: str  # JSON key
    check: Callable[[Any, str], Any]  # returns the value to store, or raises InvalidDocument
    required: bool = False
    default: Callable[[], Any] | None = None  # for absent fields that still have a value (e.g. layers=[])


_NO_EXTRA: Mapping[str, Any] = MappingProxyType({})


def _slots(fields: tuple[_Field, ...]) -> tuple[str, ...]:
    return tuple(spec.attr for spec in fields)


class _Document:
    """A JSON object with declared fields. Immutable; `replace` makes a changed copy.

    Each type keeps its fields in slots, not a per-instance dict: a manifest of ~9,000 layers holds a
    descriptor per layer."""

    __slots__ = ("_extra",)
    _fields: ClassVar[tuple[_Field, ...]] = ()
    _extra: Mapping[str, Any]

    def __init__(self, **values: Any) -> None:
        for spec in self._fields:
            if spec.key in values or spec.attr in values:
                value = values.pop(spec.attr, None)
                value = values.pop(spec.key, value)  # the JSON key wins if both are given
            else:
                value = spec.default() if spec.default else None
            if value is not None:
                value = spec.check(value, spec.key)
            elif spec.required:
                raise InvalidDocument(spec.key, "field required")
            object.__setattr__(self, spec.attr, value)
        object.__setattr__(self, "_extra", values or _NO_EXTRA)  # unknown fields, kept as they came

    @classmethod
    def from_json(cls: type[T], raw: Any, where: str = "") -> T:
        if not isinstance(raw, dict):
            raise InvalidDocument(where or "value", "must be a JSON object")
        try:
            return cls(**raw)
        except InvalidDocument as exc:
            raise InvalidDocument(f"{where}.{exc.where}" if where else exc.where, exc.message) from None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in self._fields:
            value = getattr(self, spec.attr)
            if value is not None:
                out[spec.key] = _plain(value)
        for key, value in self._extra.items():
            out.setdefault(key, value)
        return out

    def replace(self: T, **changes: Any) -> T:
        """A copy with `changes` (attribute names or JSON keys), checked like a new one."""
        values = {spec.attr: getattr(self, spec.attr) for spec in self._fields}
        return type(self)(**{**self._extra, **values, **changes})  # a JSON-key change wins over the attribute

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; use replace()")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Document) and type(other) is type(self) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(json_bytes(self.to_json()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{s.attr}={getattr(self, s.attr)!r}" for s in self._fields
                          if getattr(self, s.attr) is not None)
        return f"{type(self).__name__}({shown})"


def _plain(value: Any) -> Any:
    if isinstance(value, _Document):
        return value.to_json()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return dict(value)
    return value


# -- field checks -----------------------------------------------------------------------------------
def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidDocument(where, "must be a string")
    return value


def _int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidDocument(where, "must be an integer")
    return value


# The largest size a descriptor may declare (the OCI image spec's bound: JSON parsers keep integers
# exact only to 2**53). Anything beyond is no real blob, only a way to overflow a sum or a free-space check.
MAX_SIZE = 2**53


def _size(value: Any, where: str) -> int:
    if not 0 <= _int(value, where) <= MAX_SIZE:
        raise InvalidDocument(where, f"must be from 0 to 2**53, not {str(value)[:40]}")
    return int(value)


def _digest_text(value: Any, where: str) -> str:
    if not _digest.is_digest(_str(value, where)):
        raise InvalidDocument(where, f"not a valid digest: {value!r}")
    return str(value)


def _str_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidDocument(where, "must be a JSON object")
    for key, item in value.items():
        _str(item, f"{where}.{key}")
    return dict(value)


def _str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        raise InvalidDocument(where, "must be a list")
    return [_str(item, f"{where}.{i}") for i, item in enumerate(value)]


def _one(cls: Callable[[], type[_Document]]) -> Callable[[Any, str], Any]:
    def check(value: Any, where: str) -> _Document:
        kind = cls()
        return value if isinstance(value, kind) else kind.from_json(value, where)

    return check


def _many(cls: Callable[[], type[_Document]]) -> Callable[[Any, str], Any]:
    one = _one(cls)

    def check(value: Any, where: str) -> list[_Document]:
        if not isinstance(value, list):
            raise InvalidDocument(where, "must be a list")
        return [one(item, f"{where}.{i}") for i, item in enumerate(value)]

    return check


# -- the types --------------------------------------------------------------------------------------
class Platform(_Document):
    architecture: str
    os: str
    variant: str | None

    _fields = (
        _Field("architecture", "architecture", _str, required=True),
        _Field("os", "os", _str, required=True),
        _Field("variant", "variant", _str),
    )
    __slots__ = _slots(_fields)


class Descriptor(_Document):
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] | None
    artifact_type: str | None
    platform: Platform | None
    urls: list[str] | None

    _fields = (
        _Field("media_type", "mediaType", _str, required=True),
        _Field("digest", "digest", _digest_text, required=True),
        _Field("size", "size", _size, required=True),
        _Field("annotations", "annotations", _str_map),
        _Field("artifact_type", "artifactType", _str),
        _Field("platform", "platform", _one(lambda: Platform)),
        _Field("urls", "urls", _str_list),
    )
    __slots__ = _slots(_fields)

    def annotation(self, *keys: str) -> str | None:
        """The first of `keys` present in the annotations."""
        for key in keys:
            if self.annotations and key in self.annotations:
                return self.annotations[key]
        return None


class _Node(_Document):
    """A manifest or an index: the documents a registry stores under a digest."""

    __slots__ = ()

    schema_version: int
    media_type: str
    artifact_type: str | None
    subject: Descriptor | None
    annotations: dict[str, str] | None

    def canonical_bytes(self) -> bytes:
        """The bytes we push. Key order is fixed by the declared fields, so the digest is reproducible."""
        return json_bytes(self.to_json())


def _node_fields(media_type: str, *content: _Field) -> tuple[_Field, ...]:
    """schemaVersion, mediaType, artifactType, the node's own fields, subject, annotations: the order
    of the OCI specification's examples, and so of the bytes we write."""
    return (
        _Field("schema_version", "schemaVersion", _int, default=lambda: 2),
        _Field("media_type", "mediaType", _str, default=lambda: media_type),
        _Field("artifact_type", "artifactType", _str),
        *content,
        _Field("subject", "subject", _one(lambda: Descriptor)),
        _Field("annotations", "annotations", _str_map),
    )


class Manifest(_Node):
    config: Descriptor
    layers: list[Descriptor]

    _fields = _node_fields(
        mt.OCI_MANIFEST,
        _Field("config", "config", _one(lambda: Descriptor), required=True),
        _Field("layers", "layers", _many(lambda: Descriptor), default=list),
    )
    __slots__ = _slots(_fields)


class Index(_Node):
    manifests: list[Descriptor]

    _fields = _node_fields(mt.OCI_INDEX, _Field("manifests", "manifests", _many(lambda: Descriptor), default=list))
    __slots__ = _slots(_fields)


def listed_artifact_type(node: Manifest | Index) -> str | None:
    """A referrer's artifactType as the OCI referrers API lists it: the manifest's own, else (an image manifest
    recording its type in its config alone, as notation writes its signatures) the config's media type.

    Args:
        node: the referrer's manifest.

    Returns:
        The type to list it under (None for an index without artifactType).
    """
    if node.artifact_type is not None or not isinstance(node, Manifest):
        return node.artifact_type
    return node.config.media_type


def json_bytes(value: Any) -> bytes:
    """Compact JSON in a stable form: what every blob and manifest we write is serialised with."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def parse_manifest(data: bytes, limit: int = MAX_MANIFEST_BYTES) -> Manifest | Index:
    """Parse manifest bytes: an image manifest or an index (OCI or Docker).

    The same bytes give the same (immutable) value: a pull reads its manifest in several places (the
    container-image check, the graph walk, unpacking, restoring modelpack.yaml); parsing a
    2,000-layer manifest costs ~10 ms each time, so the last few are kept (and a manifest we built is
    one of them: see `encode_manifest`). `limit`: the largest document accepted (an OCI layout's
    index.json may list many thousands of tags); a document over the manifest cap is not kept.

    Raises:
        IntegrityError: not a JSON object, over the size cap, or a field missing or malformed
            (a manifest media type without `config`, a size beyond 2**53, ...).
        UnsupportedArtifactError: a well-formed document of a media type modelpack does not read.
    """
    if not isinstance(data, bytes) or len(data) > MAX_MANIFEST_BYTES:
        return _parse(data, limit)
    with _parsed_lock:
        node = _parsed.pop(data, None)
        if node is not None:
            _parsed[data] = node  # the newest again
    if node is None:
        node = _parse(data)
        _remember(data, node)
    return node


def encode_manifest(node: Manifest | Index) -> bytes:
    """`node`'s canonical bytes, remembered with it: parsing them back (as `copy` does with the manifest a
    push just built) returns `node` itself, not a second descriptor for every layer.

    Args:
        node: a manifest or index.

    Returns:
        The bytes to push (`node.canonical_bytes()`).
    """
    data = node.canonical_bytes()
    _remember(data, node)
    return data


_PARSED_KEPT = 8
_parsed: dict[bytes, Manifest | Index] = {}  # the last few parsed, oldest first
_parsed_lock = threading.Lock()


def _remember(data: bytes, node: Manifest | Index) -> None:
    with _parsed_lock:
        _parsed.pop(data, None)
        _parsed[data] = node
        while len(_parsed) > _PARSED_KEPT:
            del _parsed[next(iter(_parsed))]


def _parse(data: bytes, limit: int = MAX_MANIFEST_BYTES) -> Manifest | Index:
    from modelpack.errors import IntegrityError, UnsupportedArtifactError
    from modelpack.oci.jsontext import parse

    raw = parse(data, "manifest", limit)
    if not isinstance(raw, dict):
        raise IntegrityError("manifest is not a JSON object")
    media_type = raw.get("mediaType")
    try:
        if media_type in _INDEX_TYPES or ("manifests" in raw and "config" not in raw):
            return Index.from_json(raw)
        if media_type in _MANIFEST_TYPES or "config" in raw:
            return Manifest.from_json({"mediaType": mt.OCI_MANIFEST, **raw})
    except InvalidDocument as exc:
        raise IntegrityError(f"malformed manifest: {exc}") from None
    if media_type is None:
        raise IntegrityError("malformed manifest: no mediaType, and neither config nor manifests")
    if not isinstance(media_type, str):
        raise IntegrityError("malformed manifest: mediaType: must be a string")
    raise UnsupportedArtifactError(f"unsupported manifest media type {media_type[:100]!r}")


_INDEX_TYPES = (mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST)
_MANIFEST_TYPES = (mt.OCI_MANIFEST, mt.DOCKER_MANIFEST)
