"""Registry credentials: `login` checks them against the registry before saving them in an auth file (see
`store.credential_sources.login_file`); `logout` forgets them."""

from __future__ import annotations

from dataclasses import replace

from modelpack.errors import UsageError
from modelpack.oci.reference import is_domain, is_repository_name
from modelpack.store import credentials
from modelpack.store.credential_types import SavedCredentials
from modelpack.store.options import ClientOptions, closes_own_options
from modelpack.store.remote_routes import host_client


@closes_own_options
def login(registry: str, username: str, password: str, *,
          options: ClientOptions | None = None) -> SavedCredentials:
    """Check the credentials against the registry, then save them: in `$REGISTRY_AUTH_FILE` when set, in
    `$XDG_RUNTIME_DIR/containers/auth.json` when it holds the host already, else in the docker config (or
    as registries.conf's `credential-helpers` says). A repository's login (`ghcr.io/team/model`, as
    `podman login` takes) is checked with a token for pulling that repository and saved under that key, for
    requests about it alone; in `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json` (docker,
    oras and crane, which read the docker config, know no such key; podman and skopeo read that file first).

    Args:
        registry: the registry host, e.g. `localhost:5000` or `ghcr.io`, or a host and a repository (or
            namespace) path on it, e.g. `ghcr.io/team/model`; a URL (`https://ghcr.io/v2/`) names its host.
        username: the user name.
        password: the password or token.
        options: how to reach the registry (left as they are: the credentials are checked on a copy).

    Returns:
        Where they were saved: `auth_file`, the auth file written, and `helper`, the
        credential helper program keeping the secret, when one does (the config's, or registries.conf's
        `credential-helpers`, which write no file); `str()` of it says both.

    Raises:
        UsageError: `registry` is not a host nor a repository on one, a username or password is empty,
            the host is blocked, or a repository's credentials would have to go to a credential helper
            (those keep hosts only).
        AuthenticationError: the registry refused the credentials.
        TransportError, RegistryError: the registry could not be reached or answered with an error.
    """
    host, repository = _login_target(registry)
    if not username or not password:
        raise UsageError("login needs a username and a password")
    credentials.check_storable(host, repository)
    creds = credentials.Credentials(username, password)
    # A copy: the caller's options (maybe shared by other threads) keep their own credentials.
    with replace(options or ClientOptions(), credentials=creds) as checking:
        # registries.conf's table for the host: blocked refuses, `insecure` applies (as podman login reads it).
        client = host_client(host, checking)
        # A repository's credentials may be good for it alone: the token asked for is for pulling it.
        client.ping(f"repository:{repository}:pull" if repository else "")
    return credentials.store(host, creds, repository)


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
    return credentials.remove(*_login_target(registry))


def _login_target(registry: str) -> tuple[str, str | None]:
    """The host and the repository path (None for a host's own entry) `login`/`logout` name, a trailing
    slash dropped; a URL (`https://HOST/v2/`, as registry pages show it) names its host alone, as podman and
    docker take it: its path is the API's, not a repository to keep credentials for. Refused in one line
    when it is neither (a tag, a space: it would only fail later, as if the registry had sent it)."""
    url = registry.startswith(("https://", "http://"))
    host, _, repository = registry.removeprefix("https://").removeprefix("http://").rstrip("/").partition("/")
    if url:
        repository = ""
    if not is_domain(host):
        raise UsageError(f"{registry!r} is not a registry host (e.g. localhost:5000 or ghcr.io)")
    if repository and not is_repository_name(repository):
        raise UsageError(f"{registry!r} is not a registry host nor a repository on one (e.g. ghcr.io or "
                         "ghcr.io/team/model; lower-case, no tag)")
    return host, repository or None
