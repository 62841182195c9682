"""Paginated listings (`/tags/list`, `/_catalog`) followed through `Link` headers, with bounds: each page
is read with the 4 MiB cap, a URL seen before ends the walk as a loop, and pages, entries and bytes are
counted, so a registry cannot keep a listing going forever."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable

from modelpack.errors import RegistryError
from modelpack.oci.jsontext import parse_or_none

MAX_ENTRIES = 100_000
MAX_PAGES = 10_000
# What MAX_ENTRIES of the longest names take (100,000 repository paths of 255 characters: ~27 MB), with room:
# pages padded to the 4 MiB cap (`{"tags": [], "x": "..."}`) would otherwise be read 10,000 times (40 GB).
MAX_BYTES = 64 * 2**20
_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*rel="?next"?', re.IGNORECASE)


def paginate(fetch: Callable[[str], tuple[bytes, str]], first: str, key: str, what: str,
             max_entries: int = MAX_ENTRIES, max_pages: int = MAX_PAGES, max_bytes: int = MAX_BYTES) -> list[str]:
    """Every entry of the JSON list `key` across the pages starting at URL `first`.

    Args:
        fetch: sends GET for a URL and returns the body (already size-capped) and the Link header.
        first: the absolute URL of the first page.
        key: the list in each page, e.g. "tags" or "repositories".
        what: names the listing in errors, e.g. "tags of team/iris".
        max_entries: refuse a listing longer than this.
        max_pages: refuse a listing spread over more pages than this.
        max_bytes: refuse a listing whose pages take more bytes than this.

    Raises:
        RegistryError: a page that is not the expected JSON, a pagination loop, too many pages, entries or bytes.
    """
    found: list[str] = []
    seen: set[str] = set()
    url: str | None = first
    read = 0
    while url:
        if url in seen:
            raise RegistryError(f"{what}: the registry's pagination loops back to a page already read")
        if len(seen) >= max_pages:
            raise RegistryError(f"{what}: more than {max_pages} pages; refused")
        seen.add(url)
        data, link = fetch(url)
        read += len(data)
        if read > max_bytes:
            raise RegistryError(f"{what}: more than {max_bytes // 2**20} MiB of pages; refused")
        page = parse_or_none(data) if data else {}
        if page is None:
            raise RegistryError(f"{what}: the registry sent a page that is not JSON")
        entries = page.get(key) if isinstance(page, dict) else None
        if entries is not None and not isinstance(entries, list):
            raise RegistryError(f"{what}: the registry sent a malformed page")
        found.extend(str(entry) for entry in entries or [])
        if len(found) > max_entries:
            raise RegistryError(f"{what}: more than {max_entries} entries; refused")
        try:
            url = next_page(url, link)
        except ValueError:  # a Link naming `http://a]b/`: the registry's mistake, not ours
            raise RegistryError(f"{what}: the registry's link to the next page does not parse; refused") from None
    return found


def next_page(current: str, link: str) -> str | None:
    """The absolute URL of the `rel="next"` target of a Link header, relative to the current page."""
    match = _NEXT.search(link or "")
    return urllib.parse.urljoin(current, match.group(1)) if match else None
