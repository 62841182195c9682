"""OCI descriptors, manifests and indexes as frozen pydantic models."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from modelpack.oci import digest as _digest
from modelpack.oci import mediatypes as mt

# Manifests and configs are small; a cap keeps a hostile registry from exhausting memory.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="allow")


class Platform(_Frozen):
    architecture: str
    os: str
    variant: str | None = None


class Descriptor(_Frozen):
    media_type: str = Field(alias="mediaType")
    digest: str
    size: int = Field(ge=0)
    annotations: dict[str, str] | None = None
    artifact_type: str | None = Field(default=None, alias="artifactType")
    platform: Platform | None = None
    urls: list[str] | None = None

    @field_validator("digest")
    @classmethod
    def _check_digest(cls, value: str) -> str:
        return _digest.validate(value)

    def annotation(self, *keys: str) -> str | None:
        """The first of `keys` present in the annotations."""
        for key in keys:
            if self.annotations and key in self.annotations:
                return self.annotations[key]
        return None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class Manifest(_Frozen):
    schema_version: int = Field(default=2, alias="schemaVersion")
    media_type: str = Field(default=mt.OCI_MANIFEST, alias="mediaType")
    artifact_type: str | None = Field(default=None, alias="artifactType")
    config: Descriptor
    layers: list[Descriptor] = Field(default_factory=list)
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None

    def canonical_bytes(self) -> bytes:
        """The bytes we push. Key order is fixed by the model, so the digest is reproducible."""
        return json_bytes(self.model_dump(by_alias=True, exclude_none=True, mode="json"))


class Index(_Frozen):
    schema_version: int = Field(default=2, alias="schemaVersion")
    media_type: str = Field(default=mt.OCI_INDEX, alias="mediaType")
    artifact_type: str | None = Field(default=None, alias="artifactType")
    manifests: list[Descriptor] = Field(default_factory=list)
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None

    def canonical_bytes(self) -> bytes:
        return json_bytes(self.model_dump(by_alias=True, exclude_none=True, mode="json"))


def json_bytes(value: Any) -> bytes:
    """Compact JSON in a stable form: what every blob and manifest we write is serialised with."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def parse_manifest(data: bytes) -> Manifest | Index:
    """Parse manifest bytes of any supported media type; raises UnsupportedArtifactError otherwise."""
    from modelpack.errors import IntegrityError, UnsupportedArtifactError

    if len(data) > MAX_MANIFEST_BYTES:
        raise IntegrityError(f"manifest is {len(data)} bytes, over the {MAX_MANIFEST_BYTES} byte limit")
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise IntegrityError(f"manifest is not valid JSON: {type(exc).__name__}") from None
    if not isinstance(raw, dict):
        raise IntegrityError("manifest is not a JSON object")
    media_type = raw.get("mediaType")
    try:
        if media_type in (mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST) or ("manifests" in raw and "config" not in raw):
            return Index.model_validate(raw)
        if "config" in raw:
            if media_type is None:
                raw["mediaType"] = mt.OCI_MANIFEST
            return Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise IntegrityError(f"malformed manifest: {where}: {first['msg']}") from None
    raise UnsupportedArtifactError(f"unsupported manifest media type {media_type!r}")
