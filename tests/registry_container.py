"""Run the test registry as a container (``registry:2`` or a stand-in) with testcontainers.

Chosen with MODELPACK_TEST_REGISTRY=container; the image comes from MODELPACK_TEST_REGISTRY_IMAGE.
Returns the same ``Registry`` as registry_process.py, so tests cannot tell the two apart: the storage,
config and log live in a host directory that is bind-mounted into the container, which is why the
engine must run on this machine (a local socket, Docker Desktop, podman's Docker API).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry_process import Registry, RegistryStartError, _tail, _wait_ready, _yaml, free_port, registry_config

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

IMAGE_ENV = "MODELPACK_TEST_REGISTRY_IMAGE"
DEFAULT_IMAGE = "registry:2"
START_TIMEOUT = 60.0  # includes a first pull of the image
PORT = 5000  # registry:2 listens here
# registry:2's own paths, so the official image and a stand-in (scripts/podman-registry-image) both work.
CONFIG_IN = "/etc/docker/registry/config.yml"
STORAGE_IN = "/var/lib/registry"
FILES_IN = "/modelpack"  # htpasswd, TLS pair, token bundle

_live: dict[int, ContainerRegistry] = {}  # by id(): dataclasses with eq are unhashable


class EngineUnavailable(RuntimeError):
    """Container mode was asked for, but testcontainers or a Docker engine is missing."""


@functools.cache
def engine_problem() -> str | None:
    """None when a Docker-API engine answers; else one line saying why not. Asked once per session."""
    try:
        from testcontainers.core.docker_client import DockerClient
    except ImportError:
        return "the testcontainers package is not installed (pip install -e '.[dev]')"
    where = os.environ.get("DOCKER_HOST") or "the default socket"
    try:
        DockerClient().client.ping()
    except Exception as exc:  # docker-py raises several unrelated types for "nobody there"
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        return f"no Docker engine answers at {where} (set DOCKER_HOST): {detail}"
    return None


@dataclass
class ContainerRegistry(Registry):
    """A Registry whose server is a container; ``process`` stays None, ``stop()`` removes the container."""

    container: DockerContainer | None = field(default=None, repr=False)

    def log(self) -> str:
        if self.container is None:
            return super().log()  # saved by stop()
        try:
            out, err = self.container.get_logs()
        except Exception:  # the engine may already have removed it
            return super().log()
        return (out + err).decode(errors="replace")

    def stop(self) -> None:
        container, self.container = self.container, None
        _live.pop(id(self), None)
        if container is None:
            return
        try:
            out, err = container.get_logs()
            self.log_path.write_bytes(out + err)  # log() keeps working after stop, as with a process
        except Exception:
            pass
        container.stop()  # force-removes

    def _exited(self) -> str | None:
        if self.container is None:
            return "container was removed"
        wrapped = self.container.get_wrapped_container()  # docker-py's Container
        wrapped.reload()
        if wrapped.status in {"exited", "dead"}:
            return f"container {wrapped.status} with status {wrapped.attrs.get('State', {}).get('ExitCode')}"
        return None


@atexit.register
def _stop_leftovers() -> None:
    for reg in list(_live.values()):
        reg.stop()


def _mount(directory: Path, source: Path, name: str) -> str:
    """Copy ``source`` into ``directory/files`` and return its path inside the container.

    One mounted directory rather than one mount per file: fewer moving parts for the engine, and the
    registry's whole setup stays under ``directory`` as with the process fixture.
    """
    files = directory / "files"
    files.mkdir(exist_ok=True)
    shutil.copyfile(source, files / name)
    return f"{FILES_IN}/{name}"


def start_registry(
    directory: Path,
    *,
    auth_htpasswd: Path | None = None,
    tls: tuple[Path, Path] | None = None,
    auth_token: dict[str, str] | None = None,
    proxy: str | None = None,
    delete: bool = True,
    image: str | None = None,
    timeout: float = START_TIMEOUT,
) -> Registry:
    """Like registry_process.start_registry, but the registry runs in a container.

    Raises EngineUnavailable without an engine, RegistryStartError (with the container's output)
    if the image cannot be had or the registry does not answer within ``timeout`` seconds.
    """
    problem = engine_problem()
    if problem is not None:
        raise EngineUnavailable(problem)
    from testcontainers.core.container import DockerContainer

    image = image or os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE
    directory.mkdir(parents=True, exist_ok=True)
    storage = directory / "storage"
    storage.mkdir(exist_ok=True)
    config_path = directory / "config.yml"
    log_path = directory / "registry.log"

    # Same config as the process fixture, with paths as the container sees them.
    inside_tls = None
    if tls is not None:
        inside_tls = (Path(_mount(directory, tls[0], "cert.pem")), Path(_mount(directory, tls[1], "key.pem")))
    inside_htpasswd = Path(_mount(directory, auth_htpasswd, "htpasswd")) if auth_htpasswd else None
    inside_token: dict[str, str] | None = None
    if auth_token is not None:
        # The realm is fetched by the client, not the registry, so 127.0.0.1 URLs stay valid.
        bundle = _mount(directory, Path(auth_token["rootcertbundle"]), "token.pem")
        inside_token = dict(auth_token, rootcertbundle=bundle)
    # A pull-through cache (`proxy`) must reach its upstream at a 127.0.0.1 URL, which in a container's
    # own network is the container itself: it shares the host's network instead, on a free port there.
    host_port = free_port() if proxy is not None else None
    config: dict[str, Any] = registry_config(
        Path(STORAGE_IN), host_port or PORT, auth_htpasswd=inside_htpasswd, tls=inside_tls, auth_token=inside_token,
        proxy=proxy, delete=delete,
    )
    # All interfaces of the container (the engine publishes the port), or the host's loopback.
    config["http"]["addr"] = f"127.0.0.1:{host_port}" if host_port else f":{PORT}"
    config_path.write_text(_yaml(config) + "\n")

    container = (
        DockerContainer(image)
        .with_volume_mapping(str(storage), STORAGE_IN, "rw")
        .with_volume_mapping(str(config_path), CONFIG_IN, "ro")
        # Run as the caller, as the process fixture does: storage files stay readable and removable.
        # (Rootless podman maps this uid to a sub-uid that cannot write the mount; run it rootful.)
        .with_kwargs(user=f"{os.getuid()}:{os.getgid()}")
    )
    if (directory / "files").is_dir():
        container.with_volume_mapping(str(directory / "files"), FILES_IN, "ro")
    if host_port:
        container.with_kwargs(user=f"{os.getuid()}:{os.getgid()}", network_mode="host")
    else:
        # Published on the host's loopback only (docker-py: a one-tuple is "this IP, any port").
        container.ports[f"{PORT}/tcp"] = ("127.0.0.1",)  # type: ignore[assignment]

    try:
        container.start()
        if not host_port:
            host_port = container.get_docker_client().port(container.get_container_id(), PORT)
    except Exception as exc:  # pull refused, bad image, port not published: one readable line each
        with contextlib.suppress(Exception):
            container.stop()
        hint = ""
        if "ryuk" in str(exc):  # testcontainers' reaper image, pulled before ours; we remove our own containers
            hint = " (offline? TESTCONTAINERS_RYUK_DISABLED=true does without the reaper)"
        raise RegistryStartError(f"registry container {image}: {exc.__class__.__name__}: {exc}{hint}") from None

    # The bind mounts already require a local engine, so the published port is on 127.0.0.1.
    host = f"127.0.0.1:{host_port}"
    reg = ContainerRegistry(
        host=host,
        url=f"{'https' if tls is not None else 'http'}://{host}",
        storage=storage,
        config_path=config_path,
        log_path=log_path,
        tls=tls is not None,
        auth=auth_htpasswd is not None or auth_token is not None,
        container=container,
    )
    _live[id(reg)] = reg
    problem = _wait_ready(reg, reg._exited, timeout)
    if problem is None:
        return reg
    output = reg.log()
    reg.stop()
    raise RegistryStartError(
        f"registry container {image}: {problem}\n--- registry output ---\n{_tail(output) or '(none)'}"
    )
