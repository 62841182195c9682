"""Registry operations beside a repository's content: deleting a tag alone, and listing the registry's
repositories (`/v2/_catalog`). What the registry sends is capped: pages, names, bytes, and `Link` loops."""

from __future__ import annotations

import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from modelpack.errors import NotFoundError, RegistryError
from modelpack.oci.reference import is_repository_name, is_tag
from modelpack.store.client import RegistryClient
from modelpack.store.pages import paginate
from modelpack.store.registry import RegistryRepository

MAX_CATALOG_PAGES = 100
MAX_REPOSITORIES = 10_000


def delete_tag(repo: RegistryRepository, tag: str) -> bool:
    """Remove `tag` alone (OCI distribution-spec 1.1: DELETE of a manifest by tag), leaving the manifest
    and its other tags. Returns False when the registry cannot: Distribution 2.8 answers 400
    DIGEST_INVALID, others 405 or UNSUPPORTED (or 404: the tag was taken for a digest)."""
    try:
        repo.client.send("DELETE", f"/v2/{repo.name}/manifests/{tag}", ok=(200, 202, 204), retries=0,
                         what=f"delete of tag {repo.client.host}/{repo.name}:{tag}").close()
    except NotFoundError:
        return False
    except RegistryError as exc:
        if exc.status in (400, 405) or {"UNSUPPORTED", "DIGEST_INVALID"} & set(exc.codes):
            return False
        raise
    return True


def tags_naming(repo: RegistryRepository, digest: str, workers: int = 8) -> list[str]:
    """Every tag of the repository that currently names `digest` (one HEAD per tag, concurrently)."""
    tags = [tag for tag in repo.tags() if is_tag(tag)]  # never a request path of the registry's making
    with ThreadPoolExecutor(max_workers=workers) as pool:
        resolved = list(pool.map(repo.find, tags))
    return [tag for tag, desc in zip(tags, resolved, strict=True) if desc is not None and desc.digest == digest]


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


def _same_host(client: RegistryClient, url: str) -> str:
    """A next-page URL, refused when it leaves the registry: credentials are for this host only."""
    if urllib.parse.urlsplit(url).netloc != urllib.parse.urlsplit(client.base).netloc:
        raise RegistryError(f"{client.host}: the repository list's next page is on another host ({url})")
    return url
