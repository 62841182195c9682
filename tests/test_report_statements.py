"""The report shows the predicate of each verified attestation that is neither provenance (summarised) nor an
SBOM: an evaluation's results signed by the team are what Annex IV 2(g) asks for ("test reports dated and
signed"), and the report only counted them ("1 × https://example.com/eval/v1"), so a reviewer had to run
verify-attestation per type to read them. Escaped, cut when long, and never shown for a key that does not
verify it. Against the real registry, attested with `modelpack attest`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

import modelpack as mp
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry
from ui_support import push_version

PLAIN = ClientOptions(plain_http=True)
EVAL = "https://example.com/eval/v1"
BIG = "https://example.com/log/v1"
RESULTS = {"accuracy": 0.9333, "note": "<script>alert(1)</script> ``` \u202e", "date": "2026-12-01"}


@pytest.fixture
def attested(registry: Registry, tmp_path: Path) -> tuple[str, Path, Path]:
    ref = registry.repo("statements") + ":1.0"
    push_version(tmp_path / "m", ref, {"version": "1.0"})
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    private, public = mp.generate_key_pair(tmp_path / "a", b"pw")
    other = mp.generate_key_pair(tmp_path / "b", b"pw")[1]
    mp.attest(ref, private, b"pw", json.dumps(RESULTS).encode(), EVAL, options=PLAIN)
    mp.attest(ref, private, b"pw", json.dumps({"lines": ["x" * 100] * 200}).encode(), BIG, options=PLAIN)
    mp.attest(ref, private, b"pw", json.dumps({"bomFormat": "CycloneDX"}).encode(), "cyclonedx", options=PLAIN)
    return ref, public, other


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_verified_statements_are_shown_escaped_and_cut(attested: tuple[str, Path, Path], fmt: str) -> None:
    ref, public, _ = attested
    made = modelpack("report", "--plain-http", "--key", str(public), "--format", fmt, ref)
    assert made.code == 0, made.err
    assert f"Verified statement: {EVAL}, signed by cosign.pub" in made.out.replace("\\", "")
    assert "0.9333" in made.out and "2026-12-01" in made.out
    assert "\u202e" not in made.out and "\\u202e" in made.out
    # As a reader sees it (Markdown in a CommonMark renderer, raw HTML allowed): no tag of the signer's making.
    shown_page = MarkdownIt("commonmark").render(made.out) if fmt == "md" else made.out
    assert "<script>" not in shown_page and "&lt;script&gt;" in shown_page
    assert made.out.count("only the beginning is shown") == 1  # the 20,000-character log
    assert "CycloneDX" not in made.out  # an SBOM is a document of its own
    from modelpack.report.integrity import MAX_STATEMENT

    facts = mp.build_report(ref, [public], options=PLAIN)
    shown = {s.predicate_type: s for s in facts.statements}
    assert sorted(shown) == sorted([BIG, EVAL])
    assert json.loads(shown[EVAL].text) == RESULTS and not shown[EVAL].cut
    assert shown[BIG].cut and len(shown[BIG].text) == MAX_STATEMENT


def test_a_key_that_verifies_nothing_shows_no_statement(attested: tuple[str, Path, Path]) -> None:
    ref, _, other = attested
    made = modelpack("report", "--plain-http", "--key", str(other), "--format", "md", ref)
    assert made.code == 0, made.err
    assert "Verified statement" not in made.out and "0.9333" not in made.out
