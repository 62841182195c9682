"""What a signer stated with a signature (`sign -a reviewer=bob -a approved=true`) is in the report, per key
that verified it, and when each signature was attached: Annex IV 2(g) asks for test reports dated and
signed by the responsible persons. The claims are inside the signed statement; a claim a signer wrote as
markup is shown as text. Real registry, keys from `generate-key-pair`."""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import modelpack
from test_signing import keypair


def test_signed_claims_and_attach_times_are_reported(pushed: tuple[str, str], tmp_path: Path) -> None:
    ref, _ = pushed
    private, public = keypair(tmp_path, "k")
    signed = modelpack("sign", "--plain-http", "--key", str(private), "-a", "reviewer=bob", "-a",
                       "verdict=<b>approved</b>", ref, env={"COSIGN_PASSWORD": "pw"})
    assert signed.code == 0, signed.err

    facts = json.loads(modelpack("report", "--plain-http", "--json", "--key", str(public), ref).out)
    [check] = facts["key_checks"]
    assert check["claims"] == [{"reviewer": "bob", "verdict": "<b>approved</b>"}]
    [signature] = [r for r in facts["referrers"] if r["kind"] == "signature"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", signature["attached"])

    md = modelpack("report", "--plain-http", "--format", "md", "--key", str(public), ref).out
    assert "reviewer=bob" in md and "&lt;b&gt;approved&lt;/b&gt;" in md
    assert signature["attached"] in md
    page = modelpack("report", "--plain-http", "--format", "html", "--key", str(public), ref).out
    assert "signed with: reviewer=bob" in page and "<b>approved" not in page and "&lt;b&gt;approved" in page

    # A key that verified nothing states nothing: no claims under it.
    _, other = keypair(tmp_path, "other")
    [unverified] = json.loads(modelpack("report", "--plain-http", "--json", "--key", str(other), ref).out)["key_checks"]
    assert unverified["claims"] == []
