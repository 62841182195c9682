"""The typed error a registry's refusal is: its status and (the first 8 KiB of) its error body, read
once and worded for the person who has to act on it."""

from __future__ import annotations

import urllib.parse

from modelpack import advice
from modelpack.errors import AuthenticationError, NotFoundError, RegistryError, TransportError
from modelpack.store.auth_keys import REPO_PATH
from modelpack.store.bodies import finish, read_error_body
from modelpack.store.credentials import Credentials
from modelpack.store.messages import error_details
from modelpack.store.relayed_not_found import relayed_code
from modelpack.store.transport import Response

READ_ONLY = ("it takes no writes: a pull-through cache (Distribution's proxy.remoteurl) or a read-only registry; "
             "write to its origin")


def refusal(resp: Response, what: str, host: str, plain_http: bool, creds: Credentials | None) -> Exception:
    """The error for `resp`, a refusal by `host` of the request described by `what` (the response is
    finished here).

    Args:
        resp: the registry's answer, its body not yet read.
        what: the request, as the message names it ("manifest of REF", "upload of DIGEST").
        host: the registry.
        plain_http: the request was sent without TLS (a 400 then may mean the port speaks HTTPS).
        creds: the credentials sent, if any (a 401 or 403 says whose access was denied).
    """
    status = resp.status_code
    text = read_error_body(resp) if resp.method != "HEAD" else b""
    finish(resp)
    if plain_http and status == 400 and b"HTTPS server" in text[:512]:
        # Go servers answer a plain-HTTP request on a TLS port with 400 and this sentence.
        return TransportError(f"{host} speaks HTTPS, not plain HTTP", advice=advice.plain_http(False))
    codes, messages = error_details(text)
    detail = "; ".join(messages) if messages else f"HTTP {status}"
    relayed = relayed_code(text) if status == 500 else None
    if relayed is not None:  # a pull-through cache's 500 that relays its origin's 404: final, as a 404 is
        detail = f"{relayed} from its origin, which {host}, a pull-through cache, relayed as HTTP 500"
    if status == 404 or relayed is not None:
        # A tag that is not there (a typo, or `latest` assumed): name the command that lists the real ones
        path = urllib.parse.urlsplit(resp.url or "").path
        match = REPO_PATH.match(path)
        from modelpack.signatures.lookup import is_signature_tag  # (as registry_admin: only where needed)

        asked = urllib.parse.unquote(path.rsplit("/manifests/", 1)[1]) if match and "/manifests/" in path else None
        # (Not for a signature's tag, sha256-<hex>[.sig|.att], looked up on every pull: no version was mistyped.)
        listing = advice.list_versions(f"{host}/{match.group('name')}") \
            if match and asked is not None and not is_signature_tag(asked) else None
        missing = NotFoundError(f"{what}: not found ({detail})", advice=listing)
        # The tag or digest asked for, for `name_nearest_tag` (a typo'd tag gets the nearest real one).
        missing.manifest = asked if listing else None
        # A HEAD's answer has no body to read codes from: a registry's still says it is JSON.
        json_said = "json" in resp.headers.get("Content-Type", "").lower()
        missing.unexplained = not codes if resp.method != "HEAD" else not json_said
        return missing
    if status in (401, 403):
        match = REPO_PATH.match(urllib.parse.urlsplit(resp.url or "").path)
        target = f"repository {match.group('name')}" if match else what
        who = f"user {creds.username!r}" if creds else "anonymous access"
        return AuthenticationError(f"{host} denied {who} to {target} ({detail})",
                                   advice=None if creds else advice.login(host))
    said = f" ({detail})" if messages else ""  # (not "HTTP 500 (HTTP 500)")
    # A pull-through cache (Distribution's proxy.remoteurl) answers every write 405 UNSUPPORTED: said alone,
    # that reads as a fault of ours, not as a mirror given where its origin was meant.
    read_only = status == 405 and resp.method in ("PUT", "POST", "PATCH")
    refused = RegistryError(f"{what}: {host} answered HTTP {status}{said}", status, tuple(codes),
                            advice=advice.compose(READ_ONLY) if read_only else None)
    # Distribution answers 500 for a manifest by a blob's digest: `blob_digest` tells the user which it was.
    path = urllib.parse.urlsplit(resp.url or "").path
    refused.manifest = urllib.parse.unquote(path.rsplit("/manifests/", 1)[1]) if "/manifests/" in path else None
    return refused


def not_a_registry(host: str) -> TransportError:
    """The error for a host that answers 404 to `GET /v2/`: no OCI registry (exit 5, one line)."""
    return TransportError(f"{host} is not an OCI registry: GET /v2/ answered HTTP 404 (check the host and port)")

