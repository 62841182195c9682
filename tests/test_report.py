"""`modelpack report`: the technical documentation of a model version, read from a real registry, for a
two-generation model signed with a cosign key by cosign itself; escaped; rendered by headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

import modelpack as mp
from conftest import missing
from helpers import modelpack
from modelpack.report.facts import SECTIONS
from modelpack.signatures.keys import key_hint, load_public_key
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_signing import COSIGN_FLAGS, cosign, keypair

PLAIN = ClientOptions(plain_http=True)
HOSTILE = '<script>alert("x")</script>'

pytestmark = pytest.mark.interop


@dataclass
class Family:
    parent: str  # tag reference
    parent_digest: str
    child: str
    child_digest: str
    dataset_digest: str
    public: Path


def write_model(folder: Path, weights: bytes, metadata: dict[str, object], readme: str) -> Path:
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(weights)
    (folder / "README.md").write_text(readme)
    (folder / "modelpack.yaml").write_text(json.dumps(metadata))  # JSON is YAML
    return folder


@pytest.fixture
def family(registry: Registry, cosign_bin: Path, tmp_path: Path) -> Family:
    """A dataset artifact, a parent model, and a child naming both (pinned at push) with a hostile
    description, tagged twice and signed by cosign."""
    repo = registry.repo("report")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "train.csv").write_text("a,b\n1,2\n")
    dataset = registry.repo("data") + ":v1"
    dataset_digest = mp.push(data_dir, dataset, options=PLAIN).descriptor.digest
    parent = write_model(tmp_path / "parent", b"p" * 5000, {
        "name": "iris", "version": "1.0", "authors": ["Ada"], "licenses": ["Apache-2.0"], "framework": "sklearn",
        "metrics": {"accuracy": 0.9}, "hyperparameters": {"epochs": 3}}, "# Iris\n\nThe first one.\n")
    parent_ref = repo + ":1.0"
    parent_digest = mp.push(parent, parent_ref, options=PLAIN).descriptor.digest
    child = write_model(tmp_path / "child", b"c" * 6000, {
        "name": "iris", "version": "1.1", "description": f"Classifies irises {HOSTILE}", "authors": ["Ada"],
        "licenses": ["Apache-2.0"], "architecture": "random-forest", "paramSize": "1.2k", "precision": "float32",
        "metrics": {"accuracy": 0.95, "f1": 0.93}, "hyperparameters": {"epochs": 5, "optimizer": {"lr": 0.01}},
        "datasets": [dataset, "https://example.com/iris.csv"], "parent": parent_ref,
        "labels": {"stage": HOSTILE}}, "# Iris 1.1\n\nUse for ``` flowers ``` only. <b>bold?</b>\n")
    (child / "extra.json").write_text("{}")
    child_ref = repo + ":1.1"
    child_digest = mp.push(child, child_ref, options=PLAIN).descriptor.digest
    mp.tag_remote(child_ref, "prod", options=PLAIN)
    (tmp_path / "c").mkdir()
    assert cosign(cosign_bin, "generate-key-pair", "--output-key-prefix", str(tmp_path / "c" / "cosign"),
                  password="cpw").returncode == 0
    signed = cosign(cosign_bin, "sign", "--key", str(tmp_path / "c" / "cosign.key"), "--use-signing-config=false",
                    "--tlog-upload=false", "-y", *COSIGN_FLAGS, f"{repo}@{child_digest}", password="cpw")
    assert signed.returncode == 0, signed.stderr
    return Family(parent_ref, parent_digest, child_ref, child_digest, dataset_digest, tmp_path / "c" / "cosign.pub")


def test_the_report_of_a_two_generation_model_has_every_section(family: Family, tmp_path: Path) -> None:
    other_public = keypair(tmp_path, "other")[1]
    out = tmp_path / "report.html"
    made = modelpack("report", "--plain-http", "--key", str(family.public), "--key", str(other_public),
                     "-o", str(out), family.child)
    assert made.code == 0, made.err
    assert "signature verified" in made.err
    page = out.read_text()
    for key, title, annex in SECTIONS:
        assert f'<h2 id="{key}">{title.replace(",", ",")}</h2>' in page
        assert "Annex IV" in annex
    # Identity, lineage: both digests; the parent's as an ancestor, with what changed.
    assert family.child_digest in page and family.parent_digest in page
    assert "Ancestor 1" in page and "model.safetensors</td><td class=\"nowrap\">changed" in page
    assert "extra.json</td><td class=\"nowrap\">added" in page and "metrics.accuracy" in page
    # Data pinned by digest, hyperparameters flattened, the README layer, metrics.
    assert family.dataset_digest in page and "https://example.com/iris.csv" in page
    assert "optimizer.lr" in page and "# Iris 1.1" in page and "0.93" in page
    # Integrity: cosign's signature verified with its key, not with the other.
    ours, other = (f"cosign.pub (SHA256:{key_hint(load_public_key(k))})" for k in (family.public, other_public))
    assert f'<td>{ours}</td><td><span class="ok">1 verified</span>' in page
    assert f'<td>{other}</td><td><span class="bad">none</span>' in page
    assert f'<span class="ok">{ours}</span>' in page and str(tmp_path) not in page  # no local paths
    # Lifecycle: both tags of this digest, the parent as a sibling version.
    assert "1.1, prod" in page and ">1.0</td>" in page
    assert "6 changes through the lifecycle" in page.split('id="lineage"')[1].split("</h2>")[1][:300]
    assert re.search(r"Size of the files</th><td>\d+ bytes \(\d\.\d KiB\)</td>", page), page
    # Monitoring: the digest label to correlate with.
    assert f'modelpack_requests_total{{digest="{family.child_digest}"}}' in page
    # Escaped, never live: the hostile description, and the README's HTML.
    assert "<script>" not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "<b>bold?</b>" not in page and "&lt;b&gt;bold?&lt;/b&gt;" in page
    assert "http://" not in page.replace("http://www.w3.org", "") and "<script" not in page


def test_the_markdown_report_escapes_and_keeps_the_readme_fenced(family: Family) -> None:
    made = modelpack("report", "--plain-http", "--key", str(family.public), "--format", "md", family.child)
    assert made.code == 0, made.err
    text = made.out
    for _, title, _ in SECTIONS:
        assert f"\n## {title}\n" in text
    assert family.parent_digest in text and "Signature: **verified**" in text
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "````text\n# Iris 1.1" in text  # a fence longer than the README's own ```
    # Said in words a reviewer reads: Annex IV point 6 (it read "; 6 changes", as if six had been made), and
    # the size with its unit (it was a bare number of bytes).
    assert ("\n*Annex IV 2(a) pre-trained systems used and how they were modified, 6 changes through the "
            "lifecycle*\n") in text and "; 6 changes" not in text
    assert "| Authors | Ada |" in text and "the provider" not in text
    size = mp.build_report(family.child, [], options=PLAIN).identity["size"]
    assert 6000 < size < 7000 and f"| Size of the files | {size} bytes \\({size / 1024:.1f} KiB\\) |" in text


def test_the_report_api_gives_facts_a_web_ui_can_serve(family: Family) -> None:
    facts = mp.build_report(family.child, [family.public], options=PLAIN)
    assert facts.digest == family.child_digest and facts.verified
    assert [step.digest for step in facts.lineage] == [family.child_digest, family.parent_digest]
    assert facts.lineage[0].changes is not None and facts.lineage[1].changes is None
    assert json.loads(json.dumps(facts.to_json()))["identity"]["version"] == "1.1"
    assert sorted(r.kind for r in facts.referrers) == ["signature"]
    assert "<!DOCTYPE html>" in mp.render_report(facts, "html")
    with pytest.raises(mp.ModelpackError):
        mp.render_report(facts, "pdf")


def test_an_unsigned_model_reports_nothing_verified(family: Family) -> None:
    made = modelpack("report", "--plain-http", "--key", str(family.public), "--format", "md", family.parent)
    assert made.code == 0, made.err
    assert "Signature: **not verified**" in made.out and "No signatures or attestations attached." in made.out
    assert "No parent recorded" in made.out
    missing_model = modelpack("report", "--plain-http", family.parent.rsplit(":", 1)[0] + ":nope")
    assert missing_model.code == 3 and len(missing_model.err.strip().splitlines()) == 1


def test_a_model_naming_no_provider_says_so(registry: Registry, tmp_path: Path) -> None:
    # Annex IV 1(a) asks for the provider: a row left out (as it was) reads as forgotten, not as unrecorded.
    # The provider is the organisation placing the model on the market (the vendor), not the authors (they
    # were labelled "Authors (the provider)").
    ref = registry.repo("anon") + ":1"
    mp.push(write_model(tmp_path / "anon", b"a" * 100, {"name": "anon", "authors": ["Ada"]}, "# Anon\n"), ref,
            options=PLAIN)
    md_text = modelpack("report", "--plain-http", "--format", "md", ref)
    assert md_text.code == 0, md_text.err
    assert "| Authors | Ada |" in md_text.out
    assert "| Provider \\(vendor\\) | not recorded \\(vendor in modelpack.yaml: the organisation" in md_text.out
    html_text = modelpack("report", "--plain-http", ref).out
    assert "<th>Authors</th><td>Ada</td>" in html_text
    assert "<th>Provider (vendor)</th><td>not recorded (vendor in modelpack.yaml: the organisation" in html_text
    named = registry.repo("named") + ":1"
    mp.push(write_model(tmp_path / "named", b"n" * 100, {"name": "named", "vendor": "Acme GmbH"}, "# N\n"), named,
            options=PLAIN)
    assert "| Provider \\(vendor\\) | Acme GmbH |" in modelpack("report", "--plain-http", "--format", "md", named).out


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_headless_chromium_renders_the_report(family: Family, tmp_path: Path) -> None:
    browser = chromium()
    if browser is None:
        missing("chromium is not installed (make deps installs it: apt-get install chromium)")  # fails in CI
    page = tmp_path / "report.html"
    assert modelpack("report", "--plain-http", "--key", str(family.public), "-o", str(page), family.child).code == 0
    png = tmp_path / "report.png"
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
                           "--window-size=1200,3000", page.as_uri()],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The report measured ~380 KB; a blank 1200x3000 page ~17 KB, one line of text ~18 KB.
    assert png.stat().st_size > 60_000
    # And prints: the @media print rules lay it out on A4 pages.
    pdf = tmp_path / "report.pdf"
    printed = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                              f"--user-data-dir={tmp_path / 'profile'}", f"--print-to-pdf={pdf}", page.as_uri()],
                             capture_output=True, text=True, timeout=180)
    assert printed.returncode == 0, printed.stderr[-2000:]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 2
