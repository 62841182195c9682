"""Signing and verification, judged by cosign 3 in both directions, plus tamper cases."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
from pathlib import Path

import pytest

import modelpack as mp
from helpers import Run, modelpack, push_legacy_signature
from modelpack.errors import VerificationError
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Manifest
from modelpack.signatures import keys
from modelpack.signatures.lookup import fallback_tag
from modelpack.signatures.referrers import SIMPLE_SIGNING, verify_simple_signing
from modelpack.store.options import ClientOptions
from registry_process import Registry

PLAIN = ClientOptions(plain_http=True)
COSIGN_FLAGS = ["--allow-http-registry", "--allow-insecure-registry"]
DATA = Path(__file__).parent / "data" / "containers-image"

pytestmark = pytest.mark.interop


def cosign(cosign_bin: Path, *args: str, password: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(cosign_bin), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COSIGN_PASSWORD": password})


def keypair(tmp_path: Path, name: str, password: str = "pw") -> tuple[Path, Path]:
    folder = tmp_path / name
    result = modelpack("generate-key-pair", "-d", str(folder), env={"COSIGN_PASSWORD": password})
    assert result.code == 0, result.err
    return folder / "cosign.key", folder / "cosign.pub"


def assert_refused(result: Run, *fragments: str) -> None:
    assert result.code == 7, result.err
    assert result.err.startswith("error: ") and len(result.err.strip().splitlines()) == 1
    for fragment in fragments:
        assert fragment in result.err


def test_cosign_signs_and_modelpack_verifies(cosign_bin: Path, pushed: tuple[str, str], tmp_path: Path) -> None:
    tag_ref, digest_ref = pushed
    (tmp_path / "c").mkdir()
    assert cosign(cosign_bin, "generate-key-pair", "--output-key-prefix", str(tmp_path / "c" / "cosign"),
                  password="cpw").returncode == 0
    signed = cosign(cosign_bin, "sign", "--key", str(tmp_path / "c" / "cosign.key"), "--use-signing-config=false",
                    "--tlog-upload=false", "-y", *COSIGN_FLAGS, "-a", "stage=prod", digest_ref, password="cpw")
    assert signed.returncode == 0, signed.stderr
    ok = modelpack("verify", "--plain-http", "--json", "--key", str(tmp_path / "c" / "cosign.pub"), tag_ref)
    assert ok.code == 0, ok.err
    info = json.loads(ok.out)
    assert info["digest"] == digest_ref.split("@")[1]
    assert info["signatures"][0]["annotations"] == {"stage": "prod"}
    assert modelpack("verify", "--plain-http", "-a", "stage=prod", "--key", str(tmp_path / "c" / "cosign.pub"),
                     tag_ref).code == 0
    # The one reason that matters, with what the signer did state (it said "required annotations" among
    # reasons about other referrers, so a reviewer could not tell a wrong key from an unapproved model).
    assert_refused(modelpack("verify", "--plain-http", "-a", "stage=dev", "--key",
                             str(tmp_path / "c" / "cosign.pub"), tag_ref),
                   "1 signature verifies with this key, but none carries stage=dev (signed with: stage=prod)")
    # modelpack signs with the key cosign generated (its encrypted format) too.
    assert modelpack("sign", "--plain-http", "--key", str(tmp_path / "c" / "cosign.key"), tag_ref,
                     env={"COSIGN_PASSWORD": "cpw"}).code == 0


def test_modelpack_signs_and_cosign_verifies(cosign_bin: Path, pushed: tuple[str, str], tmp_path: Path) -> None:
    tag_ref, digest_ref = pushed
    private, public = keypair(tmp_path, "k")
    signed = modelpack("sign", "--plain-http", "--key", str(private), "-a", "team=ml", tag_ref,
                       env={"COSIGN_PASSWORD": "pw"})
    assert signed.code == 0, signed.err
    checked = cosign(cosign_bin, "verify", "--key", str(public), "--insecure-ignore-tlog=true", *COSIGN_FLAGS,
                     "-a", "team=ml", digest_ref)
    assert checked.returncode == 0, checked.stderr
    claims = json.loads(checked.stdout)
    assert claims[0]["critical"]["image"]["docker-manifest-digest"] == digest_ref.split("@")[1]
    # cosign reads our encrypted private key as well.
    again = cosign(cosign_bin, "sign", "--key", str(private), "--use-signing-config=false", "--tlog-upload=false",
                   "-y", *COSIGN_FLAGS, digest_ref, password="pw")
    assert again.returncode == 0, again.stderr
    assert json.loads(modelpack("verify", "--plain-http", "--json", "--key", str(public), tag_ref).out)[
        "signatures"].__len__() == 2


def test_tampering_is_refused(pushed: tuple[str, str], registry: Registry, tmp_path: Path) -> None:
    tag_ref, digest_ref = pushed
    private, public = keypair(tmp_path, "k")
    _, other_public = keypair(tmp_path, "other")
    # Unsigned.
    assert_refused(modelpack("verify", "--plain-http", "--key", str(public), tag_ref), "no signatures found")
    assert modelpack("sign", "--plain-http", "--key", str(private), tag_ref, env={"COSIGN_PASSWORD": "pw"}).code == 0
    # Wrong key.
    assert_refused(modelpack("verify", "--plain-http", "--key", str(other_public), tag_ref), "does not verify")
    # Wrong password.
    bad = modelpack("sign", "--plain-http", "--key", str(private), tag_ref, env={"COSIGN_PASSWORD": "nope"})
    assert bad.code == 2 and "wrong password" in bad.err
    # Re-tagged: the tag now names other content, which nobody signed.
    model = tmp_path / "evil"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"backdoor")
    mp.push(model, tag_ref, options=PLAIN)
    assert_refused(modelpack("verify", "--plain-http", "--key", str(public), tag_ref), "no signatures found")
    assert modelpack("verify", "--plain-http", "--key", str(public), digest_ref).code == 0
    # A valid signature copied onto other content: it signs another digest.
    repo = mp.remote(mp.Reference.parse(tag_ref), PLAIN)
    new_digest = repo.resolve("v1").digest
    sig_index = repo.fetch_manifest(fallback_tag(digest_ref.split("@")[1]))[1]
    repo.put_manifest(Descriptor(mediaType="application/vnd.oci.image.index.v1+json",
                                 digest=digests.of_bytes(sig_index), size=len(sig_index)),
                      sig_index, fallback_tag(new_digest))
    assert_refused(modelpack("verify", "--plain-http", "--key", str(public), tag_ref), "signs another digest")


def test_edited_payload_is_refused(pushed: tuple[str, str], tmp_path: Path) -> None:
    tag_ref, digest_ref = pushed
    private, public = keypair(tmp_path, "k")
    assert modelpack("sign", "--plain-http", "--key", str(private), tag_ref, env={"COSIGN_PASSWORD": "pw"}).code == 0
    repo = mp.remote(mp.Reference.parse(tag_ref), PLAIN)
    subject = digest_ref.split("@")[1]
    index_bytes = repo.fetch_manifest(fallback_tag(subject))[1]
    entry = json.loads(index_bytes)["manifests"][0]
    manifest = Manifest.from_json(json.loads(repo.fetch_manifest(entry["digest"])[1]))
    layer = manifest.layers[0]
    with repo.open_blob(layer) as stream:
        bundle = json.loads(stream.read(layer.size))
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["subject"][0]["annotations"] = {"approved": "yes"}  # an edit the signer never made
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    edited = json.dumps(bundle).encode()
    edited_layer = layer.replace(digest=digests.of_bytes(edited), size=len(edited))
    repo.push_blob(edited_layer, lambda: io.BytesIO(edited))
    forged = manifest.replace(layers=[edited_layer]).canonical_bytes()
    forged_desc = Descriptor(mediaType=manifest.media_type, digest=digests.of_bytes(forged), size=len(forged),
                             artifactType=manifest.artifact_type)
    repo.put_manifest(forged_desc, forged)
    index = json.loads(index_bytes)
    index["manifests"] = [forged_desc.to_json()]
    data = json.dumps(index).encode()
    repo.put_manifest(Descriptor(mediaType=index["mediaType"], digest=digests.of_bytes(data), size=len(data)),
                      data, fallback_tag(subject))
    assert_refused(modelpack("verify", "--plain-http", "--key", str(public), tag_ref), "does not verify")


def test_pull_with_verify_key_writes_nothing_when_refused(pushed: tuple[str, str], tmp_path: Path,
                                                          modelpack_home: Path) -> None:
    tag_ref, _ = pushed
    private, public = keypair(tmp_path, "k")
    _, other_public = keypair(tmp_path, "other")
    out = tmp_path / "out"
    refused = modelpack("pull", "--plain-http", "--verify-key", str(public), tag_ref, "-o", str(out))
    assert_refused(refused, "no signatures found")
    assert not out.exists()
    assert json.loads(modelpack("list", "--json").out) == []
    assert [p for p in modelpack_home.rglob("*") if p.is_file() and "blobs" in p.parts] == []
    assert modelpack("sign", "--plain-http", "--key", str(private), tag_ref, env={"COSIGN_PASSWORD": "pw"}).code == 0
    assert_refused(modelpack("pull", "--plain-http", "--verify-key", str(other_public), tag_ref, "-o", str(out)),
                   "does not verify")
    assert not out.exists()
    accepted = modelpack("pull", "--plain-http", "--verify-key", str(public), tag_ref, "-o", str(out))
    assert accepted.code == 0, accepted.err
    assert "verified " in accepted.err and ": 1 valid signature" in accepted.err
    assert (out / "model.safetensors").stat().st_size == 10_000


def test_legacy_layout_verifies_against_the_published_vector() -> None:
    public = keys.load_public_key(DATA / "cosign.pub")
    manifest = (DATA / "dir-img-cosign-valid" / "manifest.json").read_bytes()
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    raw = (DATA / "dir-img-cosign-valid" / "signature-1").read_bytes()
    record = json.loads(raw[raw.index(b"{"):])  # containers/image prefixes "\0sigstore-json"
    assert record["mimeType"] == SIMPLE_SIGNING
    payload = base64.b64decode(record["payload"])
    signature = record["annotations"]["dev.cosignproject.cosign/signature"]
    assert verify_simple_signing(payload, signature, public, digest) == {}
    with pytest.raises(VerificationError, match="another digest"):
        verify_simple_signing(payload, signature, public, "sha256:" + "0" * 64)
    with pytest.raises(VerificationError, match="does not verify"):
        verify_simple_signing(payload.replace(b"cosign", b"cosigN"), signature, public, digest)


def test_legacy_layout_is_found_in_a_registry(pushed: tuple[str, str], tmp_path: Path) -> None:
    """cosign's older `sha256-<hex>.sig` tag, built here the way cosign 2 wrote it."""
    tag_ref, digest_ref = pushed
    subject = digest_ref.split("@")[1]
    public_path = tmp_path / "legacy.pub"
    push_legacy_signature(tag_ref, subject, public_path, optional={"from": "cosign2"})
    result = json.loads(modelpack("verify", "--plain-http", "--json", "--key", str(public_path), tag_ref).out)
    assert result["signatures"] == [{"kind": "legacy", "location": fallback_tag(subject) + ".sig",
                                     "annotations": {"from": "cosign2"}}]


def test_registry_with_the_referrers_api_needs_no_fallback_tag(
    registry: Registry, cosign_bin: Path, tmp_path: Path
) -> None:
    from fault_proxy import FaultProxy

    private, public = keypair(tmp_path, "k")
    with FaultProxy(registry.host, referrers_api=True) as proxy:
        model = tmp_path / "model"
        model.mkdir()
        (model / "w.safetensors").write_bytes(os.urandom(1000))
        ref = proxy.host + "/" + registry.repo().split("/", 1)[1] + ":1"
        digest = mp.push(model, ref, options=PLAIN).descriptor.digest
        assert modelpack("sign", "--plain-http", "--key", str(private), ref, env={"COSIGN_PASSWORD": "pw"}).code == 0
        repo = mp.remote(mp.Reference.parse(ref), PLAIN)
        assert fallback_tag(digest) not in repo.tags()  # the registry indexes referrers itself
        proxy.clear()
        assert modelpack("verify", "--plain-http", "--key", str(public), ref).code == 0
        assert proxy.requests("GET", f"/referrers/{digest}")
        # cosign, asked to use the referrers API, finds our signature through it too.
        checked = cosign(cosign_bin, "verify", "--key", str(public), "--insecure-ignore-tlog=true", *COSIGN_FLAGS,
                         ref.rsplit(":", 1)[0] + "@" + digest)
        assert checked.returncode == 0, checked.stderr


def model_signing_tool() -> str:
    """The OpenSSF `model_signing` CLI (the test extra installs it beside this Python)."""
    import shutil
    import sys

    from conftest import missing

    tool = Path(sys.executable).parent / "model_signing"
    tool_path = str(tool) if tool.exists() else shutil.which("model_signing")
    if tool_path is None:
        missing("model_signing not installed (pip install model-signing)")
    assert tool_path is not None
    return tool_path


def test_pulled_directory_verifies_offline_with_openssf_model_signing(pushed: tuple[str, str],
                                                                      tmp_path: Path) -> None:
    tool_path = model_signing_tool()
    tag_ref, _ = pushed
    private, public = keypair(tmp_path, "k")
    assert modelpack("sign", "--plain-http", "--key", str(private), tag_ref, env={"COSIGN_PASSWORD": "pw"}).code == 0
    out = tmp_path / "out"
    assert modelpack("pull", "--plain-http", "--verify-key", str(public), tag_ref, "-o", str(out)).code == 0
    assert (out / "model.sig").is_file()
    assert not (out / "modelpack.yaml").exists()  # a file model.sig does not cover would fail the check

    def model_signing_verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run([tool_path, "verify", "key", "--signature", str(out / "model.sig"), "--public_key",
                               str(public), str(out)], capture_output=True, text=True, timeout=120)

    checked = model_signing_verify()
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (out / "model.safetensors").write_bytes(b"tampered")
    assert model_signing_verify().returncode != 0
    # --force puts the model back: the tampered file is replaced and so is a stale model.sig.
    (out / "model.sig").write_text("stale")
    assert modelpack("pull", "--plain-http", tag_ref, "-o", str(out), "--force").code == 0
    checked = model_signing_verify()
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("through_store", ["--keep", "--link"])
def test_a_directory_pulled_through_the_store_verifies_offline_too(pushed: tuple[str, str], tmp_path: Path,
                                                                  through_store: str) -> None:
    # `pull -o --keep/--link` wrote modelpack.yaml beside model.sig, and `model_signing verify` refused the
    # directory ("Extra files found in model"); a plain `pull -o` did not.
    tag_ref, _ = pushed
    private, public = keypair(tmp_path, "k")
    assert modelpack("sign", "--plain-http", "--key", str(private), tag_ref, env={"COSIGN_PASSWORD": "pw"}).code == 0
    out = tmp_path / "out"
    pulled = modelpack("pull", "--plain-http", tag_ref, "-o", str(out), through_store)
    assert pulled.code == 0, pulled.err
    assert sorted(path.name for path in out.iterdir()) == ["model.safetensors", "model.sig"]
    checked = subprocess.run([model_signing_tool(), "verify", "key", "--signature", str(out / "model.sig"),
                              "--public_key", str(public), str(out)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Unsigned, the same pull restores the metadata as before.
    unsigned = tmp_path / "unsigned"
    mp.push(unsigned_model(tmp_path), tag_ref + "-unsigned", options=ClientOptions(plain_http=True))
    assert modelpack("pull", "--plain-http", tag_ref + "-unsigned", "-o", str(unsigned), through_store).code == 0
    assert (unsigned / "modelpack.yaml").is_file() and not (unsigned / "model.sig").exists()


def unsigned_model(tmp_path: Path) -> Path:
    model = tmp_path / "unsigned-model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(os.urandom(1000))
    return model
