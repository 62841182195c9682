"""Notary Project signatures (`notation sign`) beside modelpack's, on a registry without the referrers API (Debian's
Distribution 2.8), where both tools list their signatures in the one `sha256-<hex>` fallback index: neither's
write drops the other's entry, `notation verify` and `modelpack verify` both pass, and modelpack names the
notation signature for what it is and never counts it as its own (verify, report, ui, ls, a signature policy)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

import modelpack as mp
from fault_proxy import FaultProxy
from helpers import modelpack
from modelpack.store.options import ClientOptions
from notation_support import Notation
from registry_process import Registry
from test_signing import assert_refused, keypair
from ui_support import Pages

PASSWORD = {"COSIGN_PASSWORD": "pw"}
NOTE = "a Notary Project signature: check it with notation verify"
NOT_COUNTED = "Notary Project signature is attached, which is not a cosign or modelpack signature"

pytestmark = pytest.mark.interop


def fallback_listing(repo: str, digest: str) -> dict[str, str | None]:
    """What the `sha256-<hex>` fallback index lists: digest -> artifactType (read with modelpack's API)."""
    from modelpack.oci.descriptor import Index, parse_manifest

    remote = mp.remote(mp.Reference.parse(f"{repo}:x"), ClientOptions(plain_http=True))
    node = parse_manifest(remote.fetch_manifest(digest.replace(":", "-"))[1])
    assert isinstance(node, Index)
    return {m.digest: m.artifact_type for m in node.manifests}


def _signed_model(pushed: tuple[str, str], notation: Notation, tmp_path: Path, order: str,
                  envelope: str = "jws") -> tuple[str, str, Path]:
    """The model of `pushed` signed by notation and by `modelpack sign` in `order`: (repository, digest, key)."""
    tag_ref, digest_ref = pushed
    repo, digest = digest_ref.split("@")
    key, public = keypair(tmp_path, "k")
    for signer in order.split("-then-"):
        if signer == "notation":
            notation.sign(digest_ref, envelope)
        else:
            signed = modelpack("sign", "--plain-http", "--key", str(key), tag_ref, env=PASSWORD)
            assert signed.code == 0, signed.err
    return repo, digest, public


@pytest.mark.parametrize(("order", "envelope"), [("notation-then-modelpack", "jws"),
                                                 ("modelpack-then-notation", "cose")])
def test_both_signatures_survive_either_order_and_both_verify(pushed: tuple[str, str], notation: Notation,
                                                              tmp_path: Path, order: str, envelope: str) -> None:
    repo, digest, public = _signed_model(pushed, notation, tmp_path, order, envelope)
    listed = fallback_listing(repo, digest)
    types = sorted(t or "" for t in listed.values())
    assert types == ["application/vnd.cncf.notary.signature", "application/vnd.dev.sigstore.bundle.v0.3+json",
                     "application/vnd.modelpack.model-signing.v1+json"], listed
    checked = notation.verify(f"{repo}@{digest}")
    assert checked.returncode == 0, checked.stderr
    notary = notation.signatures(f"{repo}@{digest}")
    assert len(notary) == 1 and listed[notary[0]] == "application/vnd.cncf.notary.signature"
    verified = modelpack("verify", "--plain-http", "--key", str(public), pushed[0])
    assert verified.code == 0, verified.err
    assert "1 valid signature" in verified.out  # the notation one is not counted
    assert verified.err == f"note: a {NOT_COUNTED} and is not counted as one: check it with notation verify\n"
    as_json = json.loads(modelpack("verify", "--plain-http", "--json", "--key", str(public), pushed[0]).out)
    assert len(as_json["signatures"]) == 1 and as_json["notarySignatures"] == notary


def test_a_notation_signature_alone_is_named_and_never_counted(registry: Registry, pushed: tuple[str, str],
                                                               notation: Notation, ui: Callable[..., str],
                                                               tmp_path: Path) -> None:
    tag_ref, digest_ref = pushed
    notation.sign(digest_ref)
    [signature] = notation.signatures(digest_ref)
    _, public = keypair(tmp_path, "k")
    refused = modelpack("verify", "--plain-http", "--key", str(public), tag_ref)
    assert_refused(refused, "no signatures found", NOT_COUNTED, "check it with notation verify")
    # The report names it (each format), and it is not a signature any key verified.
    facts = json.loads(modelpack("report", "--plain-http", "--json", "--key", str(public), tag_ref).out)
    [attached] = facts["referrers"]
    assert attached["kind"] == "notary-signature" and attached["location"] == signature
    assert attached["note"] == NOTE and attached["verified_by"] == []
    assert [k["signatures"] for k in facts["key_checks"]] == [0]
    markdown = modelpack("report", "--plain-http", "--format", "md", tag_ref)
    assert markdown.code == 0, markdown.err
    assert f"| notary-signature | application/vnd.cncf.notary.signature | {signature} |" in markdown.out
    assert NOTE in markdown.out
    html = modelpack("report", "--plain-http", "--format", "html", tag_ref)
    assert html.code == 0 and NOTE in html.out, html.err
    page = Pages(ui([registry.host], [str(public)])).get(f"/v/{digest_ref}")
    assert NOTE in page and signature in page
    # ls --key: not signed by the key (the SIGNED column counts what `verify` counts).
    listed = modelpack("ls", "--plain-http", "--key", str(public), tag_ref.rsplit(":", 1)[0])
    assert listed.code == 0, listed.err
    assert "  -  " in listed.out.splitlines()[1]


def test_a_signature_policy_is_not_met_by_a_notation_signature(pushed: tuple[str, str], notation: Notation,
                                                              tmp_path: Path) -> None:
    tag_ref, digest_ref = pushed
    notation.sign(digest_ref)
    _, public = keypair(tmp_path, "k")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "sigstoreSigned", "keyPath": str(public),
                                               "signedIdentity": {"type": "matchRepository"}}]}))
    out = tmp_path / "out"
    refused = modelpack("pull", "--plain-http", "--signature-policy", str(policy), tag_ref, "-o", str(out))
    assert_refused(refused, "is refused by signature policy", NOT_COUNTED, "nothing was pulled")
    assert not out.exists()


def test_on_a_registry_with_the_referrers_api(registry: Registry, notation: Notation, tmp_path: Path) -> None:
    """notation storing through the referrers API (no fallback tag), as on a registry that has it (FaultProxy answers
    it in front of the real registry): modelpack finds it there too, and copy carries it to one without the API."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(os.urandom(3000))
    with FaultProxy(registry.host, referrers_api=True) as proxy:
        repo = f"{proxy.host}/notation/api"
        digest = mp.push(model, f"{repo}:v1", options=ClientOptions(plain_http=True)).descriptor.digest
        signed = notation.run("sign", "--insecure-registry", "--force-referrers-tag=false", f"{repo}@{digest}")
        assert signed.returncode == 0, signed.stderr
        key, public = keypair(tmp_path, "k")
        done = modelpack("sign", "--plain-http", "--key", str(key), f"{repo}:v1", env=PASSWORD)
        assert done.code == 0, done.err
        assert not proxy.requests("PUT", f"/manifests/{digest.replace(':', '-')}")  # no fallback index written
        assert notation.verify(f"{repo}@{digest}").returncode == 0
        verified = modelpack("verify", "--plain-http", "--json", "--key", str(public), f"{repo}:v1")
        assert verified.code == 0, verified.err
        assert len(json.loads(verified.out)["notarySignatures"]) == 1
        target = registry.repo("notation-api-copy")
        copied = modelpack("copy", "--plain-http", f"{repo}:v1", f"{target}:v1")
        assert copied.code == 0, copied.err
    checked = notation.verify(f"{target}@{digest}")
    assert checked.returncode == 0, checked.stderr
    assert modelpack("verify", "--plain-http", "--key", str(public), f"{target}:v1").code == 0
