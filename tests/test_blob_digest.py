"""A newcomer copies a digest from `inspect`'s layer list (or the config's) and pulls `REPO@sha256:<it>`.
Distribution 2.8 answers a manifest request by a blob's digest with a bare 500, retried and then said as
"answered HTTP 500 (UNKNOWN: unknown error)", exit 1, from every command: nothing said the digest was the
wrong one. Now the line says it is a blob's digest and names `modelpack resolve` (exit 3), at once: the 500
is not retried once a HEAD of the blob finds it (retries took 11-14 s before the line came). `k8s` and
`build-image`, the deployment commands, also name the nearest tag for a typo'd one (they said only
"not found")."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack
from modelpack.errors import NotFoundError
from modelpack.oci.descriptor import Descriptor, Manifest
from modelpack.store.options import ClientOptions

PLAIN = ClientOptions(plain_http=True)


def _manifest_requests(registry: object, repo: str, digest: str) -> int:
    """How many manifest requests for `digest` the registry has answered (its log has one line per request)."""
    uri = f'http.request.uri="/v2/{repo.split("/", 1)[1]}/manifests/{digest}"'
    return sum(1 for line in registry.log().splitlines()  # type: ignore[attr-defined]
               if 'msg="response completed' in line and uri in line)


def _model(registry: object, tmp_path: Path) -> tuple[str, Descriptor, list[str]]:
    repo = registry.repo("blobdigest")  # type: ignore[attr-defined]
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"not really onnx" * 100)
    desc = mp.push(folder, f"{repo}:1.0.0", options=PLAIN).descriptor
    manifest = mp.inspect(f"{repo}@{desc.digest}", remote_only=True, options=PLAIN).manifest
    assert isinstance(manifest, Manifest)
    blobs = [layer.digest for layer in manifest.layers] + [manifest.config.digest]
    return repo, desc, blobs


@pytest.mark.parametrize("command", [
    ("pull", "-o", "{out}"),
    ("inspect", "--remote"),
    ("resolve",),
    ("k8s", "--kind", "image-volume", "--serving-image", "{repo}:1.0.0"),
    ("build-image", "-t", "{repo}-car:1", "--modelcar"),
    ("serve", "--port", "0"),
])
def test_a_blobs_digest_is_said_to_be_one(registry: object, tmp_path: Path, command: tuple[str, ...]) -> None:
    repo, _, blobs = _model(registry, tmp_path)
    for blob in blobs:  # the layer's and the config's
        args = [a.format(out=tmp_path / "out", repo=repo) for a in command]
        run = modelpack(args[0], *args[1:], f"{repo}@{blob}", "--plain-http")
        assert (run.code, run.out) == (3, ""), run.err
        assert _manifest_requests(registry, repo, blob) == 1  # Distribution's 500, not retried
        assert run.err == (f"error: {repo}@{blob}: no manifest has that digest (HTTP 500); it is the digest of a "
                           f"blob in {repo}, a layer or a config (as inspect lists them), not of a model; "
                           f"`modelpack resolve {repo}:TAG` prints a model's digest\n")
        assert not (tmp_path / "out").exists()


def test_a_digest_of_nothing_and_the_models_own_are_unchanged(registry: object, tmp_path: Path) -> None:
    repo, desc, _ = _model(registry, tmp_path)
    nothing = modelpack("resolve", f"{repo}@sha256:{'0' * 64}", "--plain-http")
    assert nothing.code == 3 and "a blob in" not in nothing.err, nothing.err
    own = modelpack("resolve", f"{repo}@{desc.digest}", "--plain-http")
    assert (own.code, own.out) == (0, desc.digest + "\n"), own.err


def test_in_python_the_advice_names_the_function(registry: object, tmp_path: Path) -> None:
    repo, _, blobs = _model(registry, tmp_path)
    with pytest.raises(NotFoundError) as caught:
        mp.resolve(f"{repo}@{blobs[0]}", options=ClientOptions(plain_http=True, timeout=3))
    assert str(caught.value).endswith(f"modelpack.resolve('{repo}:TAG') gives a model's digest")


@pytest.mark.parametrize("command", [
    ("k8s",),
    ("k8s", "--kind", "image-volume", "--serving-image", "{repo}:1.0.0"),
    ("build-image", "-t", "{repo}-car:1", "--modelcar"),
])
def test_deployment_commands_name_the_nearest_tag(registry: object, tmp_path: Path, command: tuple[str, ...]) -> None:
    repo, _, _ = _model(registry, tmp_path)
    args = [a.format(repo=repo) for a in command]
    run = modelpack(args[0], *args[1:], f"{repo}:1.0", "--plain-http")
    assert (run.code, run.out) == (3, ""), run.err
    assert f"; did you mean 1.0.0? `modelpack ls {repo}` lists its versions\n" in run.err
