"""Carrying cosign's `.att` tag (legacy attestations) into a destination that has one already: both
signers' attestations stay, judged by `cosign verify-attestation` per predicate type, whether `copy` or
`push` from the local store carries it; a hostile destination `.att` (not attestations, too many, too
large, malformed) is neither rewritten nor trusted: one warning line, the model still arrives."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fault_proxy import Fault, FaultProxy
from helpers import modelpack
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Manifest, json_bytes
from modelpack.signatures.lookup import fallback_tag
from modelpack.signatures.signature_tags import DSSE_ENVELOPE
from registry_process import Registry
from test_copy_signatures import SIGNED, _push_sig, copy, remote, sig_manifest
from test_push_signatures import attest, attestation_verifies
from test_signature_policy import cosign_keys, push_model

pytestmark = pytest.mark.interop

REVIEW = "https://example.com/review/v1"  # the destination's own predicate type


def _attested_source(registry: Registry, cosign_bin: Path, tmp_path: Path) -> tuple[str, str]:
    """(repository, digest): a model attested by the cosign binary, its public key at tmp_path/c.pub."""
    src = registry.repo()
    digest = push_model(src + ":v1", tmp_path, "m")
    key_c, _ = cosign_keys(cosign_bin, tmp_path, "c")
    attest(cosign_bin, key_c, f"{src}@{digest}", tmp_path)
    return src, digest


@pytest.mark.parametrize("via", ["copy", "push"])
def test_our_attestation_joins_the_destinations_and_cosign_verifies_each(
        registry: Registry, fresh_registry: Callable[..., Registry], cosign_bin: Path, tmp_path: Path,
        via: str) -> None:
    src, digest = _attested_source(registry, cosign_bin, tmp_path)  # ours: cosign's "custom" type
    pub_c = tmp_path / "c.pub"
    dst = fresh_registry().repo("att")
    if via == "push":
        copy("--to-local", src + ":v1", dst + ":v1")
    copy("--no-referrers", src + ":v1", dst + ":v1")
    key_d, pub_d = cosign_keys(cosign_bin, tmp_path, "d")
    attest(cosign_bin, key_d, f"{dst}@{digest}", tmp_path, '{"approved": true}', REVIEW)  # theirs
    [theirs] = sig_manifest(dst, digest, ".att")[1].layers
    assert not attestation_verifies(cosign_bin, pub_c, f"{dst}@{digest}")  # ours is not there yet
    done = modelpack("copy", "--plain-http", src + ":v1", dst + ":v1") if via == "copy" \
        else modelpack("push", "--plain-http", dst + ":v1")
    assert done.code == 0, done.err
    assert "carried 1 cosign signature tag (.att)" in done.err, done.err
    [ours] = sig_manifest(src, digest, ".att")[1].layers
    merged = sig_manifest(dst, digest, ".att")[1].layers
    assert merged == [theirs, ours]  # the destination's first, nothing dropped
    assert attestation_verifies(cosign_bin, pub_c, f"{dst}@{digest}")
    assert attestation_verifies(cosign_bin, pub_d, f"{dst}@{digest}", REVIEW)
    assert not attestation_verifies(cosign_bin, pub_c, f"{dst}@{digest}", REVIEW)  # each signer its own type
    assert _modelpack_verifies(pub_c, dst)
    again = modelpack("copy", "--plain-http", "--json", src + ":v1", dst + ":v1")  # nothing more to add
    assert again.code == 0, again.err
    assert json.loads(again.out)["signatureTags"]["present"] == [fallback_tag(digest) + ".att"]
    assert sig_manifest(dst, digest, ".att")[1].layers == merged


def _push_repeated_att(repo: str, digest: str, count: int) -> str:
    """A `.att` of `count` layers naming one small DSSE blob (a real registry takes it); its digest."""
    store = remote(repo)
    body = b'{"payloadType": "application/vnd.in-toto+json", "payload": "", "signatures": []}'
    layer = Descriptor(mediaType=DSSE_ENVELOPE, digest=digests.of_bytes(body), size=len(body))
    store.push_blob(layer, lambda: io.BytesIO(body))
    config = json_bytes({})
    config_desc = Descriptor(mediaType=mt.OCI_EMPTY, digest=digests.of_bytes(config), size=len(config))
    store.push_blob(config_desc, lambda: io.BytesIO(config))
    data = Manifest(config=config_desc, layers=[layer] * count).canonical_bytes()
    desc = Descriptor(mediaType=mt.OCI_MANIFEST, digest=digests.of_bytes(data), size=len(data))
    store.push_manifest(desc, data, fallback_tag(digest) + ".att")
    return desc.digest


def _one_att_warning(err: str, digest: str) -> str:
    said = [line for line in err.splitlines() if line.startswith("warning")]
    assert len(said) == 1 and f"{fallback_tag(digest)}.att not copied" in said[0], err
    return said[0]


@pytest.mark.parametrize("shape", ["10000-layers", "100-attestations"])
def test_a_full_destination_att_is_kept_as_it_is_with_one_warning(
        registry: Registry, fresh_registry: Callable[..., Registry], cosign_bin: Path, tmp_path: Path,
        shape: str) -> None:
    src, digest = _attested_source(registry, cosign_bin, tmp_path)
    dst = fresh_registry().repo("hostile")
    copy("--no-referrers", src + ":v1", dst + ":v1")
    before = _push_repeated_att(dst, digest, 10_000 if shape == "10000-layers" else 100)
    done = modelpack("copy", "--plain-http", "--json", src + ":v1", dst + ":v1")
    assert done.code == 0, done.err
    said = _one_att_warning(done.err, digest)
    assert {"10000-layers": "holds 10000 layers", "100-attestations": "at most 100"}[shape] in said, said
    assert json.loads(done.out)["signatureTags"]["left"] == [fallback_tag(digest) + ".att"]
    assert sig_manifest(dst, digest, ".att")[0] == before  # not rewritten


@pytest.mark.parametrize("shape", ["other-media-types", "ours-under-another-media-type"])
def test_layers_that_are_no_attestations_neither_stop_nor_stand_in_for_ours(
        registry: Registry, fresh_registry: Callable[..., Registry], cosign_bin: Path, tmp_path: Path,
        shape: str) -> None:
    """What the destination holds is kept (as cosign keeps other layers when it attests), but only a layer
    of the attestation media type counts as ours being there."""
    src, digest = _attested_source(registry, cosign_bin, tmp_path)
    [ours] = sig_manifest(src, digest, ".att")[1].layers
    dst = fresh_registry().repo("disguised")
    copy("--no-referrers", src + ":v1", dst + ":v1")
    if shape == "other-media-types":
        junk = ("application/x-sh", b"echo pwned", SIGNED)
    else:  # our envelope's bytes and annotations, under a media type cosign does not read as an attestation
        junk = ("application/octet-stream", remote(src).open_blob(ours).read(), dict(ours.annotations or {}))
    _push_sig(dst, digest, [junk], suffix=".att")
    [theirs] = sig_manifest(dst, digest, ".att")[1].layers
    # (cosign reads an .att layer whatever its media type: the disguised one already passes its check.)
    assert attestation_verifies(cosign_bin, tmp_path / "c.pub", f"{dst}@{digest}") == (shape != "other-media-types")
    assert _modelpack_verifies(tmp_path / "c.pub", dst) is False
    done = modelpack("copy", "--plain-http", "--json", src + ":v1", dst + ":v1")
    assert done.code == 0, done.err
    assert json.loads(done.out)["signatureTags"]["copied"] == [fallback_tag(digest) + ".att"]
    assert sig_manifest(dst, digest, ".att")[1].layers == [theirs, ours]
    assert attestation_verifies(cosign_bin, tmp_path / "c.pub", f"{dst}@{digest}")
    assert _modelpack_verifies(tmp_path / "c.pub", dst) is True


def _modelpack_verifies(public: Path, repo: str) -> bool:
    done = modelpack("verify-attestation", "--plain-http", "--key", str(public), "--type", "custom", repo + ":v1")
    assert done.code in (0, 7), done.err
    return done.code == 0


@pytest.mark.parametrize("shape", ["malformed", "an index", "over the manifest cap"])
def test_a_destination_att_a_registry_garbles_is_not_trusted(
        registry: Registry, fresh_registry: Callable[..., Registry], cosign_bin: Path, tmp_path: Path,
        shape: str) -> None:
    src, digest = _attested_source(registry, cosign_bin, tmp_path)
    body = {"malformed": b'{"schemaVersion": 2, "layers": [{"mediaType": 1}',
            "an index": json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}).encode(),
            "over the manifest cap": b'{"x": "' + b"A" * (5 * 1024 * 1024) + b'"}'}[shape]
    with FaultProxy(fresh_registry().host) as proxy:
        dst = f"{proxy.host}/t/garbled"
        proxy.faults.append(Fault(r"^(GET|HEAD) .*/manifests/sha256-[0-9a-f]{64}\.att$", times=1000, status=200,
                                  body=body, headers={"Content-Type": mt.OCI_MANIFEST,
                                                      "Docker-Content-Digest": digests.of_bytes(body)}))
        done = modelpack("copy", "--plain-http", src + ":v1", dst + ":v1")
        assert done.code == 0, done.err
        _one_att_warning(done.err, digest)
        assert not proxy.requests("PUT", ".att")  # nothing written over it
        assert remote(dst).resolve("v1").digest == digest  # the model arrived
