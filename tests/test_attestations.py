"""Attestations, judged by cosign 3 in both directions; kept apart from signatures."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

import modelpack as mp
from helpers import Run, modelpack
from modelpack.signatures import predicates
from modelpack.signatures.lookup import fallback_tag
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_signing import COSIGN_FLAGS, assert_refused, cosign, keypair

PLAIN = ClientOptions(plain_http=True)
PROVENANCE = {"buildDefinition": {"buildType": "https://example.com/train/v1",
                                  "externalParameters": {"epochs": 3, "dataset": "iris"}},
              "runDetails": {"builder": {"id": "https://example.com/ci"}}}

pytestmark = pytest.mark.interop


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return keypair(tmp_path, "k")


def predicate_file(tmp_path: Path, body: object) -> Path:
    path = tmp_path / "predicate.json"
    path.write_text(json.dumps(body))
    return path


def attest(ref: str, key: Path, predicate: Path, type_name: str) -> Run:
    return modelpack("attest", "--plain-http", "--key", str(key), "--predicate", str(predicate), "--type", type_name,
                     ref, env={"COSIGN_PASSWORD": "pw"})


def test_modelpack_attests_and_cosign_verifies(cosign_bin: Path, pushed: tuple[str, str], keys: tuple[Path, Path],
                                               tmp_path: Path) -> None:
    tag_ref, digest_ref = pushed
    private, public = keys
    done = attest(tag_ref, private, predicate_file(tmp_path, PROVENANCE), "slsaprovenance1")
    assert done.code == 0, done.err
    assert "https://slsa.dev/provenance/v1" in done.out
    checked = cosign(cosign_bin, "verify-attestation", "--key", str(public), "--type", "slsaprovenance1",
                     "--insecure-ignore-tlog=true", *COSIGN_FLAGS, digest_ref)
    assert checked.returncode == 0, checked.stderr
    envelope = json.loads(checked.stdout.splitlines()[0])
    signed = json.loads(base64.b64decode(envelope["payload"]))
    assert signed["predicate"] == PROVENANCE
    assert signed["subject"][0]["digest"] == {"sha256": digest_ref.split("sha256:")[1]}
    # cosign looks for this type only: another type finds nothing.
    other = cosign(cosign_bin, "verify-attestation", "--key", str(public), "--type", "cyclonedx",
                   "--insecure-ignore-tlog=true", *COSIGN_FLAGS, digest_ref)
    assert other.returncode != 0
    # And modelpack prints the predicate it verified.
    ours = modelpack("verify-attestation", "--plain-http", "--key", str(public), "--type", "slsaprovenance1", tag_ref)
    assert ours.code == 0, ours.err
    assert json.loads(ours.out) == PROVENANCE


def test_cosign_attests_and_modelpack_verifies(cosign_bin: Path, pushed: tuple[str, str], tmp_path: Path) -> None:
    tag_ref, digest_ref = pushed
    (tmp_path / "c").mkdir()
    assert cosign(cosign_bin, "generate-key-pair", "--output-key-prefix", str(tmp_path / "c" / "cosign"),
                  password="cpw").returncode == 0
    private, public = tmp_path / "c" / "cosign.key", tmp_path / "c" / "cosign.pub"
    predicate = predicate_file(tmp_path, PROVENANCE)
    common = ["--key", str(private), "--predicate", str(predicate), "--use-signing-config=false",
              "--tlog-upload=false", "-y", *COSIGN_FLAGS]
    # cosign 3's bundle, as a referrer in the tag-schema fallback index.
    made = cosign(cosign_bin, "attest", *common, "--type", "slsaprovenance1", digest_ref, password="cpw")
    assert made.returncode == 0, made.stderr
    # cosign's older layout: the sha256-<hex>.att tag with DSSE envelope layers, a statement v0.1.
    made = cosign(cosign_bin, "attest", *common, "--new-bundle-format=false", "--type", "custom", digest_ref,
                  password="cpw")
    assert made.returncode == 0, made.stderr
    repo = mp.remote(mp.Reference.parse(tag_ref), PLAIN)
    assert fallback_tag(digest_ref.split("@")[1]) + ".att" in repo.tags()

    found = modelpack("verify-attestation", "--plain-http", "--json", "--key", str(public), "--type", "slsaprovenance1",
                      tag_ref)
    assert found.code == 0, found.err
    report = json.loads(found.out)
    assert [a["kind"] for a in report["attestations"]] == ["bundle"]
    statement = report["attestations"][0]["statement"]
    assert statement["_type"] == "https://in-toto.io/Statement/v0.1"
    assert statement["predicate"] == PROVENANCE

    custom = modelpack("verify-attestation", "--plain-http", "--json", "--key", str(public), tag_ref)  # --type custom
    assert custom.code == 0, custom.err
    legacy = json.loads(custom.out)["attestations"]
    assert [a["kind"] for a in legacy] == ["legacy"]
    assert json.loads(legacy[0]["statement"]["predicate"]["Data"]) == PROVENANCE
    # modelpack's `custom` predicate has cosign's shape too.
    assert predicates.predicate_body("custom", b"x")["Data"] == "x"


def test_wrong_key_and_wrong_type_are_refused(pushed: tuple[str, str], keys: tuple[Path, Path],
                                              tmp_path: Path) -> None:
    tag_ref, _ = pushed
    private, public = keys
    other = modelpack("generate-key-pair", "-d", str(tmp_path / "other"), env={"COSIGN_PASSWORD": "pw"})
    assert other.code == 0
    assert attest(tag_ref, private, predicate_file(tmp_path, PROVENANCE), "slsaprovenance1").code == 0
    assert_refused(modelpack("verify-attestation", "--plain-http", "--key", str(tmp_path / "other" / "cosign.pub"),
                             "--type", "slsaprovenance1", tag_ref), "does not verify with this key")
    assert_refused(modelpack("verify-attestation", "--plain-http", "--key", str(public), "--type", "cyclonedx",
                             tag_ref), "no valid https://cyclonedx.org/bom attestation",
                   # what is there instead, said as such (it read "...: an attestation of type '...v1'")
                   "found one of type 'https://slsa.dev/provenance/v1' instead")
    bad_type = modelpack("verify-attestation", "--plain-http", "--key", str(public), "--type", "nonsense", tag_ref)
    assert bad_type.code == 2 and "--type 'nonsense'" in bad_type.err and len(bad_type.err.splitlines()) == 1
    not_json = tmp_path / "p.txt"
    not_json.write_text("not json")
    refused = attest(tag_ref, private, not_json, "slsaprovenance1")
    assert refused.code == 2 and "must be JSON" in refused.err


@pytest.mark.parametrize(("type_name", "predicate", "said"), [
    ("nonsense", "json", "error: --type 'nonsense': use one of"),
    ("slsaprovenance1", "text", "error: the predicate for --type slsaprovenance1 must be JSON"),
    ("custom", None, "error: give --predicate FILE (or --provenance to sign the recorded SLSA provenance)"),
])
def test_a_mistake_in_the_arguments_is_said_before_the_password_is_asked(
        pushed: tuple[str, str], keys: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        type_name: str, predicate: str | None, said: str) -> None:
    # The password came first: typed at the prompt, then the type, the predicate or its absence refused.
    # Without a terminal or COSIGN_PASSWORD, the password's refusal hid the mistake the user had to fix.
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    tag_ref, _ = pushed
    path = predicate_file(tmp_path, PROVENANCE)
    if predicate == "text":
        path.write_text("not json")
    given = ["--predicate", str(path)] if predicate else []
    run = modelpack("attest", "--plain-http", "--key", str(keys[0]), "--type", type_name, *given, tag_ref, stdin="")
    assert run.code == 2 and run.err.startswith(said) and len(run.err.splitlines()) == 1, run.err


def test_attestations_and_signatures_are_kept_apart(cosign_bin: Path, pushed: tuple[str, str],
                                                   keys: tuple[Path, Path], tmp_path: Path) -> None:
    tag_ref, digest_ref = pushed
    private, public = keys
    assert attest(tag_ref, private, predicate_file(tmp_path, PROVENANCE), "slsaprovenance1").code == 0
    # An attestation alone is not a signature for modelpack.
    assert_refused(modelpack("verify", "--plain-http", "--key", str(public), tag_ref), "not signatures")
    # cosign 3's `verify` accepts any bundle (its own attestations too) and names the predicate type as
    # critical.type: ours reads there as what it is, an SLSA provenance.
    lenient = cosign(cosign_bin, "verify", "--key", str(public), "--insecure-ignore-tlog=true", *COSIGN_FLAGS,
                     digest_ref)
    assert json.loads(lenient.stdout)[0]["critical"]["type"] == "https://slsa.dev/provenance/v1"
    # A signature is not an attestation either, whatever type is asked for.
    assert modelpack("sign", "--plain-http", "--key", str(private), tag_ref, env={"COSIGN_PASSWORD": "pw"}).code == 0
    assert_refused(modelpack("verify-attestation", "--plain-http", "--key", str(public), "--type",
                             "https://sigstore.dev/cosign/sign/v1", tag_ref), "no valid")
    signatures = json.loads(modelpack("verify", "--plain-http", "--json", "--key", str(public), tag_ref).out)
    assert len(signatures["signatures"]) == 1
    attested = json.loads(modelpack("verify-attestation", "--plain-http", "--json", "--key", str(public), "--type",
                                    "slsaprovenance1", tag_ref).out)
    assert len(attested["attestations"]) == 1
    refused = attest(tag_ref, private, predicate_file(tmp_path, {}), "https://sigstore.dev/cosign/sign/v1")
    assert refused.code == 2 and "modelpack sign" in refused.err


def test_short_names_map_as_cosign_maps_them() -> None:
    assert predicates.predicate_type("slsaprovenance") == "https://slsa.dev/provenance/v0.2"
    assert predicates.predicate_type("slsaprovenance1") == "https://slsa.dev/provenance/v1"
    assert predicates.predicate_type("spdxjson") == "https://spdx.dev/Document"
    assert predicates.predicate_type("cyclonedx") == "https://cyclonedx.org/bom"
    assert predicates.predicate_type("vuln") == "https://cosign.sigstore.dev/attestation/vuln/v1"
    assert predicates.predicate_type("openvex") == "https://openvex.dev/ns"
    assert predicates.predicate_type("custom") == "https://cosign.sigstore.dev/attestation/v1"
    assert predicates.predicate_type("https://example.com/eval/v1") == "https://example.com/eval/v1"


def test_an_attestation_made_offline_travels_with_copy(cosign_bin: Path, registry: Registry, keys: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    private, public = keys
    model = tmp_path / "model"
    model.mkdir()
    (model / "w.safetensors").write_bytes(b"weights" * 100)
    layout = f"oci:{tmp_path / 'layout'}:1"
    assert modelpack("push", str(model), layout).code == 0
    assert attest(layout, private, predicate_file(tmp_path, PROVENANCE), "slsaprovenance1").code == 0
    assert modelpack("verify-attestation", "--key", str(public), "--type", "slsaprovenance1", layout).code == 0
    target = registry.repo() + ":1"
    digest = mp.copy_model(layout, target, options=PLAIN).descriptor.digest
    checked = cosign(cosign_bin, "verify-attestation", "--key", str(public), "--type", "slsaprovenance1",
                     "--insecure-ignore-tlog=true", *COSIGN_FLAGS, target.rsplit(":", 1)[0] + "@" + digest)
    assert checked.returncode == 0, checked.stderr
