"""`modelpack sign --signature-format simple-signing|both`: cosign's legacy `sha256-<hex>.sig` layout,
judged by the cosign binary, by `pull --signature-policy` (sigstoreSigned) and by `modelpack verify`,
against a real registry; appending beside other signers, concurrent writers, and hostile `.sig` tags."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest

import modelpack as mp
from helpers import modelpack
from modelpack.oci import digest as digests
from modelpack.oci.descriptor import Descriptor, Manifest, parse_manifest
from modelpack.signatures import keys
from modelpack.signatures.lookup import fallback_tag
from modelpack.signatures.simple_signing import COSIGN_SIGNATURE_ANNOTATION, SIMPLE_SIGNING, attach_simple_signing
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_signature_policy import cosign_keys, cosign_sign, pull, push_model, signed_by, write_policy
from test_signing import COSIGN_FLAGS, cosign, keypair

PLAIN = ClientOptions(plain_http=True)
PW = {"COSIGN_PASSWORD": "pw"}

pytestmark = pytest.mark.interop


def sig_layers(repo: str, digest: str) -> list[Descriptor]:
    remote = mp.remote(mp.Reference.parse(repo + ":x"), PLAIN)
    node = parse_manifest(remote.fetch_manifest(fallback_tag(digest) + ".sig")[1])
    assert isinstance(node, Manifest)
    return node.layers


def payload_of(repo: str, layer: Descriptor) -> dict[str, Any]:
    remote = mp.remote(mp.Reference.parse(repo + ":x"), PLAIN)
    return json.loads(remote.open_blob(layer).read())


def cosign_verify(cosign_bin: Path, public: Path, ref: str, *flags: str) -> list[dict[str, Any]]:
    """What `cosign verify` printed. cosign 3 reads the legacy layout by itself only when the image has no
    bundle; `--new-bundle-format=false` makes it read that layout alone."""
    done = cosign(cosign_bin, "verify", "--key", str(public), "--insecure-ignore-tlog=true", *COSIGN_FLAGS, *flags,
                  ref)
    assert done.returncode == 0, done.stderr
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith("[")))


def test_simple_signing_is_accepted_by_cosign_the_policy_and_verify(registry: Registry, cosign_bin: Path,
                                                                    tmp_path: Path) -> None:
    repo = registry.repo()
    digest = push_model(repo + ":v1", tmp_path, "m")
    private, public = keypair(tmp_path, "k")
    signed = modelpack("sign", "--plain-http", "--json", "--key", str(private), "-a", "team=ml",
                       "--signature-format", "simple-signing", repo + ":v1", env=PW)
    assert signed.code == 0, signed.err
    info = json.loads(signed.out)["simple_signing"]
    assert info["identity"] == repo + ":v1" and json.loads(signed.out)["signature"] == info["manifest"]
    # What cosign writes: one simple-signing layer, the signature in its annotation.
    [layer] = sig_layers(repo, digest)
    assert layer.media_type == SIMPLE_SIGNING and layer.annotation(COSIGN_SIGNATURE_ANNOTATION)
    assert payload_of(repo, layer) == {"critical": {"identity": {"docker-reference": repo + ":v1"},
                                                    "image": {"docker-manifest-digest": digest},
                                                    "type": "cosign container image signature"},
                                       "optional": {"team": "ml"}}
    # cosign 3 verifies it (by tag and by digest, with and without the legacy flag), annotation included.
    for ref, flags in ((repo + ":v1", ()), (f"{repo}@{digest}", ("--new-bundle-format=false",))):
        [claims] = cosign_verify(cosign_bin, public, ref, *flags)
        assert claims["critical"]["image"]["docker-manifest-digest"] == digest and claims["optional"] == {"team": "ml"}
    # modelpack verify: the legacy signature alone (no bundle was written), -a checked.
    checked = modelpack("verify", "--plain-http", "--json", "-a", "team=ml", "--key", str(public), repo + ":v1")
    assert checked.code == 0, checked.err
    assert [s["kind"] for s in json.loads(checked.out)["signatures"]] == ["legacy"]
    # A sigstoreSigned policy with the default signedIdentity: the tag signed, and the digest, pull.
    policy = write_policy(tmp_path, {"default": [{"type": "reject"}],
                                     "transports": {"docker": {repo: signed_by(public, None)}}})
    assert pull(repo + ":v1", policy, tmp_path / "o1")[0] == 0
    assert (tmp_path / "o1" / "model.safetensors").is_file()
    assert pull(f"{repo}@{digest}", policy, tmp_path / "o2")[0] == 0
    # Another tag of the same digest was not signed under that name: matchRepoDigestOrExact refuses it.
    assert modelpack("tag", "--remote", "--plain-http", repo + ":v1", "latest").code == 0
    code, err = pull(repo + ":latest", policy, tmp_path / "o3")
    assert code == 7 and f"signed as '{repo}:v1'" in err


def test_both_formats_and_appending_beside_other_signers(registry: Registry, cosign_bin: Path, tmp_path: Path) -> None:
    repo = registry.repo()
    digest = push_model(repo + ":v1", tmp_path, "m")
    cosign_key, cosign_pub = cosign_keys(cosign_bin, tmp_path, "c")
    cosign_sign(cosign_bin, cosign_key, f"{repo}@{digest}")  # cosign's layer comes first
    [theirs] = sig_layers(repo, digest)
    key_a, pub_a = keypair(tmp_path, "a")
    for _ in range(2):  # signing twice adds one signature, not two
        result = modelpack("sign", "--plain-http", "--key", str(key_a), "--signature-format", "both", repo + ":v1",
                           env=PW)
        assert result.code == 0, result.err
        assert "simple-signing" in result.out and "(signature sha256:" in result.out
    key_b, pub_b = keypair(tmp_path, "b")
    by_digest = modelpack("sign", "--plain-http", "--key", str(key_b), "--signature-format", "simple-signing",
                          f"{repo}@{digest}", env=PW)
    assert by_digest.code == 0, by_digest.err
    layers = sig_layers(repo, digest)
    assert len(layers) == 3 and layers[0] == theirs  # cosign's signature kept as it was
    assert [payload_of(repo, x)["critical"]["identity"]["docker-reference"] for x in layers] == \
        [repo, repo + ":v1", repo]  # by digest, the repository is signed (as cosign signs)
    for public in (cosign_pub, pub_a, pub_b):  # a bundle is there too (A's): cosign reads .sig when told to
        assert cosign_verify(cosign_bin, public, f"{repo}@{digest}", "--new-bundle-format=false")
    assert cosign_verify(cosign_bin, pub_a, f"{repo}@{digest}")  # A's bundle, cosign 3's default
    # cosign appends to what modelpack wrote, keeping it.
    cosign_sign(cosign_bin, cosign_key, f"{repo}:v1")
    assert sig_layers(repo, digest)[:3] == layers
    # modelpack verify: key A has bundles (one per `sign`, as cosign 3 adds them) and one legacy signature.
    found = modelpack("verify", "--plain-http", "--json", "--key", str(pub_a), repo + ":v1")
    kinds = [s["kind"] for s in json.loads(found.out)["signatures"]]
    assert kinds.count("legacy") == 1 and kinds.count("bundle") == 2
    # B signed the repository: a tag pull needs matchRepository, and the refusal says so.
    code, err = pull(repo + ":v1", write_policy(tmp_path, {"default": signed_by(pub_b, None)}), tmp_path / "o1")
    assert code == 7 and "use matchRepository" in err
    assert pull(repo + ":v1", write_policy(tmp_path, {"default": signed_by(pub_b)}, "r.json"), tmp_path / "o2")[0] == 0


@pytest.mark.parametrize("place", ["oci", "local", "timestamp"])
def test_simple_signing_refused_where_it_cannot_work(registry: Registry, tmp_path: Path, place: str) -> None:
    repo = registry.repo()
    digest = push_model(repo + ":v1", tmp_path, "m")
    key, _ = keypair(tmp_path, "k")
    args = {"oci": [f"oci:{tmp_path / 'layout'}:v1"], "local": ["--local", repo + ":v1"],
            "timestamp": ["-a", "timestamp=now", repo + ":v1"]}[place]
    if place == "oci":
        assert modelpack("copy", "--plain-http", repo + ":v1", args[0]).code == 0
    result = modelpack("sign", "--plain-http", "--key", str(key), "--signature-format", "simple-signing", *args,
                       env=PW)
    assert result.code == 2 and result.err.startswith("error: ") and len(result.err.strip().splitlines()) == 1
    assert ("push the model, then sign" in result.err) if place != "timestamp" else ("integer" in result.err)
    remote = mp.remote(mp.Reference.parse(repo + ":v1"), PLAIN)
    assert remote.find(fallback_tag(digest) + ".sig") is None


class Interleaved:
    """A real registry repository, with another signer's append run at one chosen moment of ours."""

    def __init__(self, repo: Any, other: Any, at: str) -> None:
        self.repo, self.other, self.at, self.finds = repo, other, at, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.repo, name)

    def find(self, version: str) -> Descriptor | None:
        self.finds += 1
        if self.at == "before-write" and self.finds == 2:  # between our read and our write
            self.other()
        return self.repo.find(version)

    def push_manifest(self, desc: Descriptor, data: bytes, tag: str | None = None) -> None:
        stale = self.repo.fetch_manifest(tag)[1] if self.at == "after-write" and tag and self.finds == 2 else None
        self.repo.push_manifest(desc, data, tag)
        if stale is not None:  # a slower writer that read before us puts its manifest over ours
            self.other(stale)


@pytest.mark.parametrize("at", ["before-write", "after-write"])
def test_a_concurrent_signer_is_not_clobbered(registry: Registry, tmp_path: Path, at: str) -> None:
    repo = registry.repo()
    digest = push_model(repo + ":v1", tmp_path, "m")
    remote = mp.remote(mp.Reference.parse(repo + ":v1"), PLAIN)
    ours, theirs = keys.generate(), keys.generate()
    attach_simple_signing(remote, digest, repo, keys.generate())  # a first signer's layer, to be kept
    tag = fallback_tag(digest) + ".sig"

    def other(stale: bytes | None = None) -> None:
        if stale is None:
            attach_simple_signing(remote, digest, repo + ":other", theirs)
            return
        # What a writer that read `stale` and then appended its layer (as cosign does) puts on the tag.
        body = json.dumps({"critical": {"identity": {"docker-reference": repo}, "image": {
            "docker-manifest-digest": digest}, "type": "cosign container image signature"}, "optional": None}).encode()
        layer = Descriptor(mediaType=SIMPLE_SIGNING, digest=digests.of_bytes(body), size=len(body),
                           annotations={COSIGN_SIGNATURE_ANNOTATION: base64.b64encode(theirs.sign(body)).decode()})
        remote.push_blob(layer, lambda: io.BytesIO(body))
        old = parse_manifest(stale)
        assert isinstance(old, Manifest)
        data = Manifest(config=old.config, layers=[*old.layers, layer]).canonical_bytes()
        remote.push_manifest(Descriptor(mediaType="application/vnd.oci.image.manifest.v1+json",
                                        digest=digests.of_bytes(data), size=len(data)), data, tag)

    attach_simple_signing(Interleaved(remote, other, at), digest, repo + ":v1", ours)  # type: ignore[arg-type]
    layers = sig_layers(repo, digest)
    signers = [next(k for k in (ours, theirs) if keys.verify_signature(
        k.public_key, base64.b64decode(x.annotation(COSIGN_SIGNATURE_ANNOTATION) or ""), remote.open_blob(x).read()))
        for x in layers[1:]]
    assert len(layers) == 3 and sorted(map(id, signers)) == sorted([id(ours), id(theirs)])


def test_a_hostile_sig_tag_is_refused_in_bounds(registry: Registry, cosign_bin: Path, tmp_path: Path) -> None:
    repo = registry.repo()
    digest = push_model(repo + ":v1", tmp_path, "m")
    remote = mp.remote(mp.Reference.parse(repo + ":v1"), PLAIN)
    body = b'{"critical":{}}'
    layer = Descriptor(mediaType=SIMPLE_SIGNING, digest=digests.of_bytes(body), size=len(body),
                       annotations={COSIGN_SIGNATURE_ANNOTATION: "A" * 96})
    remote.push_blob(layer, lambda: io.BytesIO(body))
    config = Descriptor(mediaType="application/vnd.oci.image.config.v1+json", digest=layer.digest, size=layer.size)
    data = Manifest(config=config, layers=[layer] * 10_000).canonical_bytes()
    assert len(data) > 2_000_000
    tag = fallback_tag(digest) + ".sig"
    remote.push_manifest(Descriptor(mediaType="application/vnd.oci.image.manifest.v1+json",
                                    digest=digests.of_bytes(data), size=len(data)), data, tag)
    key, public = keypair(tmp_path, "k")
    result = modelpack("sign", "--plain-http", "--key", str(key), "--signature-format", "simple-signing",
                       repo + ":v1", env=PW)
    assert result.code == 7 and "10000 layers" in result.err and len(result.err.strip().splitlines()) == 1
    assert remote.find(tag).digest == digests.of_bytes(data)  # not rewritten
    refused = modelpack("verify", "--plain-http", "--key", str(public), repo + ":v1")
    assert refused.code == 7 and "refusing to walk them" in refused.err
    code, err = pull(repo + ":v1", write_policy(tmp_path, {"default": signed_by(public)}), tmp_path / "o")
    assert code == 7 and "refusing to walk them" in err


def pem_keys(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    """A plain PKCS#8 private key of `kind` and its public half, as files."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    key: Any = {"p384": lambda: ec.generate_private_key(ec.SECP384R1()), "ed25519": ed25519.Ed25519PrivateKey.generate,
                "rsa": lambda: rsa.generate_private_key(65537, 2048)}[kind]()
    private, public = tmp_path / f"{kind}.pem", tmp_path / f"{kind}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


@pytest.mark.parametrize("kind", ["p384", "ed25519", "rsa"])
def test_every_key_type_signs_what_cosign_and_the_policy_accept(registry: Registry, cosign_bin: Path,
                                                                tmp_path: Path, kind: str) -> None:
    # containers/image and `cosign verify` check simple-signing with SHA-256 for every ECDSA curve: a P-384
    # signature hashed with SHA-384 (as cosign 3 itself signs it) fails both.
    repo = registry.repo()
    digest = push_model(repo + ":v1", tmp_path, "m")
    private, public = pem_keys(tmp_path, kind)
    signed = modelpack("sign", "--plain-http", "--key", str(private), "--signature-format", "simple-signing",
                       repo + ":v1")
    assert signed.code == 0, signed.err
    assert cosign_verify(cosign_bin, public, f"{repo}@{digest}", "--new-bundle-format=false")
    assert modelpack("verify", "--plain-http", "--key", str(public), repo + ":v1").code == 0
    assert pull(repo + ":v1", write_policy(tmp_path, {"default": signed_by(public, None)}), tmp_path / "o")[0] == 0


class CurveHashSigner(keys.Signer):
    """Signs simple-signing payloads as cosign 3 does with a P-384 key: SHA-384."""

    def sign(self, data: bytes, *, sha256: bool = False) -> bytes:
        return super().sign(data)


def test_a_p384_signature_hashed_with_sha384_is_verified_but_not_policy_accepted(registry: Registry,
                                                                                 tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    repo = registry.repo()
    digest = push_model(repo + ":v1", tmp_path, "m")
    signer = CurveHashSigner(ec.generate_private_key(ec.SECP384R1()))
    (tmp_path / "p384.pub").write_bytes(keys.public_pem(signer.public_key))
    attach_simple_signing(mp.remote(mp.Reference.parse(repo + ":v1"), PLAIN), digest, repo, signer)
    # modelpack verify reads what cosign 3 writes; containers/image (and so the policy) checks SHA-256 only.
    assert modelpack("verify", "--plain-http", "--key", str(tmp_path / "p384.pub"), repo + ":v1").code == 0
    policy = write_policy(tmp_path, {"default": signed_by(tmp_path / "p384.pub")})
    code, err = pull(repo + ":v1", policy, tmp_path / "o")
    assert code == 7 and "a signature by a policy key hashed with SHA-384" in err, err  # said why, not "none"


@pytest.mark.parametrize("shape", ["5 MiB of annotations", "an index"])
def test_a_hostile_sig_manifest_is_read_in_bounds_and_nothing_is_written(tmp_path: Path, shape: str) -> None:
    from hostile_registry import OCI_MANIFEST, HostileRegistry, crafted_model, serve_content, serve_tags

    content = crafted_model()
    subject = digests.of_bytes(content["1"][1])
    if shape == "an index":
        sig = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                          "manifests": []}).encode()
    else:
        sig = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json", "digest": subject, "size": 2},
            "layers": [], "annotations": {"x": "A" * (5 * 1024 * 1024)}}).encode()
    content[fallback_tag(subject) + ".sig"] = (OCI_MANIFEST, sig)
    key, _ = keypair(tmp_path, "k")
    with HostileRegistry() as server:
        server.routes[r"^(GET|HEAD) /v2/a/b/(manifests|blobs)/"] = serve_content(content)
        server.routes["/tags/list"] = serve_tags(["1"])
        result = modelpack("sign", "--plain-http", "--key", str(key), "--signature-format", "simple-signing",
                           f"{server.host}/a/b:1", env=PW)
        writes = [line for line, _ in server.seen if not line.startswith(("GET", "HEAD"))]
    assert result.err.startswith("error: ") and len(result.err.strip().splitlines()) == 1
    if shape == "an index":
        assert result.code == 7 and "not overwritten: remove the tag" in result.err
    else:  # the registry's answer is cut at the manifest cap, as every manifest read is
        assert result.code == 1 and "sent more than 4194304 bytes" in result.err
    assert writes == []  # no payload, config or manifest pushed


def test_the_python_api_signs_both_formats(registry: Registry, tmp_path: Path) -> None:
    from modelpack.errors import UsageError

    repo = registry.repo()
    digest = push_model(repo + ":v1", tmp_path, "m")
    private, public = keypair(tmp_path, "k")
    with pytest.raises(UsageError, match="expected one of bundle, simple-signing, both"):
        mp.sign(repo + ":v1", private, b"pw", options=PLAIN, signature_format="cosign2")  # type: ignore[arg-type]
    result = mp.sign(f"{repo}@{digest}", private, b"pw", {"team": "ml"}, options=PLAIN, signature_format="both")
    assert result.identity == repo and result.simple_signing is not None
    assert result.signature.digest != result.simple_signing.digest  # the bundle's referrer, and the .sig
    found = mp.verify(repo + ":v1", public, {"team": "ml"}, options=PLAIN)
    assert sorted(s.kind for s in found.signatures) == ["bundle", "legacy"]
