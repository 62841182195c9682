"""URLs a registry gives (a redirect's `Location`, a `Link` page, an upload `Location`): checked before any
request goes to one, as hostile as the rest of what a registry sends.

Such a URL must parse (`http://a]b/` does not: urllib.parse raises ValueError, which read as "internal
error"), be HTTP(S) (libcurl would read a file:// one, speak gopher://...), hold no control characters or
spaces (libcurl refuses them, which read as a wire failure: retried, then "cannot connect") or backslashes
(where the host ends is read differently by urllib.parse and urllib3: see `_NOT_IN_URLS`), and, from
what spoke HTTPS, be HTTPS too: else the bytes, and a token the plain host may ask for, would cross the
network in the clear where the user asked for HTTPS.
"""

from __future__ import annotations

import re
import urllib.parse

from modelpack.errors import RegistryError

# No URL holds these (RFC 3986). A backslash is read by parsers differently: in `http://evil\@registry/`,
# urllib.parse (which binds credentials to a host) reads the registry's host, urllib3 (which connects)
# evil's, and the registry's password went there.
_NOT_IN_URLS = re.compile(r"[\x00-\x20\x7f\\]")


def check_url(url: str, who_sent: str, https: bool = False) -> str:
    """Refuse a registry-given URL that cannot be requested as it is.

    Args:
        url: the absolute URL.
        who_sent: what sent it, as the error says ("registry HOST redirected GET /v2/...").
        https: what sent it spoke HTTPS: plain HTTP is refused.

    Returns:
        `url`, accepted.

    Raises:
        RegistryError: naming what is wrong with it (its scheme, or that it is unusable).
    """
    try:
        scheme = urllib.parse.urlsplit(url).scheme.lower()
    except ValueError:
        raise RegistryError(f"{who_sent} to a URL that does not parse; refused") from None
    if scheme not in ("http", "https"):
        raise RegistryError(f"{who_sent} to a {scheme[:20]}: URL; refused")
    if https and scheme != "https":
        raise RegistryError(f"{who_sent} from HTTPS to plain HTTP; refused")
    if _NOT_IN_URLS.search(url):
        raise RegistryError(f"{who_sent} to an unusable URL (control characters, spaces or backslashes); refused")
    return url


def joined(base: str, reference: str, who_sent: str) -> str:
    """`reference` (absolute, or relative to `base`) as an absolute URL, as `urljoin` makes it.

    Raises:
        RegistryError: it does not parse.
    """
    try:
        return urllib.parse.urljoin(base, reference)
    except ValueError:
        raise RegistryError(f"{who_sent} to a URL that does not parse; refused") from None
