"""The data of the home page (repositories, each with its latest version) and of a repository's page
(its versions, aliases grouped on one digest, metrics, signature status and charts)."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from modelpack.advice import cli_message  # the UI is started from the CLI: its words
from modelpack.errors import ModelpackError, UsageError
from modelpack.oci.reference import Reference
from modelpack.threads import worker_pool
from modelpack.ui.charts import Chart, chart
from modelpack.ui.site import WORKERS, SignatureStatus, Site
from modelpack.versions import NEWEST_FIRST, Version, list_versions, newest_first

PAGE_SIZE = 20  # repositories per home page: each costs its tag list and a HEAD per tag


@dataclass
class RepositorySummary:
    host: str
    name: str
    count: int = 0  # distinct versions (digests)
    latest: str | None = None  # the most recently created version's tag
    latest_digest: str | None = None
    latest_version: str | None = None
    updated: str | None = None
    error: str | None = None
    more: bool = False  # the registry lists more than MAX_TAGS tags: only the first were read


@dataclass
class HomePage:
    repositories: list[RepositorySummary]
    query: str
    page: int
    pages: int
    total: int
    messages: list[str] = field(default_factory=list)


def home(site: Site, query: str = "", page: int = 1) -> HomePage:
    """The repositories of the registries' catalogs (where they show them) and those named on the
    command line, filtered by `query` (a substring of the name), `PAGE_SIZE` a page."""
    from modelpack.api.catalog import list_repositories

    messages: list[str] = []
    names = {(ref.registry, ref.repository) for ref in site.repositories}
    for host in site.registries:
        try:
            names |= {(host, r.repository) for r in list_repositories(host, tag_counts=False, options=site.options)}
        except ModelpackError as exc:
            messages.append(cli_message(exc))
    wanted = query.strip().lower()
    shown = sorted((host, name) for host, name in names if wanted in f"{host}/{name}".lower())
    pages = max(1, math.ceil(len(shown) / PAGE_SIZE))
    page = min(max(page, 1), pages)
    selected = shown[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    with worker_pool(4, "ui-summaries") as pool:
        summaries = list(pool.map(lambda item: _summary(site, *item), selected))
    return HomePage(summaries, query, page, pages, len(shown), messages)


def _summary(site: Site, host: str, name: str) -> RepositorySummary:
    summary = RepositorySummary(host, name)
    try:
        repo = site.open(Reference(host, name))
        versions = list_versions(repo, site.store, warn=lambda message: None, max_tags=MAX_TAGS)
    except ModelpackError as exc:
        summary.error = cli_message(exc)
        return summary
    summary.more = len(repo.tags()) > MAX_TAGS  # as a repository's page: 100,000 tags, not 100,000 HEADs
    summary.count = len({v.digest for v in versions})
    if versions:
        newest = newest_first(versions)[0]
        summary.latest, summary.latest_digest = newest.tag, newest.digest
        summary.latest_version = _text(newest.metadata.get("version"))
        summary.updated = _text(newest.metadata.get("created"))
    return summary


@dataclass
class Row:
    """One version: a digest and every tag naming it."""

    tags: list[str]
    digest: str
    version: str | None
    created: str | None
    size: int
    metrics: dict[str, float]
    signature: SignatureStatus | None
    artifact_type: str | None


@dataclass
class RepositoryPage:
    host: str
    name: str
    rows: list[Row]
    metric_names: list[str]
    charts: list[Chart]
    where: str
    sort: str
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # a bad filter or sort: shown above an empty table

    @property
    def keys_given(self) -> bool:
        return any(row.signature is not None for row in self.rows)


MAX_FILTER = 4096  # characters of the filter or sort box
MAX_TAGS = 2000  # tags a repository page reads (a HEAD each): a registry listing 100,000 must not cost as many
# Metric columns and charts of a repository page: each version's manifest may name thousands of its own
# (10 versions of 1,000 made a 10 MB page; 100 of 10,000 would have been a table of 10^8 cells).
MAX_METRICS = 50


def split_conditions(text: str) -> list[str]:
    """`metrics.accuracy>=0.9; labels.stage=prod` (or one a line) as `--where` takes them, one each."""
    return [part.strip() for part in re.split(r"[;\n]", text) if part.strip()]


def repository(site: Site, ref: Reference, where: str = "", sort: str = "") -> RepositoryPage:
    """Every version of a repository as `ls` lists them (manifests cached by digest), filtered by
    `where` (the `--where` syntax, conditions separated by `;`) and sorted by `sort` (`--sort`).

    Raises:
        ModelpackError: the registry cannot list the repository (a filter mistake is shown instead).
    """
    warnings: list[str] = []
    if len(where) > MAX_FILTER or len(sort) > MAX_FILTER:  # any web page can make the browser ask this
        page = RepositoryPage(ref.registry, ref.repository, [], [], [], "", NEWEST_FIRST, warnings)
        page.error = f"a filter or sort of more than {MAX_FILTER} characters is refused"
        return page
    repo = site.open(ref)
    page = RepositoryPage(ref.registry, ref.repository, [], [], [], where, sort or NEWEST_FIRST, warnings)
    try:
        versions = list_versions(repo, site.store, split_conditions(where), sort or None, workers=WORKERS,
                                 warn=warnings.append, max_tags=MAX_TAGS)
        if len(repo.tags()) > MAX_TAGS:  # the snapshot's list: no second request
            warnings.append(f"the registry lists {len(repo.tags())} tags; the first {MAX_TAGS} are shown")
    except UsageError as exc:  # the filter or sort named: the page says so, with the box to correct it
        page.error = cli_message(exc)
        return page
    groups: dict[str, list[Version]] = {}
    for version in versions:
        groups.setdefault(version.digest, []).append(version)
    signatures = site.signature_status(repo, list(groups))
    page.rows = [_row(group, signatures.get(digest)) for digest, group in groups.items()]
    page.metric_names = _shown_metrics(page.rows, warnings)
    by_time = sorted(page.rows, key=lambda row: (row.created or "", row.version or "", row.tags[0]))
    page.charts = [chart(name, [(row.version or row.tags[0], row.metrics.get(name)) for row in by_time])
                   for name in page.metric_names]
    return page


def _shown_metrics(rows: list[Row], warnings: list[str]) -> list[str]:
    """The metrics the page shows, by name: all of them, or the `MAX_METRICS` most versions record (the
    filter and the sort still take any)."""
    counts = Counter(name for row in rows for name in row.metrics)
    if len(counts) > MAX_METRICS:
        warnings.append(f"the versions record {len(counts)} metrics; the {MAX_METRICS} that most of them record "
                        "are shown (filter and sort take any)")
    return sorted(sorted(counts, key=lambda name: (-counts[name], name))[:MAX_METRICS])


def _row(group: list[Version], signature: SignatureStatus | None) -> Row:
    first = group[0]
    model = first.model
    return Row([v.tag for v in group], first.digest, _text(first.metadata.get("version")),
               _text(first.metadata.get("created")), first.size, model.metrics if model else {}, signature,
               first.artifact_type)


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
