"""A pull-through cache's "not found" worded as a server error. Distribution in proxy mode
(`proxy.remoteurl`) answers a manifest by digest that its origin does not hold with `500 UNKNOWN`, the
origin's `MANIFEST_UNKNOWN` nested in its detail. Read as a 500 it was retried for ~13 s and then said as
"answered HTTP 500": `copy SRC CACHE/team/new:1` asks whether the cache holds the model before writing,
and never got to the write, whose 405 says what the cache is. Read as what it relays, it is a 404: final
at once, and `find` answers "not there"."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from modelpack.errors import ModelpackError, NotFoundError, RegistryError
from modelpack.oci import mediatypes as mt
from modelpack.oci.jsontext import parse_or_none
from modelpack.store.bodies import finish

if TYPE_CHECKING:
    from modelpack.store.registry import RegistryRepository

RELAYED = frozenset({"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "BLOB_UNKNOWN"})  # the origin's "not found" codes
MAX_ERRORS = 5  # errors of a body looked at, and nested errors of each: a registry's body is no list to walk


def relayed_code(text: bytes) -> str | None:
    """The origin's "not found" code a `500 UNKNOWN` body relays in its detail, as Distribution's proxy
    nests it (`{"errors": [{"code": "UNKNOWN", "detail": {"errors": [{"code": "MANIFEST_UNKNOWN"}]}}]}`).

    Args:
        text: the error body (at most the first 8 KiB, as `read_error_body` reads it).

    Returns:
        The code (`MANIFEST_UNKNOWN`, ...), or None when the body relays none.
    """
    body = parse_or_none(text) if text else None
    errors = body.get("errors") if isinstance(body, dict) else None
    for err in errors[:MAX_ERRORS] if isinstance(errors, list) else []:
        detail = err.get("detail") if isinstance(err, dict) and err.get("code") == "UNKNOWN" else None
        nested = detail.get("errors") if isinstance(detail, dict) else None
        for inner in nested[:MAX_ERRORS] if isinstance(nested, list) else []:
            if isinstance(inner, dict) and inner.get("code") in RELAYED:
                return str(inner["code"])
    return None


def unless_relayed(repo: RegistryRepository, version: str, what: str,
                   then: Callable[[Exception], None] | None) -> Callable[[Exception], None]:
    """For a HEAD of a manifest (no body to read the relayed code from), the check its first retried
    refusal gets (`send`'s `before_retry`): a 500 is asked again once as a GET, whose body says whether it
    relays the origin's "not found"; if so, that NotFoundError ends the request. `then` (see
    `blob_digest.unless_a_blob`) is checked first.

    Args:
        repo: the repository asked.
        version: the tag or digest of the HEAD.
        what: the HEAD's request, as its errors name it.
        then: the check to run before this one, or None.

    Returns:
        The check (it raises, or returns for the HEAD to be retried).
    """
    def check(refusal: Exception) -> None:
        if then is not None:  # first: a blob's digest is said at once, with no more requests than before
            then(refusal)
        if isinstance(refusal, RegistryError) and refusal.status == 500:
            try:  # one GET, not retried: the HEAD it explains is
                finish(repo.client.send("GET", f"{repo.prefix}/manifests/{version}", stream=True, retries=0,
                                        headers={"Accept": ", ".join(mt.MANIFEST_TYPES)}, what=what))
            except NotFoundError:
                raise
            except ModelpackError:
                pass  # no explanation: the HEAD's refusal stands, retried as any

    return check

