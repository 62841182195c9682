"""`modelpack copy` carries cosign's tag-based signatures (`sha256-<hex>.sig`, `.att`) between registries,
OCI layouts and the local store, merging with the destination's signers; judged by the real cosign
binary and by `pull --signature-policy`, compared with `cosign copy`; hostile `.sig` tags are left
behind with a warning; and `sign --signature-format both` never leaves one format without the other."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

import modelpack as mp
from fault_proxy import Fault, FaultProxy
from helpers import modelpack
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Index, Manifest, json_bytes, parse_manifest
from modelpack.signatures.lookup import fallback_tag
from modelpack.signatures.simple_signing import COSIGN_SIGNATURE_ANNOTATION, SIMPLE_SIGNING
from modelpack.store.options import ClientOptions
from modelpack.store.target import Storage
from registry_process import Registry
from test_signature_policy import cosign_keys, cosign_sign, pull, push_model, signed_by, write_policy
from test_signing import COSIGN_FLAGS, cosign, keypair

PLAIN = ClientOptions(plain_http=True)
PW = {"COSIGN_PASSWORD": "pw"}

pytestmark = pytest.mark.interop


def remote(repo: str) -> mp.RemoteRepository:
    return mp.remote(mp.Reference.parse(repo + ":x"), PLAIN)


def tags(repo: str) -> list[str]:
    return sorted(remote(repo).tags())


def sig_manifest(repo: str, digest: str, suffix: str = ".sig") -> tuple[str, Manifest]:
    desc, data = remote(repo).fetch_manifest(fallback_tag(digest) + suffix)
    node = parse_manifest(data)
    assert isinstance(node, Manifest)
    return desc.digest, node


def cosign_verifies(cosign_bin: Path, public: Path, ref: str) -> bool:
    done = cosign(cosign_bin, "verify", "--key", str(public), "--insecure-ignore-tlog=true", *COSIGN_FLAGS,
                  "--new-bundle-format=false", ref)
    return done.returncode == 0


def copy(*args: str) -> tuple[int, str]:
    done = modelpack("copy", "--plain-http", *args)
    assert done.code == 0, done.err
    return done.code, done.err


def sign(key: Path, ref: str, form: str = "both") -> None:
    done = modelpack("sign", "--plain-http", "--key", str(key), "--signature-format", form, ref, env=PW)
    assert done.code == 0, done.err


def test_copy_to_another_registry_carries_sig_and_att_and_cosign_verifies_it(
        registry: Registry, fresh_registry: Callable[..., Registry], cosign_bin: Path, tmp_path: Path) -> None:
    src = registry.repo()
    digest = push_model(src + ":v1", tmp_path, "m")
    key_a, pub_a = keypair(tmp_path, "a")
    sign(key_a, src + ":v1")  # bundle and .sig
    key_c, pub_c = cosign_keys(cosign_bin, tmp_path, "c")
    cosign_sign(cosign_bin, key_c, f"{src}@{digest}")  # appended to the same .sig
    (tmp_path / "pred.json").write_text('{"stage": "prod"}')
    attested = cosign(cosign_bin, "attest", "--key", str(key_c), "--predicate", str(tmp_path / "pred.json"),
                      "--type", "custom", "--use-signing-config=false", "--tlog-upload=false",
                      "--new-bundle-format=false", "-y", *COSIGN_FLAGS, f"{src}@{digest}", password="pw")
    assert attested.returncode == 0, attested.stderr
    dst = fresh_registry().repo("mirror")
    assert not cosign_verifies(cosign_bin, pub_a, f"{dst}@{digest}")
    _, said = copy(src + ":v1", dst + ":v1")
    assert "carried 2 cosign signature tags (.att, .sig)" in said, said
    sig_tag = fallback_tag(digest) + ".sig"
    assert {sig_tag, fallback_tag(digest) + ".att"} <= set(tags(dst))
    # Copied again: --json says they were there already, nothing carried.
    again = modelpack("copy", "--plain-http", "--json", src + ":v1", dst + ":v1")
    assert again.code == 0, again.err
    assert json.loads(again.out)["signatureTags"] == {"copied": [], "present": [sig_tag, fallback_tag(digest) + ".att"],
                                                      "left": []}
    # The .sig (two signers) and .att arrive as they were: same manifest digests.
    for suffix in (".sig", ".att"):
        assert sig_manifest(dst, digest, suffix)[0] == sig_manifest(src, digest, suffix)[0]
    for public in (pub_a, pub_c):
        assert cosign_verifies(cosign_bin, public, f"{dst}@{digest}")
    verified = cosign(cosign_bin, "verify-attestation", "--key", str(pub_c), "--type", "custom",
                      "--insecure-ignore-tlog=true", "--new-bundle-format=false", *COSIGN_FLAGS, f"{dst}@{digest}")
    assert verified.returncode == 0, verified.stderr
    # The identity caveat: the payloads name the source, so the default matchRepoDigestOrExact refuses the
    # copy (correctly: it was not signed under this name) ...
    default = write_policy(tmp_path, {"default": signed_by(pub_a, None)})
    code, err = pull(dst + ":v1", default, tmp_path / "o1")
    assert code == 7 and f"signed as '{src}:v1'" in err
    # ... and remapIdentity, mapping the copy's name to the signed one, accepts it.
    remap = write_policy(tmp_path, {"default": [{"type": "sigstoreSigned", "keyPath": str(pub_a), "signedIdentity": {
        "type": "remapIdentity", "prefix": dst, "signedPrefix": src}}]}, "remap.json")
    assert pull(dst + ":v1", remap, tmp_path / "o2")[0] == 0
    assert (tmp_path / "o2" / "model.safetensors").is_file()
    # --no-referrers leaves every signature behind.
    bare = fresh_registry().repo("bare")
    copy("--no-referrers", src + ":v1", bare + ":v1")
    assert tags(bare) == ["v1"]


@pytest.mark.parametrize("via", ["oci", "local"])
def test_an_air_gap_round_trip_through_a_layout_or_the_store_keeps_the_sig(
        registry: Registry, fresh_registry: Callable[..., Registry], cosign_bin: Path, tmp_path: Path,
        via: str) -> None:
    src = registry.repo()
    digest = push_model(src + ":v1", tmp_path, "m")
    key_c, pub_c = cosign_keys(cosign_bin, tmp_path, "c")
    cosign_sign(cosign_bin, key_c, f"{src}@{digest}")
    dst = fresh_registry().repo("airgap")
    sig_tag = fallback_tag(digest) + ".sig"
    if via == "oci":
        layout = tmp_path / "layout"
        copy(src + ":v1", f"oci:{layout}:v1")
        index = json.loads((layout / "index.json").read_text())
        assert sig_tag in [m.get("annotations", {}).get(mt.A_REF_NAME) for m in index["manifests"]]
        copy(f"oci:{layout}:v1", dst + ":v1")
    else:
        copy("--to-local", src + ":v1", src + ":v1")
        copy("--from-local", src + ":v1", dst + ":v1")
    assert sig_manifest(dst, digest)[0] == sig_manifest(src, digest)[0]
    assert cosign_verifies(cosign_bin, pub_c, f"{dst}@{digest}")


def test_a_destination_sig_with_other_signers_is_merged_not_overwritten(
        registry: Registry, fresh_registry: Callable[..., Registry], cosign_bin: Path, tmp_path: Path) -> None:
    src = registry.repo()
    digest = push_model(src + ":v1", tmp_path, "m")
    key_a, pub_a = keypair(tmp_path, "a")
    sign(key_a, f"{src}@{digest}", "simple-signing")
    dst = fresh_registry().repo("merge")
    copy("--no-referrers", src + ":v1", dst + ":v1")
    key_b, pub_b = cosign_keys(cosign_bin, tmp_path, "b")
    cosign_sign(cosign_bin, key_b, f"{dst}@{digest}")  # the destination's own signer
    [theirs] = sig_manifest(dst, digest)[1].layers
    [ours] = sig_manifest(src, digest)[1].layers
    copy(src + ":v1", dst + ":v1")
    first, merged = sig_manifest(dst, digest)
    assert merged.layers == [theirs, ours]  # the destination's signer kept, first
    for public in (pub_a, pub_b):
        assert cosign_verifies(cosign_bin, public, f"{dst}@{digest}")
    copy(src + ":v1", dst + ":v1")  # again: nothing to add, nothing rewritten
    assert sig_manifest(dst, digest)[0] == first


def _cosign_copy(cosign_bin: Path, src: str, dst: str) -> None:
    done = cosign(cosign_bin, "copy", "-f", *COSIGN_FLAGS, src, dst)
    assert done.returncode == 0, done.stderr


def test_cosign_copy_and_modelpack_copy_agree(registry: Registry, fresh_registry: Callable[..., Registry],
                                              cosign_bin: Path, tmp_path: Path) -> None:
    src = registry.repo()
    digest = push_model(src + ":v1", tmp_path, "m")
    key_a, _ = keypair(tmp_path, "a")
    sign(key_a, src + ":v1", "simple-signing")
    key_c, _ = cosign_keys(cosign_bin, tmp_path, "c")
    cosign_sign(cosign_bin, key_c, f"{src}@{digest}")
    target = fresh_registry()
    by_cosign, by_us = target.repo("cosign"), target.repo("modelpack")
    _cosign_copy(cosign_bin, src + ":v1", by_cosign + ":v1")
    copy(src + ":v1", by_us + ":v1")
    ours = tags(by_us)
    assert ours == sorted(["v1", fallback_tag(digest) + ".sig"])
    for tag in ours:  # the model and its .sig (both signers) are byte for byte what cosign copied
        assert remote(by_us).resolve(tag).digest == remote(by_cosign).resolve(tag).digest
    # cosign copy also tags the model itself as sha256-<hex>, the tag the OCI referrers fallback reserves
    # for an index of referrers; modelpack writes no such tag.
    assert tags(by_cosign) == sorted([*ours, fallback_tag(digest)])
    assert remote(by_cosign).resolve(fallback_tag(digest)).digest == digest


def _push_sig(repo: str | Storage, digest: str, layers: list[tuple[str, bytes, dict[str, str]]], *,
              index: bool = False, urls: bool = False, suffix: str = ".sig") -> None:
    """A `.sig` (or `suffix`) tag in `repo` as a hostile registry could serve it (pushed to a real registry,
    or written into a storage such as the local store's)."""
    store = remote(repo) if isinstance(repo, str) else repo
    descs = []
    for media_type, data, notes in layers:
        desc = Descriptor(mediaType=media_type, digest=digests.of_bytes(data), size=len(data),
                          annotations=notes, urls=["https://elsewhere.example/x"] if urls else None)
        store.push_blob(desc, lambda data=data: io.BytesIO(data))
        descs.append(desc)
    config = json_bytes({})
    config_desc = Descriptor(mediaType=mt.OCI_EMPTY, digest=digests.of_bytes(config), size=len(config))
    store.push_blob(config_desc, lambda: io.BytesIO(config))
    body = Manifest(config=config_desc, layers=descs).canonical_bytes()
    desc = Descriptor(mediaType=mt.OCI_MANIFEST, digest=digests.of_bytes(body), size=len(body))
    if index:
        store.push_manifest(desc, body)
        body = Index(manifests=[desc]).canonical_bytes()
        desc = Descriptor(mediaType=mt.OCI_INDEX, digest=digests.of_bytes(body), size=len(body))
    store.push_manifest(desc, body, fallback_tag(digest) + suffix)


SIGNED = {COSIGN_SIGNATURE_ANNOTATION: "c2ln"}


@pytest.mark.parametrize("shape", ["index", "other-layers", "unsigned-layer", "101-layers", "urls", "too-large"])
def test_a_hostile_sig_tag_is_left_behind_with_one_warning(registry: Registry, fresh_registry: Callable[..., Registry],
                                                           tmp_path: Path, shape: str) -> None:
    src = registry.repo()
    digest = push_model(src + ":v1", tmp_path, "m")
    one = [(SIMPLE_SIGNING, b'{"critical": {}}', SIGNED)]
    layers = {"index": one, "urls": one, "other-layers": [("application/x-sh", b"echo hi", SIGNED)],
              "unsigned-layer": [(SIMPLE_SIGNING, b"{}", {})],
              "101-layers": [(SIMPLE_SIGNING, b'{"n": %d}' % i, SIGNED) for i in range(101)],
              "too-large": [(SIMPLE_SIGNING, b" " * (5 * 1024 * 1024), SIGNED)]}[shape]
    _push_sig(src, digest, layers, index=shape == "index", urls=shape == "urls")
    dst = fresh_registry().repo("h")
    done = modelpack("copy", "--plain-http", src + ":v1", dst + ":v1")
    assert done.code == 0, done.err
    said = [line for line in done.err.splitlines() if fallback_tag(digest) + ".sig" in line]
    assert len(said) == 1 and "not copied" in said[0], done.err
    assert tags(dst) == ["v1"]  # the model arrived, the tag did not


def test_an_index_carries_each_signed_child_sig(registry: Registry, fresh_registry: Callable[..., Registry],
                                               cosign_bin: Path, tmp_path: Path) -> None:
    src = registry.repo()
    children = [push_model(f"{src}:c{i}", tmp_path, f"m{i}") for i in range(2)]
    store = remote(src)
    entries = [store.resolve(child) for child in children]
    body = Index(manifests=entries).canonical_bytes()
    index = Descriptor(mediaType=mt.OCI_INDEX, digest=digests.of_bytes(body), size=len(body))
    store.push_manifest(index, body, "all")
    key_c, pub_c = cosign_keys(cosign_bin, tmp_path, "c")
    cosign_sign(cosign_bin, key_c, f"{src}@{children[1]}")  # a child alone is signed
    cosign_sign(cosign_bin, key_c, f"{src}@{index.digest}")
    dst = fresh_registry().repo("idx")
    copy(src + ":all", dst + ":all")
    assert set(tags(dst)) == {"all", fallback_tag(index.digest) + ".sig", fallback_tag(children[1]) + ".sig"}
    for signed in (index.digest, children[1]):
        assert cosign_verifies(cosign_bin, pub_c, f"{dst}@{signed}")


@pytest.mark.parametrize(("before", "failing"), [("unsigned", "sig"), ("other-bundle", "sig"),
                                                 ("unsigned", "index")])
def test_sign_both_failing_a_write_leaves_no_signature_behind(fresh_registry: Callable[..., Registry],
                                                              tmp_path: Path, before: str, failing: str) -> None:
    origin = fresh_registry()
    with FaultProxy(origin.host) as proxy:
        repo = f"{proxy.host}/t/both"
        digest = push_model(repo + ":v1", tmp_path, "m")
        key_a, pub_a = keypair(tmp_path, "a")
        if before == "other-bundle":
            key_b, _ = keypair(tmp_path, "b")
            sign(key_b, repo + ":v1", "bundle")
        index_before = remote(repo).find(fallback_tag(digest))
        listed_before = parse_manifest(remote(repo).fetch_manifest(index_before.digest)[1]).manifests \
            if index_before else []
        # The .sig's write (the last), or the fallback index's (listing the bundle, before the .sig).
        pattern = r"\.sig$" if failing == "sig" else r"$"
        proxy.faults.append(Fault(r"PUT .*/manifests/sha256-[0-9a-f]{64}" + pattern, times=1000, status=500))
        failed = modelpack("sign", "--plain-http", "--key", str(key_a), "--signature-format", "both",
                           repo + ":v1", env=PW)
        assert failed.code != 0 and failed.err.strip().splitlines()[-1].startswith("error: "), failed.err
        if failing == "sig":
            assert proxy.requests("PUT", ".sig")  # the .sig write was tried, after the bundle's
        proxy.faults.clear()
        # Nothing of this signing remains: no .sig, the fallback index as it was, no bundle by key A.
        assert remote(repo).find(fallback_tag(digest) + ".sig") is None
        index_after = remote(repo).find(fallback_tag(digest))
        listed_after = parse_manifest(remote(repo).fetch_manifest(index_after.digest)[1]).manifests \
            if index_after else []
        assert [m.digest for m in listed_after] == [m.digest for m in listed_before]
        checked = modelpack("verify", "--plain-http", "--key", str(pub_a), repo + ":v1")
        assert checked.code == 7, checked.err
        # Once the registry takes writes again, signing succeeds in both formats.
        sign(key_a, repo + ":v1")
        found = modelpack("verify", "--plain-http", "--json", "--key", str(pub_a), repo + ":v1")
        assert sorted(s["kind"] for s in json.loads(found.out)["signatures"]) == ["bundle", "legacy"]


def test_sign_both_refused_by_the_sig_tag_writes_no_bundle(registry: Registry, tmp_path: Path) -> None:
    repo = registry.repo()
    digest = push_model(repo + ":v1", tmp_path, "m")
    _push_sig(repo, digest, [(SIMPLE_SIGNING, b"{}", SIGNED)], index=True)  # not a signature manifest
    key_a, _ = keypair(tmp_path, "a")
    refused = modelpack("sign", "--plain-http", "--key", str(key_a), "--signature-format", "both", repo + ":v1",
                        env=PW)
    assert refused.code == 7 and "not overwritten" in refused.err, refused.err
    assert remote(repo).find(fallback_tag(digest)) is None  # no bundle listed: nothing was written


def test_a_mirror_filled_by_copy_serves_the_signature_matchrepository_accepts(
        fresh_registry: Callable[..., Registry], cosign_bin: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The air-gapped case: nodes pull the original name through a registries.conf mirror that
    `copy` filled (same repository path); the origin is gone, so the `.sig` can only come from the mirror."""
    from test_mirrors import mirrored, write_conf

    origin, mirror = fresh_registry(), fresh_registry()
    src = origin.repo("team")
    path = src.split("/", 1)[1]
    digest = push_model(src + ":v1", tmp_path, "m")
    key_c, pub_c = cosign_keys(cosign_bin, tmp_path, "c")
    cosign_sign(cosign_bin, key_c, f"{src}@{digest}")  # names the repository, as cosign signs
    copy(src + ":v1", f"{mirror.host}/{path}:v1")
    origin.stop()
    write_conf(tmp_path, monkeypatch, mirrored(origin.host, mirror.host, insecure=True))
    policy = write_policy(tmp_path, {"default": signed_by(pub_c)})  # matchRepository
    assert pull(src + ":v1", policy, tmp_path / "o1")[0] == 0
    assert (tmp_path / "o1" / "model.safetensors").is_file()
    _, other = cosign_keys(cosign_bin, tmp_path, "other")
    code, err = pull(src + ":v1", write_policy(tmp_path, {"default": signed_by(other)}, "o.json"), tmp_path / "o2")
    assert code == 7, err


def test_a_destination_refusing_the_sig_costs_one_warning_not_the_copy(
        registry: Registry, fresh_registry: Callable[..., Registry], cosign_bin: Path, tmp_path: Path) -> None:
    src = registry.repo()
    digest = push_model(src + ":v1", tmp_path, "m")
    key_c, _ = cosign_keys(cosign_bin, tmp_path, "c")
    cosign_sign(cosign_bin, key_c, f"{src}@{digest}")
    with FaultProxy(fresh_registry().host) as proxy:
        proxy.faults.append(Fault(r"PUT .*/manifests/sha256-[0-9a-f]{64}\.sig$", times=1000, status=400,
                                  headers={"Content-Type": "application/json"}))
        dst = f"{proxy.host}/t/refusing"
        done = modelpack("copy", "--plain-http", src + ":v1", dst + ":v1")
        assert done.code == 0, done.err
        said = [line for line in done.err.splitlines() if line.startswith("warning")]
        assert len(said) == 1 and fallback_tag(digest) + ".sig not copied" in said[0] and "HTTP 400" in said[0], \
            done.err
        proxy.faults.clear()
        assert tags(dst) == ["v1"]


def _attach_sbom(cosign_bin: Path, ref: str, body: str, tmp_path: Path) -> None:
    (tmp_path / "sbom.json").write_text(body)
    done = cosign(cosign_bin, "attach", "sbom", "--sbom", str(tmp_path / "sbom.json"), "--type", "cyclonedx",
                  *COSIGN_FLAGS, ref)
    assert done.returncode == 0, done.stderr


def test_an_sbom_tag_is_carried_and_a_different_one_at_the_destination_kept(
        registry: Registry, fresh_registry: Callable[..., Registry], cosign_bin: Path, tmp_path: Path) -> None:
    src = registry.repo()
    digest = push_model(src + ":v1", tmp_path, "m")
    _attach_sbom(cosign_bin, f"{src}@{digest}", '{"bomFormat": "CycloneDX", "specVersion": "1.6"}', tmp_path)
    target = fresh_registry()
    dst, other = target.repo("sbom"), target.repo("theirs")
    copy(src + ":v1", dst + ":v1")
    assert sig_manifest(dst, digest, ".sbom")[0] == sig_manifest(src, digest, ".sbom")[0]
    copy("--no-referrers", src + ":v1", other + ":v1")
    _attach_sbom(cosign_bin, f"{other}@{digest}", '{"bomFormat": "CycloneDX", "specVersion": "1.5"}', tmp_path)
    theirs = sig_manifest(other, digest, ".sbom")[0]
    done = modelpack("copy", "--plain-http", src + ":v1", other + ":v1")
    assert done.code == 0, done.err
    said = [line for line in done.err.splitlines() if line.startswith("warning")]
    assert len(said) == 1 and ".sbom not copied" in said[0] and "kept it" in said[0], done.err
    assert sig_manifest(other, digest, ".sbom")[0] == theirs
