"""What a technical-documentation report says about one model version: plain data, gathered once
(`gather.py`) and rendered as HTML or Markdown (`html.py`, `markdown.py`) or served as JSON by a web UI.

Every string here may come from the registry or the artifact: renderers escape all of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The formats `render_report` writes (`report --format`, the UI's ?format=), with their media types.
REPORT_FORMATS = {"html": "text/html; charset=utf-8", "md": "text/markdown; charset=utf-8",
                  "json": "application/json"}

# Each section, its title and the EU AI Act (Regulation (EU) 2024/1689) Annex IV points it documents.
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("identity", "Identity", "Annex IV 1(a), 1(c): provider, name and version, relation to previous versions, "
                             "software versions"),
    ("description", "Description and intended use", "Annex IV 1(a) intended purpose, 1(h) instructions for use"),
    ("architecture", "Architecture, parameters, precision", "Annex IV 2(b) design specifications, 2(c) architecture"),
    ("hyperparameters", "Hyperparameters", "Annex IV 2(b) key design choices; Art. 13(3)(b)"),
    ("data", "Data", "Annex IV 2(d) training data sets and their provenance"),
    ("lineage", "Lineage", "Annex IV 2(a) pre-trained systems used and how they were modified, 6 changes through "
     "the lifecycle"),
    ("evaluation", "Evaluation", "Annex IV 2(g) metrics and test results, 4 appropriateness of the metrics"),
    ("integrity", "Integrity", "Annex IV 2(g) signed test reports, 2(h) cybersecurity measures"),
    ("lifecycle", "Lifecycle", "Annex IV 1(a) relation to other versions, 6 changes through the lifecycle"),
    ("monitoring", "Monitoring", "Annex IV 3 monitoring and control, 9 post-market monitoring (Art. 72)"),
)
# Said where Annex IV asks for a fact the model does not record (a row left out read as forgotten).
NOT_RECORDED = "not recorded (authors in modelpack.yaml)"
# Under the AI Act the provider is the legal entity placing the model on the market, not the card's authors:
# model-spec's `vendor` ("the organization or company distributing the model") is the field that names it.
NO_PROVIDER = "not recorded (vendor in modelpack.yaml: the organisation placing the model on the market)"
NO_SOFTWARE = "not recorded (labels NAME.version in modelpack.yaml, e.g. scikit-learn.version; init records them)"
STATEMENT_CUT = "only the beginning is shown: verify-attestation --type TYPE prints the whole predicate"
NOT_COVERED = ("The provider's own parts of the technical documentation are not in the registry and so not here: "
               "human oversight (Annex IV 2(e)), risk management (5), harmonised standards (7) and the EU "
               "declaration of conformity (8).")


def size_text(size: object) -> str | None:
    """The files' total size for people: `3685882 bytes (3.5 MiB)` (a bare number read as no unit)."""
    if not isinstance(size, int) or isinstance(size, bool):
        return None
    if size < 1024:
        return f"{size} bytes"
    value = size / 1024
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} bytes ({value:.1f} {unit})"
        value /= 1024
    return None  # (not reached: TiB ends the loop)


@dataclass
class LineageStep:
    """One model of the chain of parents (the first is the model reported on) and what changed from its
    parent to it (None for the first ancestor, or where the parent could not be read)."""

    reference: str
    digest: str
    name: str | None = None
    version: str | None = None
    created: str | None = None
    changes: dict[str, Any] | None = None  # model_diff.Diff.to_json(): files, metadata, metrics
    parent: str | None = None  # the parent this model records (the chain may stop before it: see the notes)


@dataclass
class Referrer:
    """A signature, an attestation or another artifact attached to the model."""

    kind: str  # signature, attestation, model-signing, notary-signature, other
    location: str  # the referrer manifest's digest, or cosign's legacy tag
    predicate_type: str | None = None  # an attestation's (a signature's is cosign's sign/v1)
    verified_by: list[str] = field(default_factory=list)  # the keys it verified with
    attached: str | None = None  # when it was pushed, as its manifest records it (the pusher's clock, unsigned)
    note: str | None = None  # what to make of one no key given here checks (a Notary Project signature)


@dataclass
class KeyCheck:
    """What one public key verified: how many signatures and attestations (by predicate type)."""

    key: str
    signatures: int = 0
    attestations: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # What each verified signature's signer stated with it (`sign -a reviewer=bob -a approved=true`): the
    # annotations inside the signed statement, so they are the key holder's words, not the registry's.
    claims: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Statement:
    """A verified attestation's predicate shown whole (an evaluation, a test report, a scan), as its signer
    wrote it: SLSA v1 provenance is summarised instead, and SBOMs (a document of their own) are not shown."""

    key: str  # the key it verified with
    predicate_type: str
    text: str  # the predicate as indented JSON, at most integrity.MAX_STATEMENT characters
    cut: bool = False  # the predicate was longer: the text is its beginning


@dataclass
class Sibling:
    """Another version in the repository (or this one under another tag)."""

    tag: str
    digest: str
    version: str | None = None
    created: str | None = None
    this: bool = False  # names the digest reported on


@dataclass
class ReportFacts:
    """Everything one report shows, in sections (see SECTIONS). `to_json()` is its JSON form."""

    reference: str
    digest: str
    repository: str
    generated: str
    generator: str
    identity: dict[str, Any]
    description: str | None = None
    doc_url: str | None = None
    capabilities: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # the model's labels (stage, owner, ...), as recorded
    readme_path: str | None = None
    readme: str | None = None
    architecture: dict[str, Any] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)
    files_total: int = 0
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # flattened: dotted key -> value
    datasets: list[dict[str, Any]] = field(default_factory=list)  # name, reference, digest
    lineage: list[LineageStep] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    referrers: list[Referrer] = field(default_factory=list)
    key_checks: list[KeyCheck] = field(default_factory=list)
    provenance: list[dict[str, Any]] = field(default_factory=list)  # verified SLSA v1 provenance, summarised
    statements: list[Statement] = field(default_factory=list)  # other verified attestations' predicates
    tags: list[str] = field(default_factory=list)  # the tags naming this digest
    siblings: list[Sibling] = field(default_factory=list)
    monitoring: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)  # section -> what could not be read and why

    def note(self, section: str, text: str) -> None:
        self.notes.setdefault(section, []).append(text)

    @property
    def verified(self) -> bool:
        """At least one signature verified with a given key."""
        return any(check.signatures for check in self.key_checks)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
