"""containers-policy.json on pulls: models signed with the cosign binary (its simple-signing layout), a
real registry, and skopeo judging the same policy files where it can (Debian's skopeo is built without
sigstore, so there it judges scopes, `reject`, `insecureAcceptAnything` and malformed files)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import modelpack as mp
from helpers import modelpack
from modelpack.signatures.lookup import fallback_tag
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_signing import COSIGN_FLAGS, cosign

PLAIN = ClientOptions(plain_http=True)
ACCEPT = [{"type": "insecureAcceptAnything"}]
REJECT = [{"type": "reject"}]

pytestmark = pytest.mark.interop


def push_model(ref: str, tmp_path: Path, name: str) -> str:
    """A one-file model pushed to `ref`; its digest."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(5_000))
    return mp.push(folder, ref, options=PLAIN).descriptor.digest


def cosign_keys(cosign_bin: Path, tmp_path: Path, name: str) -> tuple[Path, Path]:
    assert cosign(cosign_bin, "generate-key-pair", "--output-key-prefix", str(tmp_path / name),
                  password="pw").returncode == 0
    return tmp_path / f"{name}.key", tmp_path / f"{name}.pub"


def cosign_sign(cosign_bin: Path, key: Path, pinned: str) -> None:
    """cosign 3 writing cosign 2's layout (tag sha256-<hex>.sig, simple-signing payloads): what
    containers/image's sigstoreSigned reads."""
    signed = cosign(cosign_bin, "sign", "--key", str(key), "--use-signing-config=false", "--tlog-upload=false",
                    "--new-bundle-format=false", "-y", *COSIGN_FLAGS, pinned, password="pw")
    assert signed.returncode == 0, signed.stderr


def write_policy(tmp_path: Path, body: object, name: str = "policy.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(body))
    return path


def signed_by(public: Path, identity: str | None = "matchRepository") -> list[dict[str, object]]:
    requirement: dict[str, object] = {"type": "sigstoreSigned", "keyPath": str(public)}
    if identity:
        requirement["signedIdentity"] = {"type": identity}
    return [requirement]


def pull(ref: str, policy: Path, out: Path) -> tuple[int, str]:
    result = modelpack("pull", "--plain-http", "--signature-policy", str(policy), ref, "-o", str(out))
    if result.code:
        assert result.err.startswith("error: ") and len(result.err.strip().splitlines()) == 1, result.err
        assert not out.exists() or not any(out.iterdir())  # nothing written
    return result.code, result.err


@pytest.fixture
def signed_model(registry: Registry, cosign_bin: Path, tmp_path: Path) -> tuple[str, str, Path, Path]:
    """(repository, digest, key A's public half, key B's public half): the model signed by key A."""
    repo = registry.repo()
    digest = push_model(repo + ":v1", tmp_path, "m")
    key_a, pub_a = cosign_keys(cosign_bin, tmp_path, "a")
    _, pub_b = cosign_keys(cosign_bin, tmp_path, "b")
    cosign_sign(cosign_bin, key_a, f"{repo}@{digest}")
    return repo, digest, pub_a, pub_b


def test_signed_by_the_key_pulls_exactly_the_verified_digest(signed_model: tuple[str, str, Path, Path],
                                                               tmp_path: Path) -> None:
    repo, digest, pub_a, pub_b = signed_model
    policy = write_policy(tmp_path, {"default": REJECT, "transports": {"docker": {repo: signed_by(pub_a)}}})
    assert pull(repo + ":v1", policy, tmp_path / "o1")[0] == 0
    assert (tmp_path / "o1" / "model.safetensors").is_file()
    # Into the store too, and by digest; keyPaths: any of the keys.
    both = write_policy(tmp_path, {"default": [{"type": "sigstoreSigned", "keyPaths": [str(pub_b), str(pub_a)]}]},
                        "both.json")
    stored = modelpack("pull", "--plain-http", "--json", "--signature-policy", str(both), f"{repo}@{digest}")
    assert stored.code == 0, stored.err
    assert json.loads(stored.out)["digest"] == digest and json.loads(stored.out)["signaturePolicyVerified"] is True
    # The default signedIdentity (matchRepoDigestOrExact): cosign signs the repository, so a digest pull
    # passes and a tag pull is refused (a tag must be signed as that tag), as containers/image decides.
    default_identity = write_policy(tmp_path, {"default": signed_by(pub_a, None)}, "default-identity.json")
    assert pull(f"{repo}@{digest}", default_identity, tmp_path / "o2")[0] == 0
    code, err = pull(repo + ":v1", default_identity, tmp_path / "o3")
    assert code == 7 and "does not accept" in err and "matchRepoDigestOrExact" in err and "use matchRepository" in err


def test_other_key_unsigned_and_rejected_are_refused(signed_model: tuple[str, str, Path, Path], registry: Registry,
                                                      tmp_path: Path) -> None:
    repo, _, pub_a, pub_b = signed_model
    code, err = pull(repo + ":v1", write_policy(tmp_path, {"default": signed_by(pub_b)}), tmp_path / "o1")
    assert code == 7 and "none of the policy's keys" in err
    unsigned = registry.repo()
    push_model(unsigned + ":v1", tmp_path, "u")
    code, err = pull(unsigned + ":v1", write_policy(tmp_path, {"default": signed_by(pub_a)}, "a.json"), tmp_path / "o2")
    assert code == 7 and "no cosign simple-signing signature" in err
    # keyData holds the PEM itself; a signedBy (GPG) requirement is refused, never let through.
    key_data = [{"type": "sigstoreSigned", "keyData": base64.b64encode(pub_a.read_bytes()).decode(),
                 "signedIdentity": {"type": "matchRepository"}}]
    assert pull(repo + ":v1", write_policy(tmp_path, {"default": key_data}, "kd.json"), tmp_path / "o3")[0] == 0
    gpg = write_policy(tmp_path, {"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k.gpg"}]},
                       "gpg.json")
    code, err = pull(repo + ":v1", gpg, tmp_path / "o4")
    assert code == 7 and "signedBy (GPG signatures), which modelpack does not support" in err
    code, err = pull(repo + ":v1", write_policy(tmp_path, {"default": REJECT}, "r.json"), tmp_path / "o5")
    assert code == 7 and "is rejected by signature policy" in err and "'default'" in err
    keyless = write_policy(tmp_path, {"default": [{"type": "sigstoreSigned", "fulcio": {"caPath": "/ca.pem"}}]},
                           "keyless.json")
    code, err = pull(repo + ":v1", keyless, tmp_path / "o6")
    assert code == 7 and "sigstoreSigned with fulcio, which modelpack does not support" in err
    no_key = write_policy(tmp_path, {"default": signed_by(tmp_path / "absent.pub")}, "no-key.json")
    code, err = pull(repo + ":v1", no_key, tmp_path / "o7")
    assert code == 2 and str(no_key) in err and "absent.pub" in err


def copy_manifest(crane_bin: Path, src: str, dst: str) -> None:
    done = subprocess.run([str(crane_bin), "copy", "--insecure", src, dst], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_signature_for_another_repository_or_digest_is_refused(signed_model: tuple[str, str, Path, Path],
                                                                  registry: Registry, crane_bin: Path,
                                                                  cosign_bin: Path, tmp_path: Path) -> None:
    repo, digest, pub_a, _ = signed_model
    sig_tag = fallback_tag(digest) + ".sig"
    # The same model and its (valid) signature copied to another repository: the payload names the first.
    other = registry.repo()
    copy_manifest(crane_bin, f"{repo}@{digest}", f"{other}:v1")
    copy_manifest(crane_bin, f"{repo}:{sig_tag}", f"{other}:{sig_tag}")
    policy = write_policy(tmp_path, {"default": signed_by(pub_a)})
    code, err = pull(other + ":v1", policy, tmp_path / "o1")
    assert code == 7 and f"signed as '{repo}'" in err
    assert cosign(cosign_bin, "verify", "--key", str(pub_a), "--insecure-ignore-tlog=true", *COSIGN_FLAGS,
                  f"{other}@{digest}").returncode == 0  # cosign checks no identity here: policy.json does
    # A valid signature of another model put under this model's signature tag.
    victim = push_model(repo + ":v2", tmp_path, "v")
    copy_manifest(crane_bin, f"{repo}:{sig_tag}", f"{repo}:{fallback_tag(victim)}.sig")
    code, err = pull(repo + ":v2", policy, tmp_path / "o2")
    assert code == 7 and "a signature of another digest" in err


def test_policy_files_found_and_refused(signed_model: tuple[str, str, Path, Path], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    repo = signed_model[0]
    monkeypatch.delenv("MODELPACK_SIGNATURE_POLICY")
    monkeypatch.setenv("HOME", str(tmp_path))
    user = tmp_path / ".config" / "containers" / "policy.json"
    user.parent.mkdir(parents=True)
    user.write_text(json.dumps({"default": REJECT}))
    refused = modelpack("pull", "--plain-http", repo + ":v1")
    assert refused.code == 7 and str(user) in refused.err
    user.write_text('{"default": [{"type": "reject"}], "default": []}')
    broken = modelpack("pull", "--plain-http", repo + ":v1")
    assert broken.code == 2 and len(broken.err.strip().splitlines()) == 1
    assert str(user) in broken.err and "appears twice" in broken.err
    missing = modelpack("pull", "--plain-http", repo + ":v1", env={"MODELPACK_SIGNATURE_POLICY": "/nonexistent.json"})
    assert missing.code == 2 and "/nonexistent.json" in missing.err
    user.unlink()  # no file at all (the system's accepts anything, or is absent): pulls as before
    if Path("/etc/containers/policy.json").exists():
        return
    assert modelpack("pull", "--plain-http", repo + ":v1").code == 0


def test_serve_k8s_and_build_image_obey_the_policy(signed_model: tuple[str, str, Path, Path],
                                                   tmp_path: Path) -> None:
    repo, _, pub_a, _ = signed_model
    reject = write_policy(tmp_path, {"default": REJECT})
    for args in (["serve", repo + ":v1", "--port", "0"], ["build-image", repo + ":v1", "-t", repo + "-img:1"],
                 ["k8s", "--kind", "image-volume", "--serving-image", repo + ":v1", repo + ":v1"]):
        result = modelpack(*args, "--plain-http", "--signature-policy", str(reject))
        assert result.code == 7 and "is rejected by signature policy" in result.err, (args, result.err)
    # k8s pins the digest the policy verified.
    accepted = write_policy(tmp_path, {"default": REJECT, "transports": {"docker": {repo: signed_by(pub_a)}}},
                            "a.json")
    result = modelpack("k8s", "--kind", "kserve", "--plain-http", "--signature-policy", str(accepted),
                       "--model-format", "sklearn", repo + ":v1")
    assert result.code == 2 and "model artifact" in result.err  # passed the policy, refused for its kind


def skopeo_verdict(policy: Path, ref: str, registry: Registry, tmp_path: Path) -> bool | None:
    """Whether skopeo copies `ref` under `policy` (None: it cannot judge, e.g. built without sigstore)."""
    registries_d = tmp_path / "registries.d"
    registries_d.mkdir(exist_ok=True)
    (registries_d / "local.yaml").write_text(f"docker:\n  {registry.host}:\n    use-sigstore-attachments: true\n")
    out = tmp_path / f"skopeo-{len(list(tmp_path.glob('skopeo-*')))}"
    done = subprocess.run(["skopeo", "copy", "--policy", str(policy), "--registries.d", str(registries_d),
                           "--src-tls-verify=false", f"docker://{ref}", f"dir:{out}"],
                          capture_output=True, text=True, timeout=120)
    if "sigstore disabled" in done.stderr:
        return None
    return done.returncode == 0


def test_skopeo_and_modelpack_agree(signed_model: tuple[str, str, Path, Path], registry: Registry,
                                    tmp_path: Path) -> None:
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed (apt-get install skopeo)")
    repo, digest, pub_a, pub_b = signed_model
    unsigned = registry.repo()
    push_model(unsigned + ":v1", tmp_path, "u")
    host, namespace = repo.split("/")[0], repo.rsplit("/", 1)[0]
    wildcard = "*." + host.split(":")[0].split(".", 1)[1]
    cases = {
        "accept anything": ({"default": ACCEPT}, repo + ":v1"),
        "reject": ({"default": REJECT}, repo + ":v1"),
        "reject, the namespace accepted": ({"default": REJECT, "transports": {"docker": {namespace: ACCEPT}}},
                                           repo + ":v1"),
        "the repository rejected": ({"default": ACCEPT, "transports": {"docker": {repo: REJECT}}}, repo + ":v1"),
        "another tag rejected": ({"default": ACCEPT, "transports": {"docker": {repo + ":v2": REJECT}}}, repo + ":v1"),
        "the host rejected by port": ({"default": ACCEPT, "transports": {"docker": {host: REJECT}}}, repo + ":v1"),
        "a wildcard": ({"default": ACCEPT, "transports": {"docker": {wildcard: REJECT}}}, repo + ":v1"),
        "the transport's default": ({"default": ACCEPT, "transports": {"docker": {"": REJECT}}}, repo + ":v1"),
        "another transport ignored": ({"default": ACCEPT, "transports": {"atomic": {"": REJECT}}}, repo + ":v1"),
        "malformed": ({"default": ACCEPT, "bogus": True}, repo + ":v1"),
        "signed by the key": ({"default": signed_by(pub_a)}, repo + ":v1"),
        "signed by the key, by digest": ({"default": signed_by(pub_a, None)}, f"{repo}@{digest}"),
        "tag with the default identity": ({"default": signed_by(pub_a, None)}, repo + ":v1"),
        "signed by another key": ({"default": signed_by(pub_b)}, repo + ":v1"),
        "unsigned": ({"default": signed_by(pub_a)}, unsigned + ":v1"),
    }
    judged = 0
    for i, (name, (body, ref)) in enumerate(cases.items()):
        policy = write_policy(tmp_path, body, f"case-{i}.json")
        ours = pull(ref, policy, tmp_path / f"out-{i}")[0]
        theirs = skopeo_verdict(policy, ref, registry, tmp_path)
        if theirs is None:
            continue
        judged += 1
        # Refused by the policy is exit 7, a policy that cannot be parsed exit 2: any other failure is a bug.
        expected = 0 if theirs else (2 if name == "malformed" else 7)
        assert ours == expected, f"{name}: modelpack exit {ours}, skopeo {'accepts' if theirs else 'refuses'}"
    assert judged >= 10


def test_a_policy_verified_signature_lets_serve_load_a_pickle(registry: Registry, cosign_bin: Path, tmp_path: Path,
                                                               serving: Any) -> None:
    """As with --verify-key: a signature verified for exactly the digest served is what makes a pickle from
    a registry loadable; a policy that accepts anything verifies nothing."""
    from modelpack.errors import UntrustedContentError, VerificationError
    from serving import call
    from test_serve_trust import ROWS, Hostile, iris, model_dir

    repo = registry.repo()
    digest = mp.push(model_dir(tmp_path, "m", {"model.joblib": iris()}), repo + ":1", options=PLAIN).descriptor.digest
    key, public = cosign_keys(cosign_bin, tmp_path, "k")
    cosign_sign(cosign_bin, key, f"{repo}@{digest}")
    policy = write_policy(tmp_path, {"default": REJECT, "transports": {"docker": {repo: signed_by(public)}}})
    url = serving(repo + ":1", options=PLAIN, signature_policy=policy)
    body = {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": ROWS}]}
    status, answer = call(url + "/v2/models/" + repo.rsplit("/", 1)[-1] + "/infer", body)
    assert status == 200, answer
    with pytest.raises(UntrustedContentError):  # the conftest's accept-anything policy: nothing verified
        serving(repo + ":1", options=PLAIN)
    marker = tmp_path / "ran"
    hostile = registry.repo()
    mp.push(model_dir(tmp_path, "h", {"model.joblib": Hostile(marker)}), hostile + ":1", options=PLAIN)
    with pytest.raises(VerificationError):
        serving(hostile + ":1", options=PLAIN, signature_policy=write_policy(
            tmp_path, {"default": signed_by(public)}, "h.json"))
    assert not marker.exists()


def test_a_rewritten_location_needs_remap_identity(signed_model: tuple[str, str, Path, Path], tmp_path: Path) -> None:
    """The policy judges the reference as written; registries.conf reads it elsewhere, where cosign signed
    the location's name. As containers/image: refused unless remapIdentity maps one onto the other."""
    repo, _, pub_a, _ = signed_model
    namespace, name = repo.rsplit("/", 1)
    conf = tmp_path / "registries.conf"
    conf.write_text(f'[[registry]]\nprefix = "models.invalid/team"\nlocation = "{namespace}"\n')
    env = {"CONTAINERS_REGISTRIES_CONF": str(conf)}
    written = f"models.invalid/team/{name}:v1"
    strict = write_policy(tmp_path, {"default": REJECT, "transports": {"docker": {
        "models.invalid/team": signed_by(pub_a)}}}, "strict.json")
    refused = modelpack("pull", "--plain-http", "--signature-policy", str(strict), written, env=env)
    assert refused.code == 7 and f"signed as '{repo}'" in refused.err, refused.err
    remapped = [{"type": "sigstoreSigned", "keyPath": str(pub_a), "signedIdentity": {
        "type": "remapIdentity", "prefix": "models.invalid/team", "signedPrefix": namespace}}]
    remap = write_policy(tmp_path, {"default": REJECT, "transports": {"docker": {"models.invalid/team": remapped}}},
                         "remap.json")
    refused = modelpack("pull", "--plain-http", "--signature-policy", str(remap), written, env=env)
    assert refused.code == 7 and "does not accept" in refused.err  # remapped, then checked as the tag
    accepted = modelpack("pull", "--plain-http", "--signature-policy", str(remap),
                         f"models.invalid/team/{name}@{signed_model[1]}", env=env)
    assert accepted.code == 0, accepted.err
