"""Which CAs a TLS registry is checked against, from the environment: OpenSSL's SSL_CERT_FILE and
SSL_CERT_DIR, which crane (checked here), oras, skopeo and containerd read, so a platform that sets its CA
there once reaches modelpack too (it read only REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE); and a variable
naming no file makes the failure say so (it was `TLS connection to HOST failed` alone)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import Registry, self_signed_certificate

# The machine's own bundle variables would win over OpenSSL's: empty means unset to modelpack.
NO_REQUESTS_BUNDLE = {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": "", "SSL_CERT_FILE": "", "SSL_CERT_DIR": ""}


@pytest.fixture
def tls_registry(fresh_registry: Callable[..., Registry], tmp_path: Path) -> tuple[Registry, Path]:
    cert, key = self_signed_certificate(tmp_path)
    return fresh_registry(tls=(cert, key)), cert


def _model(tmp_path: Path) -> Path:
    model = tmp_path / "m"
    model.mkdir(exist_ok=True)
    (model / "w.bin").write_bytes(b"weights")
    return model


def test_ssl_cert_file_is_trusted_as_crane_trusts_it(tls_registry: tuple[Registry, Path], tmp_path: Path,
                                                     crane_bin: Path) -> None:
    reg, cert = tls_registry
    ref = reg.repo() + ":1"
    refused = modelpack("push", str(_model(tmp_path)), ref, env=NO_REQUESTS_BUNDLE)
    assert refused.code == 5 and "not trusted" in refused.err, refused.err
    run = modelpack("push", "--json", str(_model(tmp_path)), ref,
                    env={**NO_REQUESTS_BUNDLE, "SSL_CERT_FILE": str(cert)})
    assert run.code == 0, run.err
    crane = subprocess.run([str(crane_bin), "digest", ref], capture_output=True, text=True,
                           env={"PATH": "/usr/bin:/bin", "SSL_CERT_FILE": str(cert), "HOME": str(tmp_path)})
    assert crane.returncode == 0, crane.stderr
    assert crane.stdout.strip() in run.out


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to hash a CA folder")
def test_ssl_cert_dir_is_trusted(tls_registry: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, cert = tls_registry
    folder = tmp_path / "cas"
    folder.mkdir()
    shutil.copy(cert, folder / "registry.pem")
    subprocess.run(["openssl", "rehash", str(folder)], check=True, capture_output=True)
    env = {**NO_REQUESTS_BUNDLE, "SSL_CERT_DIR": f"{tmp_path / 'missing'}:{folder}"}  # a list, as OpenSSL reads
    run = modelpack("push", str(_model(tmp_path)), reg.repo() + ":1", env=env)
    assert run.code == 0, run.err


def test_a_bundle_variable_naming_no_file_is_named(tls_registry: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, _ = tls_registry
    missing = tmp_path / "nowhere.pem"
    run = modelpack("inspect", "--remote", reg.repo() + ":1", env={"REQUESTS_CA_BUNDLE": str(missing)})
    assert run.code == 5
    assert run.err == (f"error: TLS connection to {reg.host} failed: REQUESTS_CA_BUNDLE={missing} names no CA "
                       "file or folder; fix or unset it\n")


def test_a_ca_installed_in_the_system_bundle_is_trusted_as_oras_trusts_it(
        tls_registry: tuple[Registry, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No --ca-file and no variable: the system's CA bundle is what a TLS registry is checked against (a
    company CA added with update-ca-certificates), as Go's tools read it; certifi's only where the system
    has none. The system bundle here is a copy of the machine's with the registry's CA appended."""
    import certifi

    import modelpack as mp
    from modelpack.errors import TransportError
    from modelpack.store import options as trust
    from modelpack.store.options import ClientOptions

    reg, cert = tls_registry
    for name in NO_REQUESTS_BUNDLE:
        monkeypatch.delenv(name, raising=False)
    system = tmp_path / "ca-certificates.crt"
    system.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + cert.read_bytes())
    store = mp.LayoutStore(tmp_path / "store")

    monkeypatch.setattr(trust, "system_bundle_candidates", lambda: (None, str(tmp_path / "absent.crt"), str(system)))
    trust.default_bundle.cache_clear()
    try:
        assert trust.default_bundle() == str(system)
        mp.push(_model(tmp_path), reg.repo() + ":system", options=ClientOptions(), store=store)

        monkeypatch.setattr(trust, "system_bundle_candidates", lambda: (str(tmp_path / "absent.crt"),))
        trust.default_bundle.cache_clear()
        assert trust.default_bundle() == certifi.where()
        with pytest.raises(TransportError, match="not trusted"):
            mp.push(_model(tmp_path), reg.repo() + ":certifi", options=ClientOptions(), store=store)
    finally:
        trust.default_bundle.cache_clear()


def test_the_default_bundle_is_the_systems_where_it_has_one() -> None:
    from modelpack.store import options as trust

    present = [path for path in trust.system_bundle_candidates() if path and Path(path).is_file()]
    if not present:
        pytest.skip("this machine has no system CA bundle")  # (Debian's CI has /etc/ssl/certs/ca-certificates.crt)
    assert trust.default_bundle() == present[0]
