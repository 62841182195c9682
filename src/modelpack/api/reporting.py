"""Technical documentation of a model version: the API behind `report`, and what a web UI calls.

    facts = modelpack.build_report("registry.example.com/team/iris:1.1", keys=["cosign.pub"])
    page = modelpack.render_report(facts, "html")   # or "md"; facts.to_json() for an API
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from modelpack.advice import compose, setting
from modelpack.errors import UsageError
from modelpack.places import Place
from modelpack.report.facts import REPORT_FORMATS, ReportFacts
from modelpack.store.options import ClientOptions, closes_own_options

if TYPE_CHECKING:
    from modelpack.store.layout import LayoutStore

FORMATS = tuple(REPORT_FORMATS)


@closes_own_options
def build_report(
    reference: str | Place,
    keys: Sequence[str | Path] = (),
    *,
    local: bool = False,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
    hosts: Collection[str] | None = None,
) -> ReportFacts:
    """Gather what the registry knows of one model version, section by section (identity, description,
    architecture, hyperparameters, data, lineage, evaluation, integrity, lifecycle, monitoring).

    Args:
        reference: a registry reference (read from the registry), or `oci:DIR[:TAG|@DIGEST]`.
        keys: public keys (cosign.pub) to verify signatures and attestations with.
        local: read the model in the local store instead of the registry.
        options: how to reach the registry.
        store: the local store (default: MODELPACK_HOME's).
        hosts: the registries the lineage may be read from (None: any); a web UI passes its own.

    Returns:
        The facts; a part that could not be read is noted in its section.

    Raises:
        NotFoundError: no such model there.
        UsageError: an index (name one of its models by digest).
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached.
    """
    from modelpack.report.gather import gather

    return gather(reference, keys, local=local, options=options, store=store, hosts=hosts)


def render_report(facts: ReportFacts, format: str = "html") -> str:
    """The report as one self-contained document.

    Args:
        facts: what `build_report` returned.
        format: `html` (inline CSS, no network, prints well), `md` (Markdown) or `json` (the facts
            themselves, for scripts and evidence stores: `ReportFacts.to_json`).

    Returns:
        The document's text; every registry- or artifact-controlled value escaped for that format.

    Raises:
        UsageError: an unknown format.
    """
    if format == "html":
        from modelpack.report.html import render_html

        return render_html(facts)
    if format == "md":
        from modelpack.report.markdown import render_markdown

        return render_markdown(facts)
    if format == "json":
        import json

        # ensure_ascii: a control or bidi character the artifact wrote reaches a terminal as \uXXXX only.
        return json.dumps(facts.to_json(), indent=2, default=str) + "\n"
    raise UsageError(compose("{}: use one of {}", setting(f"format={format!r}", f"--format {format!r}"),
                             ", ".join(FORMATS)))
