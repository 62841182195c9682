"""`modelpack.Client`: the verbs as methods of one object holding the registry options, one connection
pool and token cache per registry host, and the local store (as `huggingface_hub.HfApi` does).

    import modelpack
    client = modelpack.Client(plain_http=True)
    client.push("./model", "localhost:5000/team/iris:1.0")
    client.pull("localhost:5000/team/iris:1.0", output="./iris")
    for version in client.list_versions("localhost:5000/team/iris", where=["metrics.accuracy>=0.9"]):
        print(version.tag, version.digest)

The module-level functions (`modelpack.pull`, ...) stay: each call there gets its own options and pool.
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from modelpack.api import (
    attesting,
    bom,
    catalog,
    core,
    deploy,
    deployment_yaml,
    lineage_reading,
    local_models,
    pulling,
    pushing,
    registry_login,
    remote_removal,
    reporting,
    serving,
    signing,
    store_unpack,
)
from modelpack.api import store as store_api
from modelpack.store.credentials import Credentials
from modelpack.store.layout import LayoutStore
from modelpack.store.options import MAX_TIMEOUT, ClientOptions, default_plain_http, default_timeout

P = ParamSpec("P")
R = TypeVar("R")


def _bound(func: Callable[P, R]) -> Callable[Concatenate[Client, P], R]:
    """A method calling `func` with the client's `options` and `store` (where `func` takes them); the
    method shows `func`'s documentation and signature, less those two parameters (a type checker sees
    `func`'s own, so it checks each call's arguments and knows what it returns)."""
    parameters = inspect.signature(func).parameters
    takes_options, takes_store = "options" in parameters, "store" in parameters

    def method(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if takes_options:
            kwargs.setdefault("options", self.options)
        if takes_store:
            kwargs.setdefault("store", self.store)
        with self._calling(func.__name__):
            return func(*args, **kwargs)

    signature = inspect.signature(func)
    kept = [p for name, p in signature.parameters.items() if name not in ("options", "store")]
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    method.__signature__ = signature.replace(parameters=[self_param, *kept])  # type: ignore[attr-defined]
    method.__name__ = func.__name__
    method.__qualname__ = f"Client.{func.__name__}"
    method.__doc__ = func.__doc__
    return method


class Client:
    """Registry options, a connection pool and token cache per registry host, and the local store,
    shared by every call made through it.

    Args:
        plain_http: HTTP instead of HTTPS (test registries); default: MODELPACK_PLAIN_HTTP.
        insecure: skip TLS certificate verification.
        ca_file: PEM file of CA certificates to trust.
        timeout: total seconds a metadata request may take, retries included (default:
            MODELPACK_TIMEOUT, else 120).
        credentials: for the registries this client talks to, instead of the docker config.
        store: the local store, or its directory (default: MODELPACK_HOME).
        options: all the registry settings at once (then the arguments above must be left out).

    Raises:
        UsageError: `options` given together with other settings, or a `timeout` not above 0 and at most
            MAX_TIMEOUT seconds.
    """

    def __init__(self, *, plain_http: bool | None = None, insecure: bool = False, ca_file: str | None = None,
                 timeout: float | None = None, credentials: Credentials | None = None,
                 store: LayoutStore | str | Path | None = None, options: ClientOptions | None = None) -> None:
        from modelpack.errors import UsageError

        if options is not None and (plain_http is not None or insecure or ca_file or timeout is not None
                                    or credentials):
            raise UsageError("Client(options=...) already holds the registry settings: pass one or the other")
        if options is None:
            # The timeout through the constructor, which refuses one that cannot bound a request.
            options = ClientOptions(plain_http=default_plain_http() if plain_http is None else plain_http,
                                    insecure=insecure, ca_file=ca_file, credentials=credentials,
                                    timeout=default_timeout() if timeout is None else timeout)
        self.options = options
        self.store = store if isinstance(store, LayoutStore) else LayoutStore(Path(store) if store else None)
        self._state = threading.Condition()
        self._running = 0  # calls under way, in any thread
        self._mine = threading.local()  # calls under way in this thread (close() from a callback)
        self._closed = False

    def close(self, timeout: float | None = None) -> bool:
        """End the client: new calls are refused at once (UsageError); calls under way in other threads
        finish as they would have (each bounded by the registry timeouts, a transfer by its progress).
        close() waits for them up to `timeout` seconds, then closes the connections and ends the transfer
        threads; if they are still running then, the last of them closes those when it ends. Or use the
        client as a context manager: `with modelpack.Client() as client: ...`. Closing again does nothing
        more. (Options you passed are closed with the client; a repository or lineage iterator the client
        returned keeps working on them, opening connections of its own.) From a hook a call runs in the
        calling thread (`warn`), close() does not wait for that call; from one run on a worker thread
        (`copy_options`' `on_blob_done`, `progress`) it cannot tell that call from another: pass `timeout=0`.

        Args:
            timeout: seconds to wait for the calls under way (None: until they end; 0: not at all).

        Returns:
            Whether every call had ended (and so everything was closed) when close() returned; False when
            called from inside a call of this client (a progress hook): that call closes them as it ends.

        Raises:
            UsageError: `timeout` is negative or not a number.
        """
        from modelpack.errors import UsageError

        if timeout is not None and not 0 <= timeout <= MAX_TIMEOUT:
            raise UsageError(f"timeout={timeout!r} is not a number of seconds from 0 to {MAX_TIMEOUT:.0f}")
        own = getattr(self._mine, "calls", 0)  # called from inside a call (a hook): not waited for
        with self._state:
            self._closed = True
            ended = self._state.wait_for(lambda: self._running == own, timeout)
        if ended and not own:
            self.options.close()
        return ended and not own

    @contextlib.contextmanager
    def _calling(self, verb: str) -> Iterator[None]:
        """Count a call under way; refuse it once the client is closed (its connections would be opened
        again, and never closed)."""
        from modelpack.errors import UsageError

        with self._state:
            if self._closed:
                raise UsageError(f"Client.{verb}(): this client is closed; make a new modelpack.Client()")
            self._running += 1
        self._mine.calls = getattr(self._mine, "calls", 0) + 1
        try:
            yield
        finally:
            self._mine.calls -= 1
            with self._state:
                self._running -= 1
                last = self._closed and self._running == 0
                self._state.notify_all()
            if last:  # close() gave up waiting (or is waiting): the last call out closes
                self.options.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(plain_http={self.options.plain_http}, store={str(self.store.root)!r})"

    pack = _bound(core.pack)
    push = _bound(pushing.push)
    pull = _bound(pulling.pull)
    unpack = _bound(store_unpack.unpack)
    inspect = _bound(core.inspect)
    lineage = _bound(lineage_reading.lineage)
    list_models = _bound(local_models.list_models)
    tag = _bound(local_models.tag)
    remove = _bound(local_models.remove)
    login = _bound(registry_login.login)
    remote = _bound(core.remote)
    copy_model = _bound(catalog.copy_model)
    diff = _bound(catalog.diff)
    list_repositories = _bound(catalog.list_repositories)
    list_versions = _bound(catalog.list_versions)
    remove_remote = _bound(remote_removal.remove_remote)
    resolve = _bound(catalog.resolve)
    tag_remote = _bound(catalog.tag_remote)
    sign = _bound(signing.sign)
    verify = _bound(signing.verify)
    attest = _bound(attesting.attest)
    verify_attestation = _bound(attesting.verify_attestation)
    sbom = _bound(bom.sbom)
    attest_provenance = _bound(attesting.attest_provenance)
    build_report = _bound(reporting.build_report)
    build_image = _bound(deploy.build_image)
    kubernetes = _bound(deployment_yaml.kubernetes)
    serve_model = _bound(serving.serve_model)
    check_store = _bound(store_api.check_store)
    gc_store = _bound(store_api.gc_store)
