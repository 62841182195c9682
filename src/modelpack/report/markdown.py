"""The report as Markdown (CommonMark with GitHub tables). Every value from the registry or the artifact
is escaped: controls shown as escapes, `&<>` as entities (Markdown passes raw HTML through), and the
punctuation that makes links, emphasis, code or table cells backslash-escaped. The README goes in a
fenced block whose fence is longer than any run of backticks in it."""

from __future__ import annotations

import json
import re
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

_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#!|~^])")
_LIST_MARK = re.compile(r"^(\s*)([-+=])")  # a list item or a setext underline where a value starts a line
_ORDERED = re.compile(r"^(\s*\d+)\.")  # an ordered list item


def md(value: Any, line_start: bool = False) -> str:
    """One value as inline Markdown text that shows exactly that text; with `line_start`, also where it
    begins a line (a paragraph, a quote), so it cannot become a list or a heading underline."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _PUNCTUATION.sub(r"\\\1", text)
    return _ORDERED.sub(r"\1\\.", _LIST_MARK.sub(r"\1\\\2", text)) if line_start else text


def render_markdown(facts: ReportFacts) -> str:
    """The report as a Markdown document.

    Args:
        facts: what `build_report` gathered.

    Returns:
        The document.
    """
    out: list[str] = []
    name = facts.identity.get("name") or facts.repository
    version = facts.identity.get("version")
    out.append(f"# Technical documentation: {md(name)}" + (f" {md(version)}" if version else ""))
    status = "verified" if facts.verified else ("not verified" if facts.key_checks else "no key given")
    out.append(f"\nModel version {md(facts.digest)} in {md(facts.repository)}. Generated {md(facts.generated)} by "
               f"{md(facts.generator)}. Signature: **{status}**.")
    for key, title, annex in SECTIONS:
        out.append(f"\n## {title}\n\n*{annex}*\n")
        out.extend(f"> {md(text, line_start=True)}\n" for text in facts.notes.get(key, []))
        out.extend(_SECTIONS[key](facts))
    out.append(f"\n---\n\n{NOT_COVERED}\n")
    return "\n".join(out)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if v is None else md(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _kv(rows: list[tuple[str, Any]]) -> list[str]:
    shown = [[label, ", ".join(map(str, v)) if isinstance(v, list) else v] for label, v in rows
             if v not in (None, "", [], {})]
    return _table(["Field", "Value"], shown) if shown else []


def _identity(f: ReportFacts) -> list[str]:
    i = f.identity
    return _kv([("Name", i.get("name")), ("Title", i.get("title")), ("Version", i.get("version")),
                ("Digest", f.digest), ("Registry", i.get("registry")), ("Repository", f.repository),
                ("Reference", f.reference), ("Created", i.get("created")),
                ("Provider (vendor)", i.get("vendor") or NO_PROVIDER), ("Authors", i.get("authors") or NOT_RECORDED),
                ("Licenses", i.get("licenses")), ("Source", i.get("sourceURL")),
                ("Revision", i.get("revision")), ("Software versions", i.get("software") or NO_SOFTWARE),
                ("Artifact type", i.get("artifactType")),
                ("Written by", i.get("artifactFormat")), ("Size of the files", size_text(i.get("size")))])


def _description(f: ReportFacts) -> list[str]:
    out = [md(f.description, line_start=True) + "\n" if f.description else "No description recorded.\n"]
    out += _kv([("Documentation", f.doc_url), *((f"Capability: {k}", v) for k, v in f.capabilities.items()),
                *((f"Label: {k}", v) for k, v in f.labels.items())])
    if f.readme is not None:
        out += [f"### {md(f.readme_path)}\n", _fenced(f.readme, "text")]
    return out


def _fenced(text: str, language: str) -> str:
    """`text` (the registry's) as a code block: controls escaped, in a fence longer than any backtick run in it."""
    text = clean(text, keep="\n\t")
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
    return f"{fence}{language}\n{text.rstrip()}\n{fence}\n"


def _architecture(f: ReportFacts) -> list[str]:
    a = f.architecture
    out = _kv([("Family", a.get("family")), ("Architecture", a.get("architecture")),
               ("Parameters", a.get("paramSize")), ("Precision", a.get("precision")),
               ("Quantization", a.get("quantization")), ("Framework", a.get("framework")),
               ("Weight format", a.get("format"))]) or ["Not recorded.\n"]
    out.append(f"### Files ({f.files_total})\n")
    out += _table(["Path", "Kind", "Size (bytes)", "Digest"],
                  [[x["path"], x["kind"] or x["mediaType"], x["size"], x["digest"]] for x in f.files])
    return out


def _hyperparameters(f: ReportFacts) -> list[str]:
    return _table(["Hyperparameter", "Value"], [[k, json.dumps(v, ensure_ascii=False)]
                                                 for k, v in f.hyperparameters.items()]) \
        if f.hyperparameters else ["None recorded.\n"]


def _data(f: ReportFacts) -> list[str]:
    return _table(["Dataset", "Pinned digest"], [[d["reference"] or d["name"], d["digest"] or "not pinned"]
                                                  for d in f.datasets]) if f.datasets else ["No datasets recorded.\n"]


def _lineage(f: ReportFacts) -> list[str]:
    out: list[str] = []
    for i, step in enumerate(f.lineage):
        title = "This model" if i == 0 else f"Ancestor {i}"
        out.append(f"### {title}: {md(step.name or '')} {md(step.version or '')}\n")
        out += _kv([("Reference", step.reference), ("Digest", step.digest), ("Created", step.created)])
        if step.changes:
            files = step.changes["files"]
            out.append(f"Changes from its parent: {len(files['added'])} file(s) added, {len(files['removed'])} "
                       f"removed, {len(files['changed'])} changed; {len(step.changes['metadata'])} metadata "
                       "field(s) changed.\n")
            rows = [[x["path"], "added", x["digest"]] for x in files["added"]]
            rows += [[x["path"], "removed", x["digest"]] for x in files["removed"]]
            rows += [[x["path"], "changed", f"{x['oldDigest']} → {x['newDigest']}"] for x in files["changed"]]
            if rows:
                out += _table(["File", "Change", "Digest"], rows)
            if step.changes["metadata"]:
                out += _table(["Field", "Parent", "This"], [[k, json.dumps(v["old"]), json.dumps(v["new"])]
                                                            for k, v in step.changes["metadata"].items()])
    end = ending(f.lineage)
    if end:
        out.append(md(end) + "\n")
    return out


def _evaluation(f: ReportFacts) -> list[str]:
    return _table(["Metric", "Value"], [[k, v] for k, v in f.metrics.items()]) if f.metrics \
        else ["No metrics recorded.\n"]


def _integrity(f: ReportFacts) -> list[str]:
    # "Why not" as the HTML's note under the count: a wrong key and a missing signature both read 0.
    out = _table(["Key", "Signatures verified", "Signed with", "Attestations verified", "Why not"],
                 [[k.key, k.signatures, "; ".join(", ".join(f"{n}={v}" for n, v in c.items()) for c in k.claims if c),
                   "; ".join(f"{n} × {t}" for t, n in k.attestations.items()) or "none",
                   "; ".join(k.problems)] for k in f.key_checks]) if f.key_checks else \
        ["No public key given (report --key cosign.pub): nothing was verified.\n"]
    out += _table(["Attached", "Predicate or artifact type", "Where", "Attached at (unsigned)", "Verified with"],
                  [[r.kind, r.predicate_type, r.location, r.attached,
                    ", ".join(r.verified_by) or r.note or "not verified"] for r in f.referrers]) \
        if f.referrers else ["No signatures or attestations attached.\n"]
    for p in f.provenance:
        out.append(f"### Verified provenance (SLSA v1), signed by {md(p['key'])}\n")
        out += _kv([("Builder", p.get("builder")), ("Build type", p.get("buildType")), ("Source", p.get("source")),
                    ("Revision", p.get("revision")), ("Work tree clean", p.get("clean")),
                    ("Finished", p.get("finishedOn"))])
        if p["dependencies"]:
            out += _table(["Dependency", "URI", "Digest"], [[d["name"], d["uri"], d["digest"]]
                                                             for d in p["dependencies"]])
    for st in f.statements:
        out.append(f"### Verified statement: {md(st.predicate_type)}, signed by {md(st.key)}\n")
        out.append(_fenced(st.text, "json"))
        if st.cut:
            out.append(f"> {md(STATEMENT_CUT)}\n")
    return out


def _lifecycle(f: ReportFacts) -> list[str]:
    return _kv([("Tags naming this digest", f.tags)]) + \
        _table(["Tag", "Version", "Created", "Digest"], [[s.tag + (" (this)" if s.this else ""), s.version, s.created,
                                                          s.digest] for s in f.siblings])


def _monitoring(f: ReportFacts) -> list[str]:
    m = f.monitoring
    return [f"A server started with `modelpack serve` labels every series of `/metrics` "  # (names of ours)
            f"({', '.join(f'`{x}`' for x in m['metrics'])}) with {', '.join(m['labels'])}, and answers "
            f"`GET /v2/models/NAME` (here {md(m['name'])}) with the digest in `parameters.digest`. Monitoring data "
            f"belongs to this version when its digest label is {md(f.digest)}, for example:\n",
            f"```promql\nsum by (code) (rate(modelpack_requests_total{{digest=\"{clean(f.digest)}\"}}[5m]))\n```\n"]


_SECTIONS = {"identity": _identity, "description": _description, "architecture": _architecture,
             "hyperparameters": _hyperparameters, "data": _data, "lineage": _lineage, "evaluation": _evaluation,
             "integrity": _integrity, "lifecycle": _lifecycle, "monitoring": _monitoring}
