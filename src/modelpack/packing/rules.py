"""What packing reads of a model's `files` rules (modelpack.yaml's `files:`, validated as
`metadata.schema.FileRules`), and those rules' defaults without pydantic: a push of a directory with no
modelpack.yaml selects and starts hashing its files with `DEFAULT_RULES` while its metadata is built on
another thread (pydantic's import and models cost ~110 ms before the first byte could be hashed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from modelpack.oci.mediatypes import Compression, Kind


class FileSelection(Protocol):
    """Which files become layers, and how (see `FileRules` for each field's meaning)."""

    @property
    def include(self) -> Sequence[str]: ...

    @property
    def exclude(self) -> Sequence[str]: ...

    @property
    def kinds(self) -> Mapping[str, Kind]: ...

    @property
    def archives(self) -> Sequence[str]: ...

    @property
    def compress(self) -> Compression | None: ...


@dataclass(frozen=True)
class _Defaults:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    kinds: Mapping[str, Kind] = field(default_factory=dict)
    archives: tuple[str, ...] = ()
    compress: Compression | None = None


DEFAULT_RULES: FileSelection = _Defaults()  # FileRules() field for field (a test holds them equal)
