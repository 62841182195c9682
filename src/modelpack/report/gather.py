"""Gather the facts of a report from where the model lives (a registry, the local store, an OCI layout):
its manifest and config (`inspect`), its README layer, its lineage, what is attached to it, the other
tags and versions of its repository. A part that cannot be read is noted in its section, never fatal,
except the model itself."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelpack.errors import InvalidReferenceError, ModelpackError
from modelpack.lineage_chain import within
from modelpack.metadata.mapping import malformed_annotation
from modelpack.model_diff import flatten
from modelpack.oci.reference import Reference
from modelpack.places import LayoutReference, Place, open_place, parse_place
from modelpack.readme_layer import read_readme
from modelpack.report import integrity, lineage
from modelpack.report.facts import ReportFacts, Sibling
from modelpack.store.target import Storage
from modelpack.version import __version__

if TYPE_CHECKING:
    from modelpack.model_info import ModelInfo
    from modelpack.store.layout import LayoutStore
    from modelpack.store.options import ClientOptions

MAX_README_BYTES = 256 * 1024
MAX_FILES = 200  # files listed (the total is always given)
MAX_TAGS = 500  # tags of the repository read for the lifecycle section
_MALFORMED_SECTION = {"metrics": "evaluation", "hyperparameters": "hyperparameters", "datasets": "data",
                      "labels": "description", "capabilities": "description"}  # else identity (authors)
METRIC_NAMES = ("modelpack_model_info", "modelpack_requests_total", "modelpack_request_errors_total",
                "modelpack_request_duration_seconds")  # serve/metrics.py's series (counters get _total)


def gather(reference: str | Place, keys: Sequence[str | Path] = (), *, local: bool = False,
           options: ClientOptions | None = None, store: LayoutStore | None = None,
           hosts: Collection[str] | None = None) -> ReportFacts:
    """Everything a report shows about one model version.

    Args:
        reference: a registry reference, or `oci:DIR[:TAG|@DIGEST]`.
        keys: public keys (cosign.pub) to verify its signatures and attestations with.
        local: read the model in the local store, not the registry.
        options: how to reach the registry.
        store: the local store (default: MODELPACK_HOME's).
        hosts: the registries lineage may be read from (None: any): a parent elsewhere ends it, noted.

    Returns:
        The facts, section by section.

    Raises:
        NotFoundError: no such model there.
        UsageError: the reference names an index (a report documents one model).
    """
    from modelpack.api.core import NOT_LOCAL, _store, inspect_fetched, read_model

    place = parse_place(reference)
    local_store = _store(store)
    info = inspect_fetched(place, remote_only=not local, options=options, store=local_store,
                           read_remote_by=NOT_LOCAL)[0]
    info.one_model(place, "report")
    repo, _ = open_place(place, options=options, store=local_store, local=local, mirrors=True)  # read only
    facts = ReportFacts(str(place), info.digest, _repository(place), _now(), f"modelpack {__version__}",
                        _identity(place, info))
    for disagreement in info.disagreements:
        facts.note("identity", disagreement.sentence(info.metadata.get(disagreement.field)))
    for key in info.malformed:  # in the section that would have shown it ("No metrics recorded" was not all)
        field = key.rsplit(".", 1)[-1].removesuffix("+json")
        facts.note(_MALFORMED_SECTION.get(field, "identity"), malformed_annotation(key))
    _describe(facts, info, repo)
    facts.architecture = {k: v for k, v in (
        ("family", info.family), ("architecture", info.architecture), ("paramSize", info.param_size),
        ("precision", info.precision), ("quantization", info.quantization), ("framework", info.framework),
        ("format", info.metadata.get("format"))) if v not in (None, "")}
    facts.files_total = len(info.files)
    facts.files = [f.to_json() for f in info.files[:MAX_FILES]]
    facts.hyperparameters = flatten(info.parameters)
    facts.datasets = [_dataset(d) for d in info.datasets]
    facts.metrics = dict(sorted(info.metrics.items()))

    def read_anywhere(text: str) -> ModelInfo:
        return read_model(text, local_store, options, remote_only=not local)

    read = within(hosts, read_anywhere)

    start = str(place.with_digest(info.digest)) if isinstance(place, Reference) else str(place)
    facts.lineage = lineage.walk(start, info, read, lambda text: facts.note("lineage", text))
    problems: list[str] = []
    try:
        facts.referrers = integrity.attached(repo, info.digest, problems)
        facts.key_checks = integrity.check_keys(repo, info.digest, [Path(k) for k in keys], facts.referrers,
                                                facts.provenance, facts.statements)
    except ModelpackError as exc:
        problems.append(str(exc))
    for problem in problems:
        facts.note("integrity", problem)
    _lifecycle(facts, _tag_reader(place, repo, local, options), local_store)
    # The name `serve` answers to unless given --name (api/deploy.py derives it the same way).
    served = re.sub(r"[^A-Za-z0-9_.-]+", "-", info.name or facts.repository.rsplit("/", 1)[-1])
    facts.monitoring = {"metrics": list(METRIC_NAMES), "labels": ["model", "version", "digest"],
                        "digest": info.digest, "name": served}
    return facts


def _identity(place: Place, info: ModelInfo) -> dict[str, Any]:
    registry = place.registry if isinstance(place, Reference) else None
    return {k: v for k, v in (
        ("name", info.name), ("title", info.title), ("version", info.version), ("digest", info.digest),
        ("registry", registry or ("OCI layout " + str(place.path) if isinstance(place, LayoutReference) else None)),
        ("repository", _repository(place)), ("created", info.created), ("authors", info.authors),
        ("software", info.software),
        ("licenses", info.licenses), ("vendor", info.metadata.get("vendor")), ("artifactType", info.artifact_type),
        ("artifactFormat", info.source_format), ("size", info.total_size),
        ("sourceURL", info.source), ("revision", info.metadata.get("revision"))) if v not in (None, "", [])}


def _describe(facts: ReportFacts, info: ModelInfo, repo: Storage) -> None:
    facts.description = info.description
    doc_url = info.metadata.get("docURL")
    facts.doc_url = str(doc_url) if doc_url else None
    capabilities = info.metadata.get("capabilities")
    facts.capabilities = flatten(capabilities) if isinstance(capabilities, dict) else {}
    labels = info.metadata.get("labels")
    facts.labels = {str(k): str(v) for k, v in sorted(labels.items())} if isinstance(labels, dict) else {}
    readme = read_readme(repo, info, MAX_README_BYTES)
    if readme is None:
        return
    facts.readme_path = readme.path
    if readme.text is None:
        facts.note("description", f"{readme.path} {readme.problem}")
        return
    facts.readme = readme.text


def _dataset(value: str) -> dict[str, Any]:
    try:
        ref = Reference.parse(value)
    except InvalidReferenceError:
        ref = None
    if ref is not None and ref.registry:
        return {"name": value, "reference": str(Reference(ref.registry, ref.repository, ref.tag, None)),
                "digest": ref.digest}
    return {"name": value, "reference": None, "digest": None}


def _lifecycle(facts: ReportFacts, repo: Storage, local_store: LayoutStore) -> None:
    from modelpack.versions import list_versions

    if not callable(getattr(repo, "tags", None)):
        facts.note("lifecycle", "the local store keeps no tag list per repository: report on the registry's copy")
        return
    warnings: list[str] = []
    try:
        versions = list_versions(repo, local_store, warn=warnings.append, max_tags=MAX_TAGS + 1)  # type: ignore[arg-type]
    except ModelpackError as exc:
        facts.note("lifecycle", f"the repository's versions could not be listed: {exc}")
        return
    if len(versions) > MAX_TAGS:
        versions = versions[:MAX_TAGS]
        facts.note("lifecycle", f"only the first {MAX_TAGS} tags of the repository were read")
    for text in warnings:
        facts.note("lifecycle", text)
    versions.sort(key=lambda v: (str(v.metadata.get("created") or ""), v.tag), reverse=True)
    facts.tags = sorted(v.tag for v in versions if v.digest == facts.digest)
    facts.siblings = [Sibling(v.tag, v.digest, _text(v.metadata.get("version")), _text(v.metadata.get("created")),
                              v.digest == facts.digest) for v in versions]


def _tag_reader(place: Place, repo: Storage, local: bool, options: ClientOptions | None) -> Storage:
    """Where the lifecycle section reads tags: for a report of REF@DIGEST, the repository opened by its name,
    so that its mirrors are those a tag pull uses (registries.conf's `digest-only` ones never answer for a
    tag, and a report by digest would have listed and resolved tags through them)."""
    from modelpack.api.core import remote

    if not isinstance(place, Reference) or local or place.digest is None:
        return repo
    return remote(Reference(place.registry, place.repository, None, None), options, mirrors=True)


def _repository(place: Place) -> str:
    if isinstance(place, LayoutReference):
        return str(place.path)
    return f"{place.registry}/{place.repository}" if place.registry else place.repository


def _text(value: object) -> str | None:
    return None if value in (None, "") else str(value)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
