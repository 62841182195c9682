"""Registry credentials: `login` checks them against the registry before saving them in an auth file (see
`store.credential_sources.login_file`); `logout` forgets them."""

from __future__ import annotations

from dataclasses import replace

from modelpack.errors import UsageError
from modelpack.oci.reference import is_domain, is_repository_name
from modelpack.store import credentials
from modelpack.store import registries_files as registries_conf
from modelpack.store.credential_types import SavedCredentials
from modelpack.store.options import ClientOptions, closes_own_options


@closes_own_options
def login(registry: str, username: str, password: str, *,
          options: ClientOptions | None = None) -> SavedCredentials:
    """Check the credentials against the registry, then save them: in `$REGISTRY_AUTH_FILE` when set, in
    `$XDG_RUNTIME_DIR/containers/auth.json` when it holds the host already, else in the docker config (or
    as registries.conf's `credential-helpers` says).

    Args:
        registry: the registry host, e.g. `localhost:5000` or `ghcr.io`.
        username: the user name.
        password: the password or token.
        options: how to reach the registry (left as they are: the credentials are checked on a copy).

    Returns:
        Where they were saved: `auth_file`, the auth file written, and `helper`, the
        credential helper program keeping the secret, when one does (the config's, or registries.conf's
        `credential-helpers`, which write no file); `str()` of it says both.

    Raises:
        UsageError: `registry` is not a host, a username or password is empty, or the host is blocked.
        AuthenticationError: the registry refused the credentials.
        TransportError, RegistryError: the registry could not be reached or answered with an error.
    """
    host = _login_host(registry)
    if not username or not password:
        raise UsageError("login needs a username and a password")
    credentials.check_storable(host)
    registries_conf.load().check_host(host)
    creds = credentials.Credentials(username, password)
    # A copy: the caller's options (maybe shared by other threads) keep their own credentials.
    with replace(options or ClientOptions(), credentials=creds) as checking:
        checking.client_for("registry-1.docker.io" if host == "docker.io" else host).ping()
    return credentials.store(host, creds)


def logout(registry: str) -> bool:
    """Forget the saved credentials of `registry`: a host's entry, or a repository's own
    (`ghcr.io/team/model`, as auth files may hold and `podman logout` removes), leaving the others.

    Args:
        registry: the registry host, or a host and a repository path on it.

    Returns:
        Whether there were any.

    Raises:
        UsageError: `registry` is not a host, nor a host and a repository path.
    """
    host, _, repository = registry.removeprefix("https://").removeprefix("http://").rstrip("/").partition("/")
    if repository and not (is_domain(host) and is_repository_name(repository)):
        raise UsageError(f"{registry!r} is not a registry host nor a repository on one (e.g. ghcr.io or "
                         "ghcr.io/team/model; lower-case, no tag)")
    return credentials.remove(_login_host(host), repository or None)


def _login_host(registry: str) -> str:
    """The host `login`/`logout` name (a URL's scheme and trailing slash dropped), refused in one line when
    it is not one (a repository path, a space: it would only fail later, as if the registry had sent it)."""
    host = registry.removeprefix("https://").removeprefix("http://").rstrip("/")
    if not is_domain(host):
        raise UsageError(f"{registry!r} is not a registry host (e.g. localhost:5000 or ghcr.io)")
    return host
