"""How to reach a registry: `ClientOptions`, with its defaults from the environment.

The options also own the per-host clients made with them (one connection pool and token cache per
registry host), and the variants registries.conf endpoints need (plain HTTP, unchecked TLS, a mirror).
"""

from __future__ import annotations

import functools
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from modelpack.errors import UsageError
from modelpack.store.endpoint_health import EndpointHealth

if TYPE_CHECKING:
    from modelpack.store.client import RegistryClient
    from modelpack.store.credentials import Credentials

P = ParamSpec("P")
R = TypeVar("R")
DEFAULT_TIMEOUT = 120.0
# libcurl takes a timeout in milliseconds as a C long (32 bits on some systems): past this, it overflows.
MAX_TIMEOUT = 1_000_000.0
MIRROR_CONNECT_TIMEOUT = 3.0  # a dead mirror costs this once, then the next endpoint is tried
_TRUE, _FALSE = ("1", "true", "t", "yes", "y", "on"), ("", "0", "false", "f", "no", "n", "off")


def default_plain_http() -> bool:
    """MODELPACK_PLAIN_HTTP as a yes/no (as the CLI's --plain-http reads it), else False.

    Raises:
        UsageError: the variable is neither.
    """
    value = os.environ.get("MODELPACK_PLAIN_HTTP", "").strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise UsageError(f"MODELPACK_PLAIN_HTTP={value!r} is not a yes/no value (1, true, yes, on / 0, false, no, off)")


def default_timeout() -> float:
    """MODELPACK_TIMEOUT (seconds), else two minutes.

    Raises:
        UsageError: the variable is not a positive number.
    """
    value = os.environ.get("MODELPACK_TIMEOUT", "").strip()
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not usable_timeout(seconds):
        raise UsageError(f"MODELPACK_TIMEOUT={value!r} {TIMEOUT_RANGE}")
    return seconds


TIMEOUT_RANGE = f"is not a number of seconds above 0 and at most {MAX_TIMEOUT:.0f}"


def usable_timeout(seconds: object) -> bool:
    """Whether `seconds` can bound a request: a number above 0, at most MAX_TIMEOUT (so neither nan nor inf)."""
    return _number(seconds) and 0 < seconds <= MAX_TIMEOUT  # type: ignore[operator]


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


MAX_RETRIES = 100  # each retry waits at most max_backoff and one attempt: a bounded total
_SETTING_CHECKS: dict[str, Callable[[object], bool]] = {
    "timeout": usable_timeout, "connect_timeout": usable_timeout, "read_timeout": usable_timeout,
    "backoff": lambda v: _number(v) and 0 <= v <= MAX_TIMEOUT,  # type: ignore[operator]
    "max_backoff": lambda v: _number(v) and 0 <= v <= MAX_TIMEOUT,  # type: ignore[operator]
    "retries": lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_RETRIES,
    # A string is true whatever it says: `plain_http=os.environ.get("PLAIN")` holding "false" sent HTTP.
    "plain_http": lambda v: isinstance(v, bool), "insecure": lambda v: isinstance(v, bool),
}
_SETTING_RANGES = {
    "timeout": TIMEOUT_RANGE, "connect_timeout": TIMEOUT_RANGE, "read_timeout": TIMEOUT_RANGE,
    "backoff": f"is not a number of seconds from 0 to {MAX_TIMEOUT:.0f}",
    "max_backoff": f"is not a number of seconds from 0 to {MAX_TIMEOUT:.0f}",
    "retries": f"is not a whole number from 0 to {MAX_RETRIES}",
    "plain_http": "is not True or False (a text such as 'false' would count as true)",
    "insecure": "is not True or False (a text such as 'false' would count as true)",
}


@dataclass
class ClientOptions:
    """How to talk to a registry. The defaults are the safe ones: HTTPS with verification on.

    `timeout` is the total time one metadata request may take, retries included; `read_timeout` is how
    long one attempt may go without an answer (or a blob transfer without progress) before it is retried
    or abandoned (at most half of `timeout`, so a retry fits).

    Every setting is checked when set, also after construction: `timeout`, `connect_timeout` and
    `read_timeout` must be above 0 and at most MAX_TIMEOUT seconds, `backoff` and `max_backoff` from 0 to
    MAX_TIMEOUT, `retries` a whole number from 0 to MAX_RETRIES, so every network wait stays bounded;
    `plain_http` and `insecure` are True or False (the text "false" would be true).

    Raises:
        UsageError: a setting outside its range (also when assigned later: `options.timeout = inf`).
    """

    plain_http: bool = field(default_factory=default_plain_http)
    insecure: bool = False  # skip TLS verification
    ca_file: str | None = None
    timeout: float = field(default_factory=default_timeout)
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    retries: int = 5
    backoff: float = 0.5
    max_backoff: float = 20.0
    credentials: Credentials | None = None  # for the registry host only; overrides the docker config
    on_retry: Callable[[str], None] | None = None  # told each retry in one line (the CLI: on a terminal)
    # One client (connection pool, token cache) per registry host for everything done with these options.
    # (Not init fields: a `dataclasses.replace()` copy, with other settings, gets clients of its own.)
    _clients: dict[str, RegistryClient] = field(default_factory=dict, init=False, repr=False, compare=False)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    # Derived options for registries.conf endpoints (see `for_endpoint`), and the schemes found for
    # `insecure` hosts: each made once, so their clients (pools, tokens) are shared like the others.
    _variants: dict[tuple[bool, bool, bool], ClientOptions] = field(default_factory=dict, init=False, repr=False,
                                                                    compare=False)
    schemes: dict[str, bool] = field(default_factory=dict, init=False, repr=False, compare=False)
    # The mirrors found unreachable, for every repository opened with these options and their variants.
    health: EndpointHealth = field(default_factory=EndpointHealth, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: object) -> None:
        # Checked on every assignment, in the constructor and after it (`options.timeout = inf`): a wait
        # that is infinite, negative or NaN would never end, or fail inside the transfer engine as a wrong
        # "cannot connect".
        check = _SETTING_CHECKS.get(name)
        if check is not None and not check(value):
            raise UsageError(f"{name}={value!r} {_SETTING_RANGES[name]}")
        super().__setattr__(name, value)

    def client_for(self, host: str) -> RegistryClient:
        """The registry client for `host` shared by every call made with these options."""
        with self._clients_lock:
            client = self._clients.get(host)
            if client is None:
                from modelpack.store.client import RegistryClient  # (it imports this module)

                client = self._clients[host] = RegistryClient(host, self)
            return client

    def close(self) -> None:
        """Close the connections and end the threads of the clients made with these options (and their
        registries.conf variants). The options stay usable: a later call opens new connections.

        A call given no options closes the ones it made itself; close yours when done with them, or use
        them as a context manager (`with ClientOptions() as opts: ...`).
        """
        with self._clients_lock:
            clients = list(self._clients.values())
            variants = list(self._variants.values())
        for client in clients:
            client.close()
        for variant in variants:
            variant.close()

    def __enter__(self) -> ClientOptions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def for_endpoint(self, *, plain_http: bool, insecure: bool, mirror: bool) -> ClientOptions:
        """These options as one endpoint of registries.conf needs them.

        Args:
            plain_http: talk HTTP to it.
            insecure: skip TLS verification (`insecure = true`).
            mirror: a mirror: a short connect timeout, one attempt per request (the next endpoint is the
                retry), and none of the credentials given for the registry (a mirror's come from the
                docker config, by its own host).

        Returns:
            These very options when nothing differs, else a copy made once and kept.
        """
        if (plain_http, insecure, mirror) == (self.plain_http, self.insecure, False):
            return self
        with self._clients_lock:
            found = self._variants.get((plain_http, insecure, mirror))
            if found is None:
                found = replace(self, plain_http=plain_http, insecure=insecure)
                if mirror:
                    found.connect_timeout = min(self.connect_timeout, MIRROR_CONNECT_TIMEOUT)
                    found.retries, found.credentials = 0, None
                found.schemes, found.health = self.schemes, self.health
                self._variants[(plain_http, insecure, mirror)] = found
            return found

    @property
    def verify(self) -> bool | str:
        if self.insecure:
            return False
        # The bundles requests would honour from the environment (sessions do not read it, see _session),
        # then OpenSSL's variables, which crane, oras, skopeo and containerd read too: a platform's CA set
        # there for every tool was not trusted by modelpack alone.
        if self.ca_file:
            return self.ca_file
        chosen = environment_bundle()
        return chosen[1] if chosen else _first_folder(os.environ.get("SSL_CERT_DIR")) or True

    @property
    def stall(self) -> float:
        """How long a blob transfer may go without progress."""
        return min(self.read_timeout, self.timeout)

    @property
    def attempt(self) -> float:
        """How long one attempt of a metadata request may wait: at least two fit in `timeout`."""
        return min(self.read_timeout, self.timeout / 2)


_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


def environment_bundle() -> tuple[str, str] | None:
    """(variable, value) of the CA bundle the environment names, the first set of REQUESTS_CA_BUNDLE,
    CURL_CA_BUNDLE and SSL_CERT_FILE; None when none is."""
    return next(((name, value) for name in _BUNDLE_VARIABLES if (value := os.environ.get(name))), None)


def _first_folder(value: str | None) -> str | None:
    """The first existing folder of a colon-separated list (SSL_CERT_DIR, as OpenSSL and Go read it)."""
    return next((part for part in (value or "").split(":") if part and os.path.isdir(part)), None)


# Where Linux distributions keep the system's CA bundle, the one oras, crane and containerd trust (Go
# reads these files): Debian and Ubuntu, Fedora and RHEL, openSUSE, RHEL 7's extracted store, Alpine.
# A company's CA installed there (update-ca-certificates, update-ca-trust) is trusted as by those tools.
SYSTEM_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
)


def system_bundle_candidates() -> tuple[str | None, ...]:
    """Where the system's CA bundle may be, in order: Python's OpenSSL default, then SYSTEM_CA_BUNDLES."""
    import ssl

    return (ssl.get_default_verify_paths().cafile, *SYSTEM_CA_BUNDLES)


@functools.lru_cache(maxsize=1)
def default_bundle() -> str:
    """The CA bundle trusted when nothing else is named: the system's (the first of Python's OpenSSL
    default and SYSTEM_CA_BUNDLES that exists), else certifi's (macOS, Windows, a minimal container)."""
    for path in system_bundle_candidates():
        if path and os.path.isfile(path):
            return path
    import certifi

    return str(certifi.where())


def trusted_certificates(verify: bool | str) -> tuple[str | None, str | None] | None:
    """What a TLS connection trusts for `verify` (see `ClientOptions.verify`): None for no checks, else
    (a CA bundle file, a CA folder), one of them set; True means the system's bundle (`default_bundle`)."""
    if verify is False:
        return None
    if verify is True:
        return default_bundle(), None
    return (None, verify) if os.path.isdir(verify) else (verify, None)


class OwnsOptions:
    """Part of a registry repository: options made for it alone (`remote()` given none) are closed when it
    is closed, leaves a `with` block, or is garbage-collected; options a caller passed are the caller's."""

    owned_options: ClientOptions | None = None

    def own(self, options: ClientOptions) -> None:
        """Close `options` with this repository."""
        self.owned_options = options
        weakref.finalize(self, options.close)  # also when dropped unclosed (or used again after close())

    def close(self) -> None:
        """Close the connections and transfer threads opened for this repository alone (it stays usable:
        a later request opens them again, closed when it is dropped)."""
        if self.owned_options is not None:
            self.owned_options.close()

    def __enter__(self: _Owner) -> _Owner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_Owner = TypeVar("_Owner", bound=OwnsOptions)


def closes_own_options(func: Callable[P, R]) -> Callable[P, R]:
    """`func`, given options of its own when the caller passed none, closed when it returns or raises: a
    call of the API leaves no connection, pipe or transfer thread behind (a library caller may make
    thousands). Options the caller passed are the caller's to close."""

    @functools.wraps(func)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        if kwargs.get("options") is not None:
            return func(*args, **kwargs)
        try:
            own = ClientOptions()
        except UsageError:  # a bad MODELPACK_* value: raised by the call itself, only where it needs a registry
            return func(*args, **kwargs)
        kwargs["options"] = own
        try:
            return func(*args, **kwargs)
        finally:
            own.close()

    return call
