"""Digests: parsing, validation and hashing while streaming."""

from __future__ import annotations

import hashlib
import os
import re

from modelpack.errors import IntegrityError, UsageError
from modelpack.streams import ByteStream

_DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")
CHUNK = 4 * 1024 * 1024


def validate(digest: str) -> str:
    """Return `digest` if it is a well-formed sha256/sha512 digest, else raise."""
    if not _DIGEST.fullmatch(digest):
        raise UsageError(f"not a valid digest: {digest!r} (expected sha256:<64 hex>)")
    return digest


def is_digest(text: str) -> bool:
    return bool(_DIGEST.fullmatch(text))


def of_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def hex_part(digest: str) -> tuple[str, str]:
    """('sha256', '<hex>') of a validated digest."""
    alg, _, hexd = validate(digest).partition(":")
    return alg, hexd


class Verifier:
    """Hashes bytes as they pass and checks the result against an expected digest and size."""

    def __init__(self, expected_digest: str, expected_size: int | None = None) -> None:
        alg, _ = hex_part(expected_digest)
        self.expected = expected_digest
        self.expected_size = expected_size
        self._hash = hashlib.new(alg)
        self.size = 0

    def update(self, chunk: bytes | memoryview) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)
        if self.expected_size is not None and self.size > self.expected_size:
            raise IntegrityError(
                f"content of {self.expected} is larger than its declared size {self.expected_size}"
            )

    def verify(self) -> None:
        if self.expected_size is not None and self.size != self.expected_size:
            raise IntegrityError(
                f"content of {self.expected} has {self.size} bytes, its descriptor says {self.expected_size}"
            )
        actual = f"{self._hash.name}:{self._hash.hexdigest()}"
        if actual != self.expected:
            raise IntegrityError(f"digest mismatch: expected {self.expected}, got {actual}")


def of_stream(stream: ByteStream) -> tuple[str, int]:
    """sha256 digest and size of everything left in `stream`, read in constant memory."""
    h = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
    return "sha256:" + h.hexdigest(), size


def of_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    with open(path, "rb") as f:
        return of_stream(f)
