"""Attestation predicate types: cosign's short names (`--type slsaprovenance1`, `cyclonedx`, ...) and
the URIs they stand for, and how a predicate file becomes a statement's `predicate`, as `cosign attest`
does it (its `custom` type wraps the file's text with a timestamp; `spdx` keeps it as text)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlparse

from modelpack.advice import Wording, compose, setting
from modelpack.errors import UsageError

CUSTOM = "https://cosign.sigstore.dev/attestation/v1"
SLSA_02 = "https://slsa.dev/provenance/v0.2"
SLSA_1 = "https://slsa.dev/provenance/v1"
SPDX = "https://spdx.dev/Document"
CYCLONEDX = "https://cyclonedx.org/bom"
LINK = "https://in-toto.io/Link/v1"
VULN = "https://cosign.sigstore.dev/attestation/vuln/v1"
OPENVEX = "https://openvex.dev/ns"

# The short names cosign 3's --type takes, each with the predicate type URI cosign writes for it.
SHORT_NAMES: dict[str, str] = {
    "custom": CUSTOM,
    "slsaprovenance": SLSA_02,
    "slsaprovenance02": SLSA_02,
    "slsaprovenance1": SLSA_1,
    "spdx": SPDX,
    "spdxjson": SPDX,
    "cyclonedx": CYCLONEDX,
    "link": LINK,
    "vuln": VULN,
    "openvex": OPENVEX,
}
MAX_PREDICATE_BYTES = 16 * 1024 * 1024


def predicate_type(name: str) -> str:
    """The predicate type URI for a `--type` value: a cosign short name, or a URI as it is.

    Args:
        name: `slsaprovenance1`, `cyclonedx`, ... or a URI such as `https://example.com/eval/v1`.

    Returns:
        The URI.

    Raises:
        UsageError: neither a short name nor an absolute URI.
    """
    if name in SHORT_NAMES:
        return SHORT_NAMES[name]
    parsed = urlparse(name)
    if not parsed.scheme or not (parsed.netloc or parsed.path) or any(c.isspace() for c in name):
        from modelpack.spelling import did_you_mean  # (a typo: `cyclondx`)

        raise UsageError(f"--type {name!r}{did_you_mean(name, SHORT_NAMES)}: use one of {', '.join(SHORT_NAMES)} "
                         "or a URI")
    return name


def _type(name: str) -> Wording:
    """The predicate type as each audience gives it."""
    return setting(f"type_name={name!r}", f"--type {name}")


def predicate_body(name: str, raw: bytes, now: datetime | None = None) -> Any:
    """What a statement of type `name` carries for the predicate file's bytes, as cosign builds it:
    `custom` is `{"Data": text, "Timestamp": RFC 3339}`, `spdx` the document's text, anything else the
    file's JSON object.

    Args:
        name: the `--type` value (short name or URI).
        raw: the predicate file's content.
        now: the time for `custom` (default: now).

    Returns:
        The JSON value to sign as the statement's predicate.

    Raises:
        UsageError: too large, not UTF-8, or (where JSON is needed) not a JSON object.
    """
    if len(raw) > MAX_PREDICATE_BYTES:
        raise UsageError(f"the predicate is over {MAX_PREDICATE_BYTES // (1024 * 1024)} MiB; attach it another way")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError("the predicate file is not UTF-8 text") from None
    if name == "custom":
        stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"Data": text, "Timestamp": stamp}
    if name == "spdx":
        return text
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(compose("the predicate for {} must be JSON ({})", _type(name), str(exc))) from None
    if not isinstance(value, dict):
        raise UsageError(compose("the predicate for {} must be a JSON object", _type(name)))
    return value
