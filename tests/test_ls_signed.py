"""`ls REPO --key P ...`: a SIGNED column names the keys each version's signature verifies with (checked as
`verify` checks it; `-` for none), so a reviewer finding a model's versions sees which are signed, and by
whom, without a `verify` per tag (the web UI showed it; the CLI did not). Against the real registry, one
version signed by cosign itself."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import modelpack as mp
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_signing import COSIGN_FLAGS, cosign
from ui_support import push_version

PLAIN = ClientOptions(plain_http=True)


def hint(key: Path) -> str:
    """The key's fingerprint as sigstore writes it: base64 of the sha256 of its DER SubjectPublicKeyInfo."""
    from cryptography.hazmat.primitives import serialization

    public = serialization.load_pem_public_key(key.read_bytes())
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def test_ls_names_the_keys_each_version_verifies_with(registry: Registry, cosign_bin: Path, tmp_path: Path) -> None:
    repo = registry.repo("lssigned")
    digests = {v: push_version(tmp_path / v, f"{repo}:{v}", {"version": v}) for v in ("1.0", "1.1", "2.0")}
    mp.tag_remote(f"{repo}:1.1", "prod", options=PLAIN)
    for folder in ("team", "review"):
        (tmp_path / folder).mkdir()
    team_key, team = mp.generate_key_pair(tmp_path / "team", b"pw")
    review_key, review = mp.generate_key_pair(tmp_path / "review", b"pw")
    mp.sign(f"{repo}:1.0", team_key, b"pw", options=PLAIN)
    mp.sign(f"{repo}:1.1", team_key, b"pw", options=PLAIN)
    signed = cosign(cosign_bin, "sign", "--key", str(review_key), "--use-signing-config=false", "--tlog-upload=false",
                    "-y", *COSIGN_FLAGS, f"{repo}@{digests['1.1']}", password="pw")
    assert signed.returncode == 0, signed.stderr
    listed = modelpack("ls", "--plain-http", "--key", str(team), "--key", str(review), repo)
    assert listed.code == 0, listed.err
    header, *rows = listed.out.splitlines()
    assert "SIGNED" in header.split()
    cells = {row.split()[0]: row for row in rows}
    # Named as `report` names a key, by file name and fingerprint: the full paths made the table a page wide.
    team_label, review_label = (f"cosign.pub (SHA256:{hint(key)})" for key in (team, review))
    assert str(tmp_path) not in listed.out, listed.out
    assert f"  {team_label}, {review_label}  " in cells["1.1"] and f"  {team_label}, {review_label}  " in cells["prod"]
    assert f"  {team_label}  " in cells["1.0"] and review_label not in cells["1.0"]
    assert team_label not in cells["2.0"] and "  -  " in cells["2.0"]
    verbose = modelpack("ls", "--plain-http", "-v", "--key", str(team), repo)  # -v: the path as given
    assert f"  {team}  " in {row.split()[0]: row for row in verbose.out.splitlines()}["1.0"], verbose.out
    as_json = {v["tag"]: v for v in json.loads(modelpack("ls", "--plain-http", "--json", "--key", str(team),
                                                         repo).out)}
    assert as_json["1.0"]["signedBy"] == [str(team)] and as_json["2.0"]["signedBy"] == []
    plain = modelpack("ls", "--plain-http", repo)
    assert "SIGNED" not in plain.out and "signedBy" not in modelpack("ls", "--plain-http", "--json", repo).out
