"""JSON a registry or an artifact wrote: parsed once, the same guarded way, wherever it is read.

A hostile document can nest arrays 50,000 deep (RecursionError), carry NaN or 1e999 (not JSON, or not
a finite number), a 5,000-digit integer (ValueError) or bytes that are not UTF-8. Each is refused as
malformed content (exit 6), never reaches the caller as an exception it did not expect.

Nesting is bounded well below what the parser survives: a value 900 levels deep parses, but whatever
walks it by recursion later (PyYAML writing modelpack.yaml on a pull, a template, a validator) ran out
of stack, and `pull -o` and `serve` of a model with such a `hyperparameters+json` annotation ended in
"internal error". No manifest, config, envelope or annotation of any tool comes near `MAX_DEPTH`.
"""

from __future__ import annotations

import math
import re
from json import JSONDecoder
from typing import Any

from modelpack.errors import IntegrityError

# Manifests, configs and the other documents a registry serves are small; bodies are capped on the
# wire too, this bounds what reaches the parser from the local store or an annotation.
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64  # arrays and objects within each other


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = JSONDecoder(parse_float=_finite, parse_constant=_not_json)


def parse(data: bytes | str, what: str, limit: int = MAX_DOCUMENT_BYTES) -> Any:
    """Parse registry or artifact JSON.

    Args:
        data: the document's bytes (UTF-8) or text.
        what: names the document in the error, e.g. "manifest" or "config of sha256:...".
        limit: the largest document accepted, in bytes.

    Returns:
        The parsed value (any JSON type: callers check the shape they need).

    Raises:
        IntegrityError: over `limit`, not UTF-8, not JSON, nested too deep, or a number out of range.
    """
    if len(data) > limit:
        raise IntegrityError(f"{what} is {len(data)} bytes, over the {limit} byte limit")
    try:
        text = data.decode() if isinstance(data, bytes | bytearray) else data
        value = _DECODER.decode(text)
    except RecursionError:
        raise IntegrityError(f"{what} is not valid JSON: nested too deep") from None
    except ValueError as exc:  # also UnicodeDecodeError and over-long integers
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise IntegrityError(f"{what} is not valid JSON: {reason}") from None
    if _deeper_than(value, MAX_DEPTH):
        raise IntegrityError(f"{what} is nested too deep (over {MAX_DEPTH} levels)")
    return value


# A lone surrogate: JSON may spell one (`\ud800`), and it parses, but no UTF-8 encodes it.
SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(text: str) -> bool:
    """Whether UTF-8 encodes `text`: a string JSON gave may hold a lone surrogate, which parses but can be
    written nowhere (a file name, a document, another JSON document we write)."""
    return SURROGATE.search(text) is None


def replace_surrogates(value: Any) -> Any:
    """`value` (parsed JSON: texts, lists, mappings) with every lone surrogate replaced by U+FFFD, as Go's and
    most JSON readers do, for what goes on as UTF-8: a signed BOM, a gRPC string. Walked by recursion: a
    parsed document nests at most `MAX_DEPTH` levels."""
    if isinstance(value, str):
        return SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [replace_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {replace_surrogates(key): replace_surrogates(item) for key, item in value.items()}
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels in `value` (walked without recursion)."""
    level = [value] if isinstance(value, dict | list) else []
    for _ in range(limit):  # one level at a time: no recursion, and cheap next to the parse itself
        level = [child for node in level for child in (node.values() if isinstance(node, dict) else node)
                 if isinstance(child, dict | list)]
        if not level:
            return False
    return True


def parse_or_none(data: bytes | str | None, limit: int = MAX_DOCUMENT_BYTES) -> Any:
    """Like `parse`, for optional content that is ignored when malformed (an annotation, a foreign
    config): the parsed value, or None."""
    if data is None:
        return None
    try:
        return parse(data, "value", limit)
    except IntegrityError:
        return None
