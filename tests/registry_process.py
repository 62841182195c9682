"""Run a real Distribution registry (``docker-registry serve``) as a child process for tests.

Stdlib + requests only; pytest-specific policy (skip or fail when the binary is missing) lives in
``conftest.py``.
"""

from __future__ import annotations

import atexit
import datetime
import functools
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REGISTRY_BIN_ENV = "MODELPACK_REGISTRY_BIN"
REGISTRY_BIN_NAMES = ("docker-registry", "registry")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
_PORT_RETRIES = 3

_live: set[subprocess.Popen[bytes]] = set()


class RegistryUnavailable(RuntimeError):
    """No registry binary could be found."""


class RegistryStartError(RuntimeError):
    """The registry binary exists but did not come up."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_registry_binary() -> str:
    """$MODELPACK_REGISTRY_BIN if set, else ``docker-registry`` or ``registry`` on PATH."""
    override = os.environ.get(REGISTRY_BIN_ENV)
    if override:
        found = shutil.which(override)
        if found is None:
            raise RegistryUnavailable(
                f"{REGISTRY_BIN_ENV}={override!r} is not an executable file or a command on PATH"
            )
        return found
    for name in REGISTRY_BIN_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise RegistryUnavailable(
        f"no Distribution registry binary: none of {', '.join(REGISTRY_BIN_NAMES)} is on PATH "
        f"and {REGISTRY_BIN_ENV} is not set"
    )


def _http_session(verify: bool) -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # never route 127.0.0.1 through an HTTP(S)_PROXY from the environment
    s.verify = verify
    return s


@dataclass
class Registry:
    """A running registry. ``stop()`` (or leaving a ``with`` block) ends the process."""

    host: str  # "127.0.0.1:PORT"
    url: str  # "http://127.0.0.1:PORT" (https when started with TLS)
    storage: Path  # filesystem storage root directory
    config_path: Path
    log_path: Path
    tls: bool = False
    auth: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def repo(self, prefix: str = "t") -> str:
        """A repository reference no other test uses: ``HOST/PREFIX/<8 hex chars>``."""
        return f"{self.host}/{prefix}/{uuid.uuid4().hex[:8]}"

    def session(self) -> requests.Session:
        """A requests session for talking to this registry (ignores proxy env; no TLS verification)."""
        return _http_session(verify=not self.tls)

    def log(self) -> str:
        """What the process has written to stdout/stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """Terminate the process; kill it if it has not exited after STOP_TIMEOUT seconds."""
        proc, self.process = self.process, None
        if proc is not None:
            _stop_process(proc)

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    _live.discard(proc)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@atexit.register
def _stop_leftovers() -> None:
    for proc in list(_live):
        _stop_process(proc)


def _yaml(value: dict[str, Any], indent: int = 0) -> str:
    """Block-style YAML for nested dicts of str/int/bool; strings are JSON-quoted (valid YAML)."""
    lines = []
    pad = "  " * indent
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(f"{pad}{key}:\n{_yaml(item, indent + 1)}")
        elif isinstance(item, bool):
            lines.append(f"{pad}{key}: {'true' if item else 'false'}")
        else:
            lines.append(f"{pad}{key}: {json.dumps(item)}")
    return "\n".join(lines)


def registry_config(
    storage: Path,
    port: int,
    *,
    auth_htpasswd: Path | None = None,
    tls: tuple[Path, Path] | None = None,
    auth_token: dict[str, str] | None = None,
    proxy: str | None = None,
    delete: bool = True,
) -> dict[str, Any]:
    """A Distribution config; with `proxy` (the URL of another registry), a pull-through cache of it;
    `delete=False` refuses every DELETE (405 UNSUPPORTED), as registries configured so do."""
    http: dict[str, Any] = {"addr": f"127.0.0.1:{port}", "secret": uuid.uuid4().hex}
    if tls is not None:
        cert, key = tls
        http["tls"] = {"certificate": str(cert), "key": str(key)}
    config: dict[str, Any] = {
        "version": "0.1",
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": delete}},
        "http": http,
    }
    if auth_htpasswd is not None:
        # registry 2.8 accepts bcrypt entries only (htpasswd -B).
        config["auth"] = {"htpasswd": {"realm": "modelpack-test", "path": str(auth_htpasswd)}}
    if auth_token is not None:
        # Bearer tokens: {"realm", "service", "issuer", "rootcertbundle"}, as Distribution's token auth.
        config["auth"] = {"token": dict(auth_token)}
    if proxy is not None:
        # A pull-through cache: misses are fetched from `proxy` and kept; the cache refuses pushes.
        config["proxy"] = {"remoteurl": proxy}
    return config


def _child_env() -> dict[str, str]:
    # REGISTRY_* variables override config.yml entries; keep the caller's out of the test registry.
    return {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}


def _tail(text: str, limit: int = 4000) -> str:
    text = text.strip()
    return text if len(text) <= limit else "...\n" + text[-limit:]


def _wait_ready(reg: Registry, exited: Callable[[], str | None], timeout: float) -> str | None:
    """None once GET /v2/ answers; else the reason it did not. 401 counts as ready with auth on.

    ``exited()`` says why the server is gone (None while it runs): a process here, a container in
    registry_container.py.
    """
    ok = {200, 401} if reg.auth else {200}
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    with reg.session() as http, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Unverified HTTPS request")
        while time.monotonic() < deadline:
            gone = exited()
            if gone is not None:
                return gone
            try:
                r = http.get(f"{reg.url}/v2/", timeout=2)
                if r.status_code in ok:
                    return None
                last = f"GET /v2/ answered {r.status_code}"
            except requests.RequestException as exc:
                last = f"GET /v2/ failed: {exc.__class__.__name__}"
            time.sleep(0.05)
    return f"not ready after {timeout:g} s ({last})"


def _exit_status(proc: subprocess.Popen[bytes]) -> str | None:
    return None if proc.poll() is None else f"process exited with status {proc.returncode}"


def start_registry(
    directory: Path,
    *,
    auth_htpasswd: Path | None = None,
    tls: tuple[Path, Path] | None = None,
    auth_token: dict[str, str] | None = None,
    proxy: str | None = None,
    delete: bool = True,
    binary: str | None = None,
    timeout: float = START_TIMEOUT,
) -> Registry:
    """Start a registry whose config, log and storage live under ``directory``; wait until it serves.

    Raises RegistryUnavailable if there is no binary, RegistryStartError (with the process's
    output) if it does not answer within ``timeout`` seconds.
    """
    binary = binary or find_registry_binary()
    directory.mkdir(parents=True, exist_ok=True)
    storage = directory / "storage"
    storage.mkdir(exist_ok=True)
    config_path = directory / "config.yml"
    log_path = directory / "registry.log"
    scheme = "https" if tls is not None else "http"

    failure = ""
    for _ in range(_PORT_RETRIES):
        port = free_port()
        config_path.write_text(
            _yaml(registry_config(storage, port, auth_htpasswd=auth_htpasswd, tls=tls, auth_token=auth_token,
                                  proxy=proxy, delete=delete)) + "\n"
        )
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [binary, "serve", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_child_env(),
            )
        _live.add(proc)
        reg = Registry(
            host=f"127.0.0.1:{port}",
            url=f"{scheme}://127.0.0.1:{port}",
            storage=storage,
            config_path=config_path,
            log_path=log_path,
            tls=tls is not None,
            auth=auth_htpasswd is not None or auth_token is not None,
            process=proc,
        )
        problem = _wait_ready(reg, functools.partial(_exit_status, proc), timeout)
        if problem is None:
            return reg
        reg.stop()
        output = reg.log()
        failure = (
            f"registry {binary} serve {config_path}: {problem}\n"
            f"--- registry output ---\n{_tail(output) or '(none)'}"
        )
        if "address already in use" not in output:
            break  # only a lost race for the port is worth another try
    raise RegistryStartError(failure)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA, valid for a day) and its key, written to
    `directory` as cert.pem and key.pem: a registry's `tls`, and the CA a client is given (`--ca-file`)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modelpack test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
