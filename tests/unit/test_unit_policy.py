"""containers-policy.json parsing, scope precedence and signedIdentity, without a registry."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from modelpack.errors import VerificationError
from modelpack.oci.reference import Reference
from modelpack.signatures import policy
from modelpack.signatures.policy_check import simple_signing_claim
from modelpack.signatures.policy_identity import SignedIdentity, accepts, parse_claim, parse_identity

ACCEPT = [{"type": "insecureAcceptAnything"}]
REJECT = [{"type": "reject"}]
KEY = [{"type": "sigstoreSigned", "keyData": base64.b64encode(b"-----BEGIN PUBLIC KEY-----").decode()}]


def parsed(body: object) -> policy.Policy:
    return policy.parse(json.dumps(body).encode(), "p.json")


def scope_of(body: object, ref: str) -> str:
    return parsed(body).requirements_for(Reference.parse(ref))[0]


def test_most_specific_docker_scope_wins() -> None:
    scopes = {"": ACCEPT, "reg.example.com:5000": REJECT, "reg.example.com:5000/team": ACCEPT,
              "reg.example.com:5000/team/iris": REJECT, "reg.example.com:5000/team/iris:1.0": ACCEPT,
              "*.example.com": REJECT, "*.sub.example.com": ACCEPT}
    body = {"default": REJECT, "transports": {"docker": scopes, "atomic": {"": REJECT}}}
    assert scope_of(body, "reg.example.com:5000/team/iris:1.0") == "reg.example.com:5000/team/iris:1.0"
    assert scope_of(body, "reg.example.com:5000/team/iris:2.0") == "reg.example.com:5000/team/iris"
    assert scope_of(body, "reg.example.com:5000/team/iris-x:1") == "reg.example.com:5000/team"  # a `/` boundary
    assert scope_of(body, "reg.example.com:5000/other/x:1") == "reg.example.com:5000"
    assert scope_of(body, "reg.example.com/x:1") == "*.example.com"  # another port: the wildcard
    assert scope_of(body, "a.sub.example.com/x:1") == "*.sub.example.com"  # the longest wildcard
    assert scope_of(body, "example.com/x:1") == 'transports.docker ""'  # *.example.com: subdomains only
    assert scope_of({"default": REJECT}, "example.com/x:1") == "default"
    digest = "sha256:" + "a" * 64
    assert scope_of({"default": REJECT, "transports": {"docker": {f"h.io/r@{digest}": ACCEPT}}},
                    f"h.io/r@{digest}") == f"h.io/r@{digest}"


@pytest.mark.parametrize("body, fragment", [
    ({}, '"default" is missing'),
    ({"default": []}, "non-empty list"),
    ({"default": ACCEPT, "extra": 1}, "unknown field 'extra'"),
    ({"default": [{"type": "insecureAcceptAnything", "keyPath": "/k"}]}, "unknown field 'keyPath'"),
    ({"default": [{"type": "signedByX"}]}, "unknown type 'signedByX'"),
    ({"default": [{"type": "sigstoreSigned"}]}, "exactly one of keyPath"),
    ({"default": [{"type": "sigstoreSigned", "keyPath": "/a", "keyData": "QQ=="}]}, "exactly one of keyPath"),
    ({"default": [{"type": "sigstoreSigned", "keyPaths": []}]}, "non-empty list"),
    ({"default": [{"type": "sigstoreSigned", "keyData": "not base64!"}]}, "not base64"),
    ({"default": [{**KEY[0], "signedIdentity": {"type": "matchAnything"}}]}, "unknown type 'matchAnything'"),
    ({"default": [{**KEY[0], "signedIdentity": {"type": "exactReference"}}]}, "no field 'dockerReference'"),
    ({"default": [{**KEY[0], "signedIdentity": {"type": "exactReference", "dockerReference": "h.io/r"}}]},
     "names no tag or digest"),
    ({"default": [{**KEY[0], "signedIdentity": {"type": "matchExact", "x": 1}}]}, "unknown field 'x'"),
    ({"default": ACCEPT, "transports": {"docker": {"h.io": "reject"}}}, "non-empty list"),
])
def test_malformed_policies_are_refused_naming_the_file(body: object, fragment: str) -> None:
    with pytest.raises(policy.PolicyError) as err:
        parsed(body)
    assert "p.json" in str(err.value) and fragment in str(err.value)
    assert err.value.exit_code == 2


@pytest.mark.parametrize("data, fragment", [
    (b'{"default": [{"type": "reject"}], "default": []}', "'default' appears twice"),
    (b'{"default": [{"type": "reject"}]', "p.json is invalid"),
    (b'\xff\xfe', "p.json is invalid"),
    (b'[' * 100_000 + b']' * 100_000, "p.json is invalid"),
])
def test_not_json_duplicated_or_deep_files_are_refused(data: bytes, fragment: str) -> None:
    with pytest.raises(policy.PolicyError, match=fragment):
        policy.parse(data, "p.json")


def test_unsupported_requirements_parse_and_say_why() -> None:
    gpg = parsed({"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k.gpg"}]})
    assert "signedBy (GPG signatures), which modelpack does not support" in gpg.default[0].unsupported
    keyless = parsed({"default": [{"type": "sigstoreSigned", "fulcio": {"caPath": "/ca"}}]})
    assert "fulcio" in keyless.default[0].unsupported
    rekor = parsed({"default": [{**KEY[0], "rekorPublicKeyPath": "/r.pub"}]})
    assert "rekorPublicKeyPath" in rekor.default[0].unsupported


def test_policy_file_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(policy.ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(policy, "SYSTEM_POLICY", tmp_path / "etc-policy.json")
    assert policy.policy_file() is None and policy.load() is None  # nothing: no change
    (tmp_path / "etc-policy.json").write_text(json.dumps({"default": REJECT}))
    assert policy.policy_file() == tmp_path / "etc-policy.json"
    user = tmp_path / ".config" / "containers" / "policy.json"
    user.parent.mkdir(parents=True)
    user.write_text(json.dumps({"default": ACCEPT}))
    assert policy.policy_file() == user
    named = tmp_path / "named.json"
    monkeypatch.setenv(policy.ENV, str(named))
    with pytest.raises(policy.PolicyError, match="does not exist"):  # named explicitly: must exist
        policy.policy_file()
    with pytest.raises(policy.PolicyError, match="--signature-policy"):
        policy.policy_file(tmp_path / "other.json")


def claim(text: str) -> Reference:
    found = parse_claim(text)
    assert found is not None
    return found


def test_signed_identity_rules() -> None:
    digest = "sha256:" + "b" * 64
    tagged, pinned = Reference.parse("h.io/team/iris:1.0"), Reference.parse(f"h.io/team/iris@{digest}")
    default = SignedIdentity()
    assert accepts(default, pinned, claim("h.io/team/iris"))  # cosign's claim: the repository
    assert not accepts(default, tagged, claim("h.io/team/iris"))  # a tag must be signed as that tag
    assert accepts(default, tagged, claim("h.io/team/iris:1.0"))
    assert not accepts(default, pinned, claim("h.io/team/other"))
    both = Reference.parse(f"h.io/team/iris:1.0@{digest}")
    assert not accepts(default, both, claim("h.io/team/iris"))  # REPO:TAG@DIGEST is checked as the tag
    repo = parse_identity({"type": "matchRepository"}, "x")
    assert accepts(repo, tagged, claim("h.io/team/iris")) and not accepts(repo, tagged, claim("h.io/team/iri"))
    exact = parse_identity({"type": "matchExact"}, "x")
    assert accepts(exact, tagged, claim("h.io/team/iris:1.0")) and not accepts(exact, tagged, claim("h.io/team/iris"))
    fixed = parse_identity({"type": "exactReference", "dockerReference": "busybox:1"}, "x")
    assert accepts(fixed, tagged, claim("docker.io/library/busybox:1"))  # both expanded
    assert not accepts(fixed, tagged, claim("h.io/team/iris:1.0"))
    fixed_repo = parse_identity({"type": "exactRepository", "dockerRepository": "h.io/signed/iris"}, "x")
    assert accepts(fixed_repo, tagged, claim("h.io/signed/iris:9")) and not accepts(fixed_repo, tagged, claim("h.io/x"))
    remap = parse_identity({"type": "remapIdentity", "prefix": "mirror.local:5000/models",
                            "signedPrefix": "h.io/team"}, "x")
    mirrored = Reference.parse(f"mirror.local:5000/models/iris@{digest}")
    assert accepts(remap, mirrored, claim("h.io/team/iris"))
    assert not accepts(remap, mirrored, claim("mirror.local:5000/models/iris"))
    assert not accepts(remap, Reference.parse(f"mirror.local:5000/modelsx/iris@{digest}"), claim("h.io/team/iris"))
    assert parse_claim("Not A Reference") is None and parse_claim(7) is None


def test_simple_signing_payload_is_read_strictly() -> None:
    digest = "sha256:" + "c" * 64
    good = {"critical": {"identity": {"docker-reference": "h.io/r"}, "image": {"docker-manifest-digest": digest},
                         "type": "cosign container image signature"}, "optional": None}
    assert simple_signing_claim(json.dumps(good).encode()) == (digest, "h.io/r")
    extra = json.loads(json.dumps(good))
    extra["critical"]["identity"]["docker-reference-2"] = "h.io/other"
    attestation = json.loads(json.dumps(good))
    attestation["critical"]["type"] = "cosign container image attestation"
    for bad in (extra, attestation, {"critical": good["critical"], "more": 1}, [good]):
        with pytest.raises(VerificationError):
            simple_signing_claim(json.dumps(bad).encode())


def test_the_published_containers_image_vector() -> None:
    """containers/image's own cosign-signed fixture: its payload is read as that library reads it, and its
    claim is accepted for its repository by digest, refused for a tag or another repository."""
    import hashlib

    from modelpack.signatures import keys

    data = Path(__file__).resolve().parents[1] / "data" / "containers-image"
    manifest = (data / "dir-img-cosign-valid" / "manifest.json").read_bytes()
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    raw = (data / "dir-img-cosign-valid" / "signature-1").read_bytes()
    record = json.loads(raw[raw.index(b"{"):])
    payload = base64.b64decode(record["payload"])
    signature = base64.b64decode(record["annotations"]["dev.cosignproject.cosign/signature"])
    assert keys.verify_signature(keys.load_public_key(data / "cosign.pub"), signature, payload)
    signed_digest, claimed = simple_signing_claim(payload)
    assert signed_digest == digest and claimed == "192.168.64.2:5000/cosign-signed-single-sample"
    repo = "192.168.64.2:5000/cosign-signed-single-sample"
    assert accepts(SignedIdentity(), Reference.parse(f"{repo}@{digest}"), claim(claimed))
    assert not accepts(SignedIdentity(), Reference.parse(f"{repo}:latest"), claim(claimed))
    assert not accepts(SignedIdentity(), Reference.parse(f"192.168.64.2:5000/other@{digest}"), claim(claimed))
