"""SLSA v1 provenance of a packed model (https://slsa.dev/provenance/v1), recorded by `pack`/`push
--provenance` and signed later by `attest --provenance`.

The predicate says what modelpack knows when it packs: the source (URL, git commit, whether the work
tree had uncommitted changes, the folder within the repository), the metadata a user chose (datasets,
hyperparameters, file rules, `--set` overrides), the parent model and the datasets that are registry
references, pinned by digest, and modelpack as the builder. The statement's subject is the manifest
digest, so it is kept per digest in the local store (`$MODELPACK_HOME/provenance/sha256-<hex>.json`)
until someone with the key signs it: packing happens where the code is, signing often somewhere else.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelpack.advice import compose, setting
from modelpack.errors import InvalidReferenceError, NotFoundError
from modelpack.files import atomic_write
from modelpack.oci.descriptor import MAX_MANIFEST_BYTES
from modelpack.oci.digest import is_digest
from modelpack.oci.reference import Reference
from modelpack.store.layout_files import read_regular
from modelpack.version import __version__

if TYPE_CHECKING:
    from modelpack.metadata.load import Overrides
    from modelpack.packing.build import PackedModel
    from modelpack.store.layout import LayoutStore

PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
# What a pack is; documented in the README's Traceability section.
BUILD_TYPE = "https://modelpack.dev/provenance/pack/v1"
# The builder: modelpack run by whoever packs. A CI system that vouches for its runs names itself here.
BUILDER_ID_ENV = "MODELPACK_BUILDER_ID"
DEFAULT_BUILDER_ID = "https://modelpack.dev/cli"
FOLDER = "provenance"
MAX_URL = 2048  # a CI run's URL recorded as the invocationId


def build_predicate(model: PackedModel, model_dir: Path, reference: str, overrides: Overrides,
                    started: datetime, finished: datetime) -> dict[str, Any]:
    """The SLSA v1 provenance predicate of a model just packed.

    Args:
        model: the packed model (its metadata has the pinned parent and datasets, and the git facts).
        model_dir: the directory packed.
        reference: where it was packed or pushed to.
        overrides: the `--set` overrides (or the API's mapping) applied to the metadata.
        started: when packing began.
        finished: when it ended.

    Returns:
        The predicate (JSON object): buildDefinition and runDetails.
    """
    meta = model.metadata
    model_id = {k: v for k, v in (("name", meta.name), ("version", meta.version)) if v}
    external: dict[str, Any] = {"reference": reference, "model": model_id}
    source = _source(model_dir, meta.source_url, meta.revision)
    if source:
        external["source"] = source
    if meta.datasets:
        external["datasets"] = list(meta.datasets)
    if meta.hyperparameters:
        external["hyperparameters"] = meta.hyperparameters
    if meta.parent:
        external["parent"] = meta.parent
    files = meta.files.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if files:
        external["files"] = files
    if overrides:
        external["overrides"] = dict(overrides) if isinstance(overrides, Mapping) else list(overrides)
    dependencies = [d for d in (_source_dependency(meta.source_url, meta.revision),
                                _model_dependency("parent", meta.parent),
                                *(_model_dependency("dataset", d) for d in meta.datasets)) if d]
    internal: dict[str, Any] = {}
    if os.environ.get("SOURCE_DATE_EPOCH"):
        internal["SOURCE_DATE_EPOCH"] = os.environ["SOURCE_DATE_EPOCH"]
    definition: dict[str, Any] = {"buildType": BUILD_TYPE, "externalParameters": external}
    if internal:
        definition["internalParameters"] = internal
    if dependencies:
        definition["resolvedDependencies"] = dependencies
    builder = {"id": os.environ.get(BUILDER_ID_ENV) or DEFAULT_BUILDER_ID, "version": {"modelpack": __version__}}
    return json.loads(json.dumps({
        "buildDefinition": definition,
        "runDetails": {"builder": builder,
                       "metadata": {"invocationId": invocation_id(), "startedOn": _time(started),
                                    "finishedOn": _time(finished)},
                       "byproducts": [{"name": "config", "digest": _digest_map(model.manifest.config.digest),
                                       "mediaType": model.manifest.config.media_type}]},
    }, default=str))


def invocation_id() -> str:
    """The CI run that packs, as a link to its log where the CI system names one (GitHub Actions' run
    attempt, as slsa-github-generator records it; GitLab's and Buildkite's job, Jenkins' build), else a
    fresh UUID: SLSA's invocationId is for finding the run's logs."""
    env = os.environ
    found = None
    if env.get("GITHUB_ACTIONS") == "true" and env.get("GITHUB_REPOSITORY") and env.get("GITHUB_RUN_ID"):
        server = env.get("GITHUB_SERVER_URL") or "https://github.com"
        run = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
        found = f"{run}/attempts/{env['GITHUB_RUN_ATTEMPT']}" if env.get("GITHUB_RUN_ATTEMPT") else run
    else:
        found = next((env[url] for flag, url in (("GITLAB_CI", "CI_JOB_URL"), ("BUILDKITE", "BUILDKITE_BUILD_URL"),
                                                 ("JENKINS_URL", "BUILD_URL")) if env.get(flag) and env.get(url)), None)
    return (found and _shown_url(found)) or f"urn:uuid:{uuid.uuid4()}"


def _shown_url(url: str) -> str | None:
    """A run's URL as a provenance, signed and published, may hold it: without the `user:token@` a Jenkins URL
    configured with one carries (BUILD_URL repeats it); None when it is no http(s) URL, holds whitespace or
    control characters, or is over MAX_URL characters."""
    from modelpack.metadata.git_facts import strip_credentials

    if len(url) > MAX_URL or not url.isprintable() or any(c.isspace() for c in url):
        return None
    shown = strip_credentials(url)
    return shown if shown.startswith(("https://", "http://")) and len(shown) > len("https://") else None


def save(store: LayoutStore, digest: str, predicate: dict[str, Any]) -> Path:
    """Keep a predicate for the manifest `digest` in the local store (replacing an older one).

    Returns:
        The file written.
    """
    path = path_for(store, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(predicate, indent=2).encode() + b"\n")
    return path


def load(store: LayoutStore, digest: str) -> dict[str, Any]:
    """The predicate recorded for `digest`.

    Raises:
        NotFoundError: none was recorded on this machine.
        IntegrityError: its file is no regular file (a FIFO, a device), or over MAX_MANIFEST_BYTES.
    """
    path = path_for(store, digest)
    try:
        # As the store's other files: a FIFO there hung `attest --provenance`, a link to /dev/zero exhausted it.
        value = json.loads(read_regular(path, MAX_MANIFEST_BYTES, "the provenance recorded in"))
    except FileNotFoundError:
        raise NotFoundError(f"no provenance recorded for {digest} here", advice=compose(
            "pack or push the directory with {} (or {})", setting("provenance=True", "--provenance"),
            setting("attest(REF, KEY, PASSWORD, PREDICATE, 'slsaprovenance1')",
                    "attest --type slsaprovenance1 --predicate FILE"))) from None
    except ValueError:
        raise NotFoundError(f"the provenance recorded for {digest} ({path}) is not JSON; pack it again") from None
    if not isinstance(value, dict):
        raise NotFoundError(f"the provenance recorded for {digest} ({path}) is not a JSON object")
    return value


def path_for(store: LayoutStore, digest: str) -> Path:
    if not is_digest(digest):
        raise NotFoundError(f"{digest!r} is not a digest")
    alg, _, hexd = digest.partition(":")
    return store.root / FOLDER / f"{alg}-{hexd}.json"


def _source(model_dir: Path, url: str | None, revision: str | None) -> dict[str, Any]:
    from modelpack.git_command import git_value
    from modelpack.git_worktree import work_tree_clean

    source: dict[str, Any] = {k: v for k, v in (("uri", url), ("revision", revision)) if v}
    if git_value(model_dir, "rev-parse", "--is-inside-work-tree") == "true":
        source["path"] = (git_value(model_dir, "rev-parse", "--show-prefix") or "").rstrip("/") or "."
        # Uncommitted changes: the commit alone does not say what was packed. Unknown: left out.
        if (clean := work_tree_clean(model_dir)) is not None:
            source["clean"] = clean
    return source


def _source_dependency(url: str | None, revision: str | None) -> dict[str, Any] | None:
    if not url:
        return None
    dependency: dict[str, Any] = {"name": "source", "uri": url if url.startswith("git+") or "://" not in url
                                  else f"git+{url}"}
    if revision and len(revision) in (40, 64) and all(c in "0123456789abcdef" for c in revision):
        dependency["digest"] = {"gitCommit": revision}
    return dependency


def _model_dependency(name: str, value: str | None) -> dict[str, Any] | None:
    """A registry reference pinned by digest (`registry/repo:tag@sha256:...`); anything else that is a
    URI is named by it; a bare dataset name is only in externalParameters."""
    if not value:
        return None
    try:
        ref = Reference.parse(value)
    except InvalidReferenceError:
        ref = None
    if ref is not None and ref.registry:
        uri = f"oci://{ref.registry}/{ref.repository}" + (f":{ref.tag}" if ref.tag else "")
        out: dict[str, Any] = {"name": name, "uri": uri}
        if ref.digest:
            out["digest"] = _digest_map(ref.digest)
        return out
    if "://" in value:
        return {"name": name, "uri": value}
    return None


def _digest_map(digest: str) -> dict[str, str]:
    alg, _, hexd = digest.partition(":")
    return {alg: hexd}


def _time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
