"""The data of one version's page: metadata, files, lineage, signatures and attestations with their
verify status (listed and checked as `report` does), the README, a diff against another version, and
snippets pinned by digest."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from modelpack.advice import cli_message  # the UI is started from the CLI: its words
from modelpack.errors import ModelpackError
from modelpack.image.kinds import A_MODEL_REFERENCE, built_from, is_image_not_model
from modelpack.image.modelcar import LAYOUT_ANNOTATION
from modelpack.model_diff import Diff, diff_models
from modelpack.model_info import ModelInfo
from modelpack.oci.descriptor import Index, Manifest, parse_manifest
from modelpack.oci.jsontext import parse_or_none
from modelpack.oci.reference import Reference
from modelpack.report.facts import KeyCheck, Referrer
from modelpack.store.target import read_small
from modelpack.ui.readme import Readme, readme
from modelpack.ui.site import Site
from modelpack.ui.snapshot import SMALL_BLOB, SnapshotRepository
from modelpack.versions import list_versions

# Shown first, in this order; every other metadata field follows.
_LEADING = ("name", "version", "description", "created", "framework", "architecture", "family", "paramSize",
            "precision", "quantization", "hyperparameters", "datasets", "licenses", "authors", "sourceURL")


@dataclass
class LineageEntry:
    reference: str
    digest: str
    label: str
    url: str | None  # this UI's page for it, when its registry is one this UI shows


@dataclass
class VersionPage:
    host: str
    name: str
    digest: str
    tags: list[str]
    info: ModelInfo
    fields: list[tuple[str, Any]]
    lineage: list[LineageEntry]
    lineage_error: str | None
    attached: list[Referrer]  # signatures, attestations and other referrers, each marked with the keys it verified
    key_checks: list[KeyCheck]  # what each key verified
    integrity_problems: list[str]  # what could not be read, and why
    readme: Readme | None
    others: list[tuple[str, str]]  # (label, digest) of the repository's other versions: the diff choices
    against: str
    diff: Diff | None
    diff_error: str | None
    pull_command: str
    k8s_command: str
    k8s_yaml: str
    origin: Origin | None = None  # for a container image, not a model: what it was built from


@dataclass
class Origin:
    """A container image's page shows no model's report nor model commands: `report`, `pull` and `k8s
    --kind image-volume` refuse an image. It names the model the image was built from instead."""

    model: str | None  # the model reference `build-image` recorded, pinned by digest (None: not recorded)
    shown: tuple[str, str, str] | None  # (host, repository, digest) of that model, when this UI shows its registry


def version(site: Site, ref: Reference, digest: str, against: str = "") -> VersionPage:
    """Everything the version page shows about `ref@digest`.

    Raises:
        ModelpackError: the manifest cannot be read (each later section reports its own failure).
    """
    repo = site.open(ref)
    versions = list_versions(repo, site.store, warn=lambda message: None)  # the snapshot: tags, diff choices
    info = read_info(repo, ref, digest)
    tags = [v.tag for v in versions if v.digest == digest]
    others: dict[str, str] = {}
    for v in versions:
        if v.digest != digest:
            label = others.get(v.digest)
            others[v.digest] = f"{label}, {v.tag}" if label else v.tag
    lineage, lineage_error = _lineage(site, ref, digest)
    attached, key_checks, problems = _integrity(site, repo, digest)
    diff, diff_error = _diff(repo, ref, info, against, versions) if against else (None, None)
    against = next((v.digest for v in versions if against in (v.tag, v.digest)), against)  # the choice shown
    origin = _origin(site, info.manifest) if is_image_not_model(info.manifest) else None
    pull, k8s_command, k8s_yaml = snippets(site, ref, digest) if origin is None else image_snippets(site, ref, info)
    return VersionPage(ref.registry, ref.repository, digest, tags, info, _fields(info.metadata), lineage,
                       lineage_error, attached, key_checks, problems, readme(repo, info),
                       [(label, d) for d, label in others.items()], against, diff, diff_error, pull, k8s_command,
                       k8s_yaml, origin)


def _origin(site: Site, node: Manifest | Index) -> Origin:
    """The model a container image was built from, as `build-image` recorded it (a well-formed, pinned one)."""
    model = built_from(node)
    if model is None:
        return Origin(None, None)
    parsed = Reference.parse(model)
    shown = (parsed.registry, parsed.repository, parsed.digest) if parsed.registry in site.hosts and parsed.digest \
        else None
    return Origin(model, shown)


def image_snippets(site: Site, ref: Reference, info: ModelInfo) -> tuple[str, str, str]:
    """For a container image: no `pull` (it refuses an image) and the `k8s` command that takes this kind of
    image: a modelcar (`build-image --modelcar`) as KServe's storageUri, a serving image as a Deployment."""
    pinned = shlex.quote(str(ref.with_digest(info.descriptor.digest)))
    flags = " --plain-http" if site.options.plain_http else ""
    annotations = info.manifest.annotations or {}
    if LAYOUT_ANNOTATION in annotations:
        return "", f"modelpack k8s{flags} --kind kserve {pinned}", ""
    if A_MODEL_REFERENCE in annotations:
        return "", f"modelpack k8s{flags} {pinned}", ""
    return "", "", ""


def read_info(repo: SnapshotRepository, ref: Reference, version: str) -> ModelInfo:
    """The model `version` (a digest or tag) names, read through the page's caches: its manifest, and its
    config when that is small JSON (what `inspect --remote` reads)."""
    desc, data = repo.fetch_manifest(version)
    node = parse_manifest(data)
    config = None
    if isinstance(node, Manifest) and node.config.media_type.endswith("json") and node.config.size <= SMALL_BLOB:
        value = parse_or_none(read_small(repo, node.config, SMALL_BLOB))
        config = value if isinstance(value, dict) else None
    return ModelInfo.read(str(ref.with_digest(desc.digest)), desc, node, config)


def _fields(metadata: dict[str, Any]) -> list[tuple[str, Any]]:
    leading = [(key, metadata[key]) for key in _LEADING if metadata.get(key) not in (None, "", [], {})]
    rest = [(key, value) for key, value in sorted(metadata.items())
            if key not in _LEADING and key != "metrics" and value not in (None, "", [], {})]
    return leading + rest


def version_url(host: str, repository: str, digest: str) -> str:
    """The UI's path of a version's page."""
    return f"/v/{host}/{repository}@{digest}"


def _lineage(site: Site, ref: Reference, digest: str) -> tuple[list[LineageEntry], str | None]:
    """The chain of parents back to the first ancestor (as `lineage`), the part read before any failure."""
    from modelpack.api.lineage_reading import lineage

    entries: list[LineageEntry] = []
    onward: object = None  # the last model's parent: set when the walk stopped at its depth cap
    try:
        for entry in lineage(str(ref.with_digest(digest)), options=site.options, store=site.store, hosts=site.hosts):
            onward = entry["parent"]
            if entry["missing"]:
                return entries, f"its parent {entry['reference']} is no longer in its registry (deleted)"
            parsed = Reference.parse(entry["reference"])
            label = " ".join(str(x) for x in (entry["name"], entry["version"]) if x)
            url = version_url(parsed.registry, parsed.repository, entry["digest"]) \
                if parsed.registry in site.hosts else None
            entries.append(LineageEntry(entry["reference"], entry["digest"], label, url))
    except ModelpackError as exc:
        return entries, cli_message(exc)
    if onward is not None:
        return entries, f"only the first {len(entries)} models of the chain are shown; it goes on at {onward}"
    return entries, None


def _integrity(site: Site, repo: SnapshotRepository,
               digest: str) -> tuple[list[Referrer], list[KeyCheck], list[str]]:
    """What is attached to the version and what each key verifies of it, as `report` lists them."""
    from modelpack.report.integrity import attached, check_keys

    problems: list[str] = []
    try:
        found = attached(repo, digest, problems)
    except ModelpackError as exc:  # more referrers than anyone attaches: not walked
        return [], [], [cli_message(exc)]
    return found, check_keys(repo, digest, site.key_files, found), problems


def _diff(repo: SnapshotRepository, ref: Reference, info: ModelInfo, against: str,
          versions: list[Any]) -> tuple[Diff | None, str | None]:
    """`against` (a tag or digest of this repository) -> this version, as `diff` shows it."""
    known = {v.tag: v.digest for v in versions} | {v.digest: v.digest for v in versions}
    if against not in known:
        return None, f"{against!r} is not a version of {ref.registry}/{ref.repository}"
    try:
        return diff_models(read_info(repo, ref, known[against]), info), None
    except ModelpackError as exc:
        return None, cli_message(exc)


def snippets(site: Site, ref: Reference, digest: str) -> tuple[str, str, str]:
    """`modelpack pull` and `modelpack k8s` commands and the Kubernetes YAML, pinned by digest."""
    from modelpack.image import k8s

    pinned = str(ref.with_digest(digest))
    flags = " --plain-http" if site.options.plain_http else ""
    folder = ref.repository.rsplit("/", 1)[-1]
    pull = f"modelpack pull{flags} {shlex.quote(pinned)} -o {shlex.quote(folder)}"
    server = "SERVING-IMAGE@sha256:..."  # the user's own build: `modelpack build-image` prints it
    command = (f"modelpack build-image{flags} {shlex.quote(pinned)} -t {shlex.quote(ref.name + '-serve:1')}\n"
               f"modelpack k8s{flags} {shlex.quote(pinned)} --kind image-volume --serving-image {server}")
    where = k8s.Placement(k8s.name_for(ref.repository))
    yaml_text = k8s.render([k8s.deployment(where, server, "1", "2Gi", volume_image=pinned, model_digest=digest),
                            k8s.service(where)])
    return pull, command, yaml_text
