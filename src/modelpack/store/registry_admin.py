"""Registry operations beside a repository's content: deleting a tag alone, and listing the registry's
repositories (`/v2/_catalog`). What the registry sends is capped: pages, names, bytes, and `Link` loops."""

from __future__ import annotations

import urllib.parse

from modelpack.errors import RegistryError
from modelpack.oci.reference import is_repository_name
from modelpack.store.client import RegistryClient
from modelpack.store.pages import paginate
from modelpack.store.registry import RegistryRepository
from modelpack.store.target import RepositoryStorage
from modelpack.threads import worker_pool

MAX_CATALOG_PAGES = 100
MAX_REPOSITORIES = 10_000


def tag_digests(repo: RepositoryStorage, workers: int = 8) -> dict[str, str]:
    """Every tag of the repository and the digest it names now (one HEAD per tag, concurrently); a tag
    gone meanwhile is left out."""
    tags = repo.tags()  # names outside the tag grammar are left out where the list is read (registry.tags)
    with worker_pool(workers) as pool:
        resolved = list(pool.map(repo.find, tags))
    return {tag: desc.digest for tag, desc in zip(tags, resolved, strict=True) if desc is not None}


def repositories(client: RegistryClient, page_size: int = 1000) -> list[str]:
    """The registry's repositories from `/v2/_catalog`, following `Link` pagination on the same host
    (the shared bounded walk of `pages`); names outside the distribution grammar are dropped.
    Raises RegistryError on a pagination loop or past MAX_CATALOG_PAGES / MAX_REPOSITORIES, and the
    client's typed errors (AuthenticationError, NotFoundError) when the registry refuses the catalog."""
    what = f"repository list of {client.host}"

    def fetch(url: str) -> tuple[bytes, str]:
        resp = client.send("GET", _same_host(client, url), scope="registry:catalog:*", what=what)
        return resp.content, resp.headers.get("Link", "")

    names = paginate(fetch, f"{client.base}/v2/_catalog?n={page_size}", "repositories", what,
                     max_entries=MAX_REPOSITORIES, max_pages=MAX_CATALOG_PAGES)
    return [name for name in names if is_repository_name(name)]


def tag_count(client: RegistryClient, name: str) -> int | None:
    """How many tags a repository has, its signatures' tags (`sha256-<hex>`, `.sig`, `.att`) not counted, as
    `ls REPO` does not list them; None when the registry will not say."""
    from modelpack.errors import ModelpackError
    from modelpack.signatures.lookup import is_signature_tag

    try:
        return sum(not is_signature_tag(tag) for tag in RegistryRepository(client, name).tags())
    except ModelpackError:
        return None


def _same_host(client: RegistryClient, url: str) -> str:
    """A next-page URL, refused when it leaves the registry: credentials are for this host only."""
    if urllib.parse.urlsplit(url).netloc != urllib.parse.urlsplit(client.base).netloc:
        raise RegistryError(f"{client.host}: the repository list's next page is on another host ({url})")
    return url
