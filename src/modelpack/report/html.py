"""The report as one self-contained HTML page: inline CSS, no scripts, no network (a Content Security
Policy forbids any load), laid out for print too. Rendered by Jinja2 with autoescaping, so every value
is HTML-escaped; control and invisible formatting characters (a bidi override in a model name) are
shown as escapes before that."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from modelpack.cli.escape import clean
from modelpack.report.facts import (
    NO_PROVIDER,
    NO_SOFTWARE,
    NOT_COVERED,
    NOT_RECORDED,
    SECTIONS,
    STATEMENT_CUT,
    ReportFacts,
    size_text,
)
from modelpack.report.lineage import ending


def render_html(facts: ReportFacts) -> str:
    """The report as an HTML document.

    Args:
        facts: what `build_report` gathered.

    Returns:
        The page (UTF-8 text).
    """
    return _template().render(f=facts, sections={key: (title, annex) for key, title, annex in SECTIONS},
                              capability_rows=[(f"Capability: {k}", _json(v)) for k, v in facts.capabilities.items()]
                              + [(f"Label: {k}", v) for k, v in facts.labels.items()],
                              not_covered=NOT_COVERED, lineage_end=ending(facts.lineage))


@cache
def _template() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("modelpack.report", "templates"),
                             autoescape=True, finalize=_visible, undefined=jinja2.StrictUndefined)
    env.filters["tojson_text"] = _json
    env.filters["visible"] = _visible
    env.globals["size_text"] = size_text
    env.globals["not_recorded"] = NOT_RECORDED
    env.globals["no_provider"] = NO_PROVIDER
    env.globals["no_software"] = NO_SOFTWARE
    env.globals["statement_cut"] = STATEMENT_CUT
    return env.get_template("report.html.j2")


def _visible(value: Any) -> Any:
    """Every expression's value: text with its controls shown as escapes (newlines and tabs kept, for
    the README); Markup (already escaped by a macro) as it is."""
    import markupsafe

    if isinstance(value, str) and not isinstance(value, markupsafe.Markup):
        return clean(value, keep="\n\t")
    return "" if value is None else value


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
