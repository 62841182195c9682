"""Whether the first bytes of a blob could be an OCI or Docker manifest or index, read without the rest.

A registry that keeps manifests in its blob store may serve a manifest's digest as a blob too; a blob of
that digest then proves nothing about a manifest request that failed (see store/blob_digest). A manifest or
index is a JSON object with `schemaVersion: 2`, which every writer puts first (OCI's, Docker's, ORAS's,
ours); a layer is seldom JSON, and a JSON config or file has keys no manifest has (`descriptor`,
`architecture`, `architectures`). So the object's top-level keys are read as far as the bytes go:
`schemaVersion` 2 before any key a manifest cannot have says it could be one; bytes that are no JSON object,
or a key no manifest has before `schemaVersion`, say it is not. Bytes that end before either could be one.
"""

from __future__ import annotations

import json
import re

# The top-level keys OCI's image manifest and index, Docker's schema 2 manifest and list, and OCI 1.1's
# draft artifact manifest define.
MANIFEST_KEYS = frozenset({"schemaVersion", "mediaType", "artifactType", "config", "layers", "manifests",
                           "subject", "annotations", "blobs"})
_SPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def could_be_manifest(start: bytes, whole: bool) -> bool:
    """Whether a blob whose first bytes are `start` could be a manifest or index (see above).

    Args:
        start: the blob's first bytes (a few KiB are enough).
        whole: `start` is all of the blob.

    Returns:
        False when it cannot be one; True when it is one or the bytes end before that can be told.
    """
    text = start.decode("utf-8", "replace")  # (a character cut at the end is in a value: not read)
    at = _skip(text, 0)
    if not text.startswith("{", at):
        return not whole and at == len(text)  # (only blanks read: unknown)
    at += 1
    while True:
        at = _skip(text, at)
        if at == len(text):
            return not whole
        if text[at] != '"':
            return False  # `}` (no schemaVersion) or no JSON
        try:
            key, at = _DECODER.raw_decode(text, at)
        except ValueError:
            return not whole
        at = _skip(text, at)
        if at == len(text):
            return not whole
        if text[at] != ":" or key not in MANIFEST_KEYS:
            return False
        try:
            value, at = _DECODER.raw_decode(text, _skip(text, at + 1))
        except ValueError:  # the bytes end inside it (or it is no JSON, which a whole blob shows)
            return not whole
        if key == "schemaVersion":
            return value == 2 and not isinstance(value, bool)
        at = _skip(text, at)
        if at == len(text):
            return not whole
        if text[at] != ",":
            return False
        at += 1


def _skip(text: str, at: int) -> int:
    """Where the JSON whitespace from `at` on ends."""
    match = _SPACE.match(text, at)
    return match.end() if match else at
