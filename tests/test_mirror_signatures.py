"""Signatures and signature policies read through a registries.conf mirror with the origin down: a real
Distribution pull-through cache (`proxy: remoteurl:`) in front of a Distribution origin that is stopped,
the model signed by the cosign binary in its legacy layout (tag `sha256-<hex>.sig`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import modelpack
from modelpack.signatures.lookup import fallback_tag
from modelpack.store.options import ClientOptions
from registry_process import Registry
from serve_models import iris_skops
from serving import call
from test_mirrors import layer_digests, mirrored, served, wait_cached, write_conf
from test_signature_policy import cosign_keys, cosign_sign, signed_by, write_policy

pytestmark = pytest.mark.interop


@pytest.fixture
def legacy_signed(fresh_registry: Callable[..., Registry], cosign_bin: Path, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> tuple[Registry, Registry, str, str, Path]:
    """(origin, its cache, tag reference, digest, public key): a model signed by cosign in the legacy layout,
    pulled once through the cache with the policy (which keeps the model and its `.sig` tag), origin up."""
    origin = fresh_registry()
    cache = fresh_registry(proxy=origin.url)
    write_conf(tmp_path, monkeypatch, mirrored(origin.host, cache.host))
    ref = f"{origin.host}/team/m:1"
    pushed = modelpack("push", "--plain-http", str(iris_skops(tmp_path / "model")[0]), ref)  # servable too
    assert pushed.code == 0, pushed.err
    digest = pushed.out.strip().split("@")[1]
    key, public = cosign_keys(cosign_bin, tmp_path, "a")
    cosign_sign(cosign_bin, key, f"{origin.host}/team/m@{digest}")
    policy = write_policy(tmp_path, {"default": signed_by(public)})
    warm = modelpack("pull", "--plain-http", "--signature-policy", str(policy), ref, "-o", str(tmp_path / "warm"),
                     env={"MODELPACK_HOME": str(tmp_path / "warm-home")})
    assert warm.code == 0, warm.err
    wait_cached(cache, layer_digests(ref))
    return origin, cache, ref, digest, public



def test_origin_down_a_legacy_signature_the_cache_holds_meets_policy_verify_key_and_report(
        legacy_signed: tuple[Registry, Registry, str, str, Path], tmp_path: Path,
        serving: Callable[..., str]) -> None:
    origin, cache, ref, digest, public = legacy_signed
    origin.stop()
    policy = write_policy(tmp_path, {"default": signed_by(public)})
    pulled = modelpack("pull", "-v", "--plain-http", "--signature-policy", str(policy), ref, "-o", str(tmp_path / "o1"),
                       env={"MODELPACK_HOME": str(tmp_path / "cold1")})
    assert pulled.code == 0, pulled.err
    assert served(pulled.err, "manifest sha256-")[0].endswith(f"served by {cache.host} (mirror)"), pulled.err

    # --verify-key: the cache has no referrers API and no fallback index (cosign wrote none), the origin cannot
    # be asked for one; the legacy signature the cache holds counts.
    out = tmp_path / "o2"
    pulled = modelpack("pull", "--plain-http", "--verify-key", str(public), ref, "-o", str(out),
                       env={"MODELPACK_HOME": str(tmp_path / "cold2")})
    assert pulled.code == 0, pulled.err
    assert f"@{digest}: 1 valid signature" in pulled.err and (out / "model.skops").is_file()
    # serve REF --verify-key reads as pull does: served from what the cache holds.
    base = serving(ref, verify_key=public, options=ClientOptions(plain_http=True))
    status, meta = call(f"{base}/v2/models/iris")
    assert status == 200 and meta["parameters"]["digest"] == digest

    # report: read through the mirror too; the signature listed and verified, the origin's silence noted.
    report = modelpack("report", "--plain-http", "--json", "--key", str(public), ref)
    assert report.code == 0, report.err
    facts = json.loads(report.out)
    [listed] = facts["referrers"]
    assert listed["kind"] == "signature" and listed["location"].startswith(f"{fallback_tag(digest)}.sig (")
    assert [check["signatures"] for check in facts["key_checks"]] == [1], facts["key_checks"]
    assert any(f"cannot connect to {origin.host}" in note for note in facts["notes"]["integrity"]), facts["notes"]


def test_verify_reads_through_the_mirrors(legacy_signed: tuple[Registry, Registry, str, str, Path],
                                          tmp_path: Path) -> None:
    origin, cache, ref, digest, public = legacy_signed
    # Origin up: the mirror is asked first, as `pull` asks it.
    checked = modelpack("verify", "-v", "--plain-http", "--key", str(public), ref)
    assert checked.code == 0, checked.err
    assert served(checked.err, f"manifest {fallback_tag(digest)}.sig")[0].endswith(f"served by {cache.host} (mirror)")
    # An attestation (a referrer, listed in the fallback index: Distribution has no referrers API), its check
    # read through the cache once, which keeps what it served.
    predicate = tmp_path / "predicate.json"
    predicate.write_text('{"passed": true}')
    attested = modelpack("attest", "--plain-http", "--key", str(public.with_suffix(".key")), "--predicate",
                         str(predicate), "--type", "custom", ref, env={"COSIGN_PASSWORD": "pw"})
    assert attested.code == 0, attested.err
    attestation = ("verify-attestation", "-v", "--plain-http", "--key", str(public), "--type", "custom", ref)
    warm = modelpack(*attestation)
    assert warm.code == 0, warm.err
    assert served(warm.err, f"manifest {fallback_tag(digest)} ")[0].endswith(f"served by {cache.host} (mirror)")

    origin.stop()
    checked = modelpack(*attestation)
    assert checked.code == 0, checked.err
    assert json.loads(checked.out)["Data"] == '{"passed": true}'  # cosign's "custom" predicate wraps it
    for version in (ref, ref.split(":1")[0] + f"@{digest}"):
        checked = modelpack("verify", "-v", "--plain-http", "--json", "--key", str(public), version)
        assert checked.code == 0, checked.err
        assert json.loads(checked.out)["digest"] == digest
        assert [s["kind"] for s in json.loads(checked.out)["signatures"]] == ["legacy"]
    # What the cache never held fails in one line naming the origin, as `pull` does (exit 5: not "unsigned").
    missing = ref.split(":1")[0] + ":never-pulled"
    refused = modelpack("verify", "--plain-http", "--key", str(public), missing)
    assert refused.code == 5 and len(refused.err.strip().splitlines()) == 1, refused.err
    assert f"cannot connect to {origin.host}" in refused.err and f"mirrors tried first: {cache.host}" in refused.err
