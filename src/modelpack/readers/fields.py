"""The one typed result every metadata reader returns, whatever tool wrote the artifact.

Field names are `modelpack.yaml`'s (and `inspect --json`'s `metadata`), so `ls --where metrics.accuracy>=0.9`,
`diff`, `lineage` and `serve` read an omlmd, KitOps, modctl or Docker model artifact the same way as
one modelpack packed. A reader sets only what the artifact says; absent fields are absent.
"""

from __future__ import annotations

from typing import Any, TypedDict


class Fields(TypedDict, total=False):
    """A model's metadata as read from an artifact (every field optional)."""

    name: str
    version: str
    title: str
    description: str
    authors: list[str]
    licenses: list[str]
    family: str
    architecture: str
    framework: str
    format: str
    paramSize: str
    precision: str
    quantization: str
    hyperparameters: dict[str, Any]  # parameters, as the artifact records them
    metrics: dict[str, int | float]  # finite numbers only
    datasets: list[str]
    labels: dict[str, str]
    created: str
    sourceURL: str
    revision: str
    vendor: str
    docURL: str
    parent: str
    capabilities: dict[str, Any]


def merge(primary: dict[str, Any], *fallbacks: dict[str, Any]) -> dict[str, Any]:
    """`primary`'s fields, then each fallback's for the fields still missing, keys sorted.

    Args:
        primary: what the artifact's own format says (it wins).
        fallbacks: other sources, in order of preference (a Kitfile annotation, OCI annotations).

    Returns:
        The merged fields, sorted by key (a stable `inspect` order).
    """
    out = dict(primary)
    for extra in fallbacks:
        for key, value in extra.items():
            out.setdefault(key, value)
    return dict(sorted(out.items()))
