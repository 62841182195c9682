"""`report --key`: the keys a reviewer names are checked as `verify` checks them, and both formats say why
a key verified nothing. Against the real registry, with a model signed by `modelpack sign`."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)


@pytest.fixture
def signed(registry: Registry, tmp_path: Path) -> tuple[str, Path, Path]:
    """A one-file model signed with one key; returns its reference, that key's and another key's .pub."""
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"w" * 3000)
    ref = registry.repo("reportkeys") + ":1.0"
    mp.push(model, ref, ["version=1.0"], options=PLAIN)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    private, public = mp.generate_key_pair(tmp_path / "a", b"pw")
    other = mp.generate_key_pair(tmp_path / "b", b"pw")[1]
    mp.sign(ref, private, b"pw", options=PLAIN)
    return ref, public, other


@pytest.mark.parametrize("bad", ["missing.pub", "not-a-key.pub"])
def test_a_key_that_cannot_be_read_is_refused_before_anything_is_written(
        signed: tuple[str, Path, Path], tmp_path: Path, bad: str) -> None:
    ref, public, _ = signed
    key = tmp_path / bad
    if bad == "not-a-key.pub":
        key.write_text("hello\n")
    out = tmp_path / "report.md"
    made = modelpack("report", "--plain-http", "--key", str(public), "--key", str(key), "-o", str(out), ref)
    # As `verify --key` and `ui --key`: a typo in a key path is the reviewer's input, not a "not verified".
    assert made.code == 2, (made.code, made.err)
    assert len(made.err.strip().splitlines()) == 1 and str(key) in made.err and "Traceback" not in made.err
    assert not out.exists()


def test_the_markdown_report_says_why_a_key_verified_nothing(signed: tuple[str, Path, Path]) -> None:
    ref, public, other = signed
    made = modelpack("report", "--plain-http", "--key", str(public), "--key", str(other), "--format", "md", ref)
    assert made.code == 0, made.err
    rows = [line for line in made.out.splitlines() if line.startswith("| cosign.pub (SHA256:")
            or line.startswith("| cosign.pub \\(SHA256:")]
    assert len(rows) == 2, made.out
    good, bad = rows
    assert "| 1 |" in good
    # The HTML shows the reason under the count; the Markdown lost it, so "0" read like a bad signature
    # and a reviewer could not tell a wrong key from no signature at all.
    assert "| 0 |" in bad and "does not verify with this key" in bad
    html = modelpack("report", "--plain-http", "--key", str(other), ref)
    assert "does not verify with this key" in html.out
