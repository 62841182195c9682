"""Shared fixtures: a real Distribution registry, reference OCI clients, an isolated modelpack home.

MODELPACK_TEST_REGISTRY picks how the registry runs: ``auto`` (default: a container where a Docker
engine answers, else the process), ``process`` (Debian's docker-registry as a child process) or
``container`` (testcontainers; image from MODELPACK_TEST_REGISTRY_IMAGE, default ``registry:2``).
Asking for ``container`` without a Docker engine stops the run with one line.

Missing external programs skip the tests that need them, except in CI (CI=true or CI=1), where they
fail: CI must not go green by skipping everything.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest

from fault_proxy import FaultProxy
from registry_process import Registry, RegistryStartError, RegistryUnavailable, start_registry

REPO_ROOT = Path(__file__).resolve().parents[1]

# Tests stop modelpack with Ctrl-C as a terminal sends it, to a foreground command. A suite started in the
# background (`cmd &` in a script) has SIGINT ignored, every child inherits that, and Python keeps an
# inherited SIG_IGN: those children could not be interrupted. A handler is not inherited across exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
TOOLS_DIR_ENV = "MODELPACK_TOOLS_DIR"
REGISTRY_MODE_ENV = "MODELPACK_TEST_REGISTRY"
REGISTRY_MODES = ("process", "container", "auto")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def missing(message: str) -> NoReturn:
    """Skip locally, fail in CI."""
    if in_ci():
        pytest.fail(f"{message} (CI is set, so this is a failure rather than a skip)", pytrace=False)
    pytest.skip(message)


def registry_mode() -> str:
    mode = os.environ.get(REGISTRY_MODE_ENV, "").strip().lower() or "auto"
    if mode not in REGISTRY_MODES:
        pytest.exit(f"{REGISTRY_MODE_ENV}={mode!r}: expected one of {', '.join(REGISTRY_MODES)}", returncode=4)
    if mode == "auto":
        from registry_container import engine_problem  # cached: the engine is asked once per session

        mode = "container" if engine_problem() is None else "process"
    return mode


def _start(directory: Path, **opts: Any) -> Registry:
    try:
        if registry_mode() == "container":
            # Imported only when asked for: the process mode needs neither testcontainers nor docker.
            from registry_container import EngineUnavailable
            from registry_container import start_registry as start_container

            try:
                return start_container(directory, **opts)
            except RegistryStartError as exc:  # e.g. an engine that cannot pull registry:2 offline
                error = RegistryStartError(f"{exc}\n(MODELPACK_TEST_REGISTRY=process runs Debian's docker-registry "
                                           "as a child process instead)")
                pytest.fail(str(error), pytrace=False)
            except EngineUnavailable as exc:
                # Asked for explicitly, so no silent fallback to the process, and no 300 identical failures.
                pytest.exit(f"{REGISTRY_MODE_ENV}=container: {exc}", returncode=4)
        return start_registry(directory, **opts)
    except (RegistryUnavailable, RegistryStartError) as exc:
        error = exc
    # Reported outside the except block, so pytest does not print the exception chain as well.
    if isinstance(error, RegistryUnavailable):
        missing(f"{error}; install it with `apt-get install docker-registry`")
    pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """One registry for the whole session; use ``registry.repo()`` for a repository of your own."""
    reg = _start(tmp_path_factory.mktemp("registry"))
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def proxy(registry: Registry) -> Iterator[FaultProxy]:
    """A FaultProxy in front of the session's registry: it records requests and injects faults."""
    with FaultProxy(registry.host) as p:
        yield p


@pytest.fixture
def fresh_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Registry]]:
    """Factory for a private registry: ``fresh_registry(auth_htpasswd=..., tls=(cert, key))``, or a
    pull-through cache of another: ``fresh_registry(proxy=origin.url)``."""
    started: list[Registry] = []

    def factory(**opts: Any) -> Registry:
        reg = _start(tmp_path_factory.mktemp("fresh-registry"), **opts)
        started.append(reg)
        return reg

    yield factory
    for reg in started:
        reg.stop()


def find_tool(name: str) -> Path | None:
    """$MODELPACK_TOOLS_DIR/bin, then <repo>/.tools/bin, then PATH."""
    candidates = []
    if os.environ.get(TOOLS_DIR_ENV):
        candidates.append(Path(os.environ[TOOLS_DIR_ENV]) / "bin" / name)
    candidates.append(REPO_ROOT / ".tools" / "bin" / name)
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    found = shutil.which(name)
    return Path(found) if found else None


def _tool(name: str) -> Path:
    path = find_tool(name)
    if path is None:
        missing(
            f"{name} not found in ${TOOLS_DIR_ENV}/bin, {REPO_ROOT / '.tools' / 'bin'} or PATH; "
            f"run `make tools` (scripts/fetch-oci-tools .tools)"
        )
    return path


@pytest.fixture(scope="session")
def oras_bin() -> Path:
    return _tool("oras")


@pytest.fixture(scope="session")
def crane_bin() -> Path:
    return _tool("crane")


@pytest.fixture(scope="session")
def cosign_bin() -> Path:
    return _tool("cosign")


@pytest.fixture
def notation(tmp_path: Path) -> Any:
    """The notation CLI with a test certificate of its own, trusted by its trust policy (notation_support.py)."""
    from notation_support import Notation

    return Notation(_tool("notation"), tmp_path / "notation-config")


@pytest.fixture
def pushed(registry: Registry, tmp_path: Path) -> tuple[str, str]:
    """(tag reference, digest reference) of a freshly pushed one-file model (signing, attestations)."""
    import modelpack as mp
    from modelpack.store.options import ClientOptions

    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(os.urandom(10_000))
    ref = registry.repo() + ":v1"
    result = mp.push(model, ref, options=ClientOptions(plain_http=True))
    return ref, ref.rsplit(":", 1)[0] + "@" + result.descriptor.digest


@pytest.fixture(autouse=True)
def modelpack_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own MODELPACK_HOME, an empty Docker credentials dir, an empty registries.conf and
    an empty folder of drop-ins in place of /etc/containers/registries.conf.d and
    ~/.config/containers/registries.conf.d (the machine's files must not route or refuse the tests' pulls:
    a test that wants drop-ins writes its own), empty XDG_RUNTIME_DIR and XDG_CONFIG_HOME (no containers
    auth file), and a signature policy that accepts anything (nor may the
    machine's policy.json judge them)."""
    home = tmp_path_factory.mktemp("modelpack-home")
    docker_config = tmp_path_factory.mktemp("docker-config")
    monkeypatch.setenv("MODELPACK_HOME", str(home))
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config))
    (docker_config / "registries.conf").write_text("")
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(docker_config / "registries.conf"))
    (docker_config / "registries.conf.d").mkdir()
    monkeypatch.setenv("MODELPACK_REGISTRIES_CONF_D", str(docker_config / "registries.conf.d"))
    accept = docker_config / "accept-anything-policy.json"
    accept.write_text('{"default": [{"type": "insecureAcceptAnything"}]}\n')
    monkeypatch.setenv("MODELPACK_SIGNATURE_POLICY", str(accept))
    # Nor may the machine's containers auth files lend credentials: read first, with or without registries.conf
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    for name in ("XDG_RUNTIME_DIR", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(name, str(tmp_path_factory.mktemp(name.lower())))
    return home


class ServerThreads:
    """Servers (modelpack.serve.http_server.InferenceServer) run on daemon threads of this process,
    stopped together at the end of a test."""

    def __init__(self) -> None:
        self.servers: list[Any] = []

    def start(self, server: Any) -> str:
        """Serve `server` on a thread; its base URL."""
        import threading

        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def serving() -> Iterator[Callable[..., str]]:
    """start(source, **serve_model kwargs) -> base URL of a V2 server running in this process."""
    import modelpack as mp

    threads = ServerThreads()
    yield lambda source, **kwargs: threads.start(mp.serve_model(source, host="127.0.0.1", port=0, **kwargs))
    threads.stop()


@pytest.fixture
def ui() -> Iterator[Callable[..., str]]:
    """start(targets, keys=()) -> the base URL of a `modelpack ui` served in this process (plain HTTP)."""
    from modelpack.store.layout import LayoutStore
    from modelpack.store.options import ClientOptions
    from modelpack.ui.server import make_ui_server
    from modelpack.ui.site import Site

    threads = ServerThreads()

    def start(targets: list[str], keys: Sequence[str] = ()) -> str:
        site = Site.from_arguments(targets, list(keys), ClientOptions(plain_http=True), LayoutStore())
        return threads.start(make_ui_server(site, "127.0.0.1", 0))

    yield start
    threads.stop()


@pytest.fixture
def grpc_serving() -> Iterator[Callable[[Path], tuple[str, str]]]:
    """start(folder) -> (REST base URL, gRPC host:port) of a server running in this process."""
    import modelpack as mp

    threads = ServerThreads()

    def start(folder: Path) -> tuple[str, str]:
        server = mp.serve_model(folder, port=0, grpc_port=0)
        return threads.start(server), f"127.0.0.1:{server.grpc_port}"

    yield start
    threads.stop()


@pytest.fixture
def auth_registry(fresh_registry: Callable[..., Registry], tmp_path: Path) -> Registry:
    """A registry that answers only AUTH_USER:AUTH_PASSWORD (htpasswd), logged in to in this test's
    docker config."""
    import modelpack as mp
    from helpers import htpasswd_file
    from modelpack.store.options import ClientOptions

    reg = fresh_registry(auth_htpasswd=htpasswd_file(tmp_path / "htpasswd", AUTH_USER, AUTH_PASSWORD))
    mp.login(reg.host, AUTH_USER, AUTH_PASSWORD, options=ClientOptions(plain_http=True))
    return reg


AUTH_USER, AUTH_PASSWORD = "ui-user", "Pa55-ui-Secret-7q"


@pytest.fixture
def settled_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hash cache vouches for files written a moment ago (it normally waits until a change could no
    longer keep their stat, see hashcache.RACY_NS): for tests of what it keeps and finds."""
    from modelpack.packing import hashcache

    monkeypatch.setattr(hashcache, "RACY_NS", 0)
    monkeypatch.setattr(hashcache, "RACY_WHOLE_SECONDS_NS", 0)
