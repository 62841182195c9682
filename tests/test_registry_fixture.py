"""Tests of the test fixtures themselves: the registry really is a working OCI registry."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from urllib.parse import urljoin

from registry_process import Registry


def _push_blob(reg: Registry, name: str, data: bytes) -> str:
    """Monolithic upload: POST to open an upload session, one PUT with the whole blob."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with reg.session() as http:
        r = http.post(f"{reg.url}/v2/{name}/blobs/uploads/", timeout=10)
        assert r.status_code == 202, r.text
        location = urljoin(f"{reg.url}/", r.headers["Location"])
        r = http.put(
            location,
            params={"digest": digest},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        assert r.headers["Docker-Content-Digest"] == digest
    return digest


def test_v2_endpoint_answers(registry: Registry) -> None:
    with registry.session() as http:
        r = http.get(f"{registry.url}/v2/", timeout=10)
    assert r.status_code == 200
    assert r.headers.get("Docker-Distribution-Api-Version") == "registry/2.0"


def test_repo_names_are_unique(registry: Registry) -> None:
    a, b = registry.repo(), registry.repo("other")
    assert a != b
    assert a.startswith(f"{registry.host}/t/")
    assert b.startswith(f"{registry.host}/other/")


def test_blob_round_trip(registry: Registry) -> None:
    name = registry.repo().split("/", 1)[1]
    data = os.urandom(4096) + b"modelpack"
    digest = _push_blob(registry, name, data)

    with registry.session() as http:
        r = http.get(f"{registry.url}/v2/{name}/blobs/{digest}", timeout=10)
        missing = http.get(f"{registry.url}/v2/{name}/blobs/sha256:{'0' * 64}", timeout=10)
    assert r.status_code == 200
    assert r.content == data
    assert missing.status_code == 404

    hexdigest = digest.split(":", 1)[1]
    stored = registry.storage / "docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest / "data"
    assert stored.read_bytes() == data


def test_fresh_registry_is_separate(registry: Registry, fresh_registry) -> None:
    other = fresh_registry()
    assert other.host != registry.host
    assert other.storage != registry.storage
    name = other.repo().split("/", 1)[1]
    digest = _push_blob(other, name, b"only in the fresh registry")
    with registry.session() as http:
        r = http.head(f"{registry.url}/v2/{name}/blobs/{digest}", timeout=10)
    assert r.status_code == 404
    other.stop()
    assert other.process is None


def test_modelpack_home_is_isolated(modelpack_home: Path) -> None:
    assert os.environ["MODELPACK_HOME"] == str(modelpack_home)
    assert modelpack_home.is_dir() and not any(modelpack_home.iterdir())
    docker_config = Path(os.environ["DOCKER_CONFIG"])
    assert docker_config.is_dir() and docker_config != Path.home() / ".docker"


def test_oras_runs(oras_bin: Path) -> None:
    out = subprocess.run([oras_bin, "version"], capture_output=True, text=True, timeout=30, check=True)
    assert "Version:" in out.stdout
