"""Helpers shared by the integration tests: run the real CLI, build model directories, compare trees."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import modelpack as mp
from modelpack.store.options import ClientOptions

if TYPE_CHECKING:
    from registry_process import Registry


@dataclass
class Run:
    code: int
    out: str
    err: str


def modelpack(*args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 120,
              cwd: Path | None = None) -> Run:
    """Run the real `modelpack` command in a child process (exit codes and stderr as a user sees them)."""
    proc = subprocess.run(
        [sys.executable, "-m", "modelpack", *args],
        capture_output=True,
        cwd=cwd,
        text=True,
        env={**os.environ, **(env or {})},
        input=stdin,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def git(cwd: Path, *args: str) -> str:
    """`git ARGS` in `cwd`, none of the user's or the system's configuration read (an identity given for a
    commit, no signing); its output, stripped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    return subprocess.run(["git", "-c", "user.email=a@b", "-c", "user.name=n", "-c", "commit.gpgsign=false", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()


def assert_stopped_by(stop: signal.Signals, returncode: int | None, err: str) -> None:
    """A command stopped by SIGINT or SIGTERM exits 130 or 143 and says only `error: interrupted` (`terminated`)."""
    code, word = (130, "interrupted") if stop == signal.SIGINT else (143, "terminated")
    assert returncode == code, err
    assert err.strip().splitlines() == [f"error: {word}"], err


def own_auth_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the containers auth files (and HOME) into `tmp_path`: HOME `user/`, XDG_RUNTIME_DIR `run/`
    (made, 0700), XDG_CONFIG_HOME `config/`, no REGISTRY_AUTH_FILE.

    Returns:
        The primary auth file's path, `run/containers/auth.json` (not made).
    """
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    (tmp_path / "run").mkdir(mode=0o700)
    (tmp_path / "user").mkdir(exist_ok=True)
    return tmp_path / "run" / "containers" / "auth.json"


def htpasswd_file(path: Path, user: str, password: str) -> Path:
    """An htpasswd file (bcrypt: registry 2.8 accepts no other) for a registry's basic auth."""
    subprocess.run(["htpasswd", "-Bbc", str(path), user, password], check=True, capture_output=True)
    return path


def push_weight(repository: str, folder: Path, size: int) -> tuple[str, bytes, str]:
    """Push (plain HTTP) a model of one random weight, `w.safetensors` of `size` bytes, built in
    `folder`/m, to `repository`:1.

    Returns:
        The reference pushed, the weight's bytes and their sha256 (hex).
    """
    model = folder / "m"
    model.mkdir()
    weight = os.urandom(size)
    (model / "w.safetensors").write_bytes(weight)
    ref = repository + ":1"
    mp.push(model, ref, options=ClientOptions(plain_http=True))
    return ref, weight, hashlib.sha256(weight).hexdigest()


def make_tricky_model(root: Path) -> Path:
    """Nested folders, names with spaces, an empty file, an executable script, a read-only file."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "weights").mkdir()
    (root / "weights" / "model part 1.safetensors").write_bytes(os.urandom(200_000))
    (root / "weights" / "nested" / "deeper").mkdir(parents=True)
    (root / "weights" / "nested" / "deeper" / "shard.bin").write_bytes(os.urandom(50_000))
    (root / "empty.txt").write_bytes(b"")
    script = root / "run model.sh"
    script.write_text("#!/bin/sh\necho serving\n")
    script.chmod(0o755)
    ro = root / "config.json"
    ro.write_text('{"hidden_size": 8}\n')
    ro.chmod(0o444)
    (root / "README.md").write_text("# tricky\n")
    (root / "modelpack.yaml").write_text("name: tricky\nversion: '2.0'\nmetrics: {accuracy: 0.5}\n")
    return root


def tree(root: Path, skip: tuple[str, ...] = ("modelpack.yaml",)) -> dict[str, tuple[str, int]]:
    """relative path -> (sha256, permission bits) of every file below root."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and rel not in skip:
            out[rel] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mode & 0o777)
    return out



def push_legacy_signature(tag_ref: str, subject: str, public_path: Path, *, optional: dict[str, str] | None = None,
                          kind: str = "cosign container image signature") -> str:
    """cosign's older layout, built the way cosign 2 wrote it, signed by a new key whose public half goes to
    `public_path`: a manifest tagged `sha256-<hex>.sig` whose simple-signing layer carries the signature in
    an annotation. Returns the tag."""
    import base64
    import io
    import json

    import modelpack as mp
    from modelpack.oci import digest as digests
    from modelpack.oci.descriptor import Descriptor, Manifest
    from modelpack.signatures import keys
    from modelpack.signatures.lookup import fallback_tag
    from modelpack.signatures.referrers import COSIGN_SIGNATURE_ANNOTATION, SIMPLE_SIGNING
    from modelpack.store.options import ClientOptions

    signer = keys.generate()
    public_path.write_bytes(keys.public_pem(signer.public_key))
    payload = json.dumps({"critical": {"identity": {"docker-reference": tag_ref.rsplit(":", 1)[0]},
                                       "image": {"docker-manifest-digest": subject}, "type": kind},
                          "optional": optional or {}}).encode()
    repo = mp.remote(mp.Reference.parse(tag_ref), ClientOptions(plain_http=True))
    layer = Descriptor(mediaType=SIMPLE_SIGNING, digest=digests.of_bytes(payload), size=len(payload),
                       annotations={COSIGN_SIGNATURE_ANNOTATION: base64.b64encode(signer.sign(payload)).decode()})
    config = b'{"architecture":"","os":""}'
    config_desc = Descriptor(mediaType="application/vnd.oci.image.config.v1+json", digest=digests.of_bytes(config),
                             size=len(config))
    for desc, data in ((layer, payload), (config_desc, config)):
        repo.push_blob(desc, lambda data=data: io.BytesIO(data))
    manifest = Manifest(config=config_desc, layers=[layer]).canonical_bytes()
    tag = fallback_tag(subject) + ".sig"
    repo.put_manifest(Descriptor(mediaType="application/vnd.oci.image.manifest.v1+json",
                                 digest=digests.of_bytes(manifest), size=len(manifest)), manifest, tag)
    return tag


def push_edited_manifest(registry: Registry, ref: str, annotations: dict[str, str], tag: str) -> str:
    """Push the manifest `ref` (`HOST/REPO:TAG` on `registry`) again under `tag`, its annotations updated with
    `annotations`, as a hand or another tool could write it; the new reference."""
    repo, old_tag = ref.split("/", 1)[1].rsplit(":", 1)
    media_type = "application/vnd.oci.image.manifest.v1+json"
    session = registry.session()
    base = f"http{'s' if registry.tls else ''}://{registry.host}/v2/{repo}/manifests"
    got = session.get(f"{base}/{old_tag}", headers={"Accept": media_type}, timeout=30)
    got.raise_for_status()
    manifest = got.json()
    manifest["annotations"].update(annotations)
    put = session.put(f"{base}/{tag}", data=json.dumps(manifest).encode(), headers={"Content-Type": media_type},
                      timeout=30)
    put.raise_for_status()
    return f"{registry.host}/{repo}:{tag}"
