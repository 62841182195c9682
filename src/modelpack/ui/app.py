"""The UI's routes (Starlette) and pages (Jinja2, autoescaped: every value a registry chose is escaped).

    /                              repositories (search: ?q=, pages: ?page=)
    /r/HOST/REPOSITORY             its versions (?where=metrics.accuracy>=0.9; ...&sort=-created)
    /v/HOST/REPOSITORY@DIGEST      one version (?against=TAG-or-DIGEST: the diff)
    /report/HOST/REPOSITORY@DIGEST the technical-documentation report (not available yet: 404)
    /v/HOST/REPOSITORY:TAG         (and /report/...:TAG) redirected to the digest the tag names now;
    /v/HOST/REPOSITORY             to the repository's page

Only GET; only the hosts named on the command line; a registry's failure is a message on the page
(never a traceback); pages run no script (Content-Security-Policy) and load nothing from elsewhere.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

from modelpack.advice import cli_message  # the UI is started from the CLI: its words
from modelpack.errors import AuthenticationError, ModelpackError, NotFoundError, UsageError
from modelpack.http_hosts import HostCheck, HostNames
from modelpack.oci import digest as digests
from modelpack.report.facts import REPORT_FORMATS as REPORT_KINDS
from modelpack.threads import worker_pool
from modelpack.ui import browse, version_page
from modelpack.ui.site import Site

log = logging.getLogger("modelpack.ui")
PAGE_THREADS = 40  # pages made at once (as many as Starlette's own thread pool would take)

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def templates() -> Any:
    """The Jinja2 environment of the pages: autoescape always on, helpers as globals and filters."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    from modelpack.metadata.mapping import malformed_annotation
    from modelpack.space import human_size

    env = Environment(loader=PackageLoader("modelpack.ui", "templates"), autoescape=True, finalize=_visible,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["size"] = human_size
    env.filters["short"] = lambda digest: str(digest)[:19]
    env.filters["value"] = _value
    env.filters["cell"] = _cell
    env.filters["metric"] = lambda number: f"{number:.6g}"
    env.globals.update(repo_url=repo_url, version_url=version_page.version_url, report_url=report_url,
                       malformed_annotation=malformed_annotation,
                       query=lambda **params: "?" + urlencode({k: v for k, v in params.items() if v}))
    return env


def _visible(value: Any) -> Any:
    """Text as the terminal shows it (`cli.escape.clean`): a bidi override or a zero-width character in a
    tag or description would make it read as something it is not. Line breaks stay (snippets, YAML)."""
    from markupsafe import Markup

    from modelpack.cli.escape import clean

    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return "\n".join(clean(line) for line in value.split("\n"))


def _cell(value: Any) -> str:
    """A registry's value in a column of a listing, cut as `ls` cuts it (40 characters, saying how many were
    left out): a 100 KB version would make the table a page wide, and a repository of versions each with a
    4 MiB manifest a page of hundreds of MB. The version's own page shows it whole."""
    from modelpack.cli.escape import clean_cell

    return clean_cell(value)


def _value(value: Any) -> str:
    """A metadata value as text (lists and mappings as JSON), a line break in it shown as `\\n` as the
    listings (`_cell`) and the terminal show it: the page would fold it into a space, and "1.0\\n2" would
    read as the version "1.0 2". The template escapes the HTML."""
    from modelpack.cli.escape import clean

    return clean(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True))


def repo_url(host: str, repository: str) -> str:
    return f"/r/{host}/{repository}"


def report_url(host: str, repository: str, digest: str) -> str:
    """Where the version's technical-documentation report will be served (see `report`)."""
    return f"/report/{host}/{repository}@{digest}"


def build_app(site: Site, host_names: HostNames | None = None) -> Any:
    """The ASGI application serving `site`.

    Args:
        site: what to show and how to reach it.
        host_names: the Host headers answered (DNS rebinding: a page of another site that resolves its
            name to this machine must not read these pages; see `modelpack.http_hosts`); None answers any.

    Returns:
        A Starlette application.
    """
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, RedirectResponse, Response
    from starlette.routing import Route

    env = templates()

    def page(name: str, status: int = 200, **context: Any) -> Response:
        html = env.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def home(request: Request) -> Response:
        try:
            number = int(request.query_params.get("page", "1"))
        except ValueError:
            number = 1
        data = browse.home(site, request.query_params.get("q", ""), number)
        return page("home.html", home=data, keys=[name for name, _ in site.keys])

    def repository(request: Request) -> Response:
        ref = site.reference(request.path_params["host"], request.path_params["repository"])
        where = "; ".join(request.query_params.getlist("where"))
        data = browse.repository(site, ref, where, request.query_params.get("sort", ""))
        return page("repository.html", repo=data, keys=[name for name, _ in site.keys])

    def pinned(request: Request, prefix: str) -> Response | None:
        """`/v/HOST/REPO:TAG`, as a reviewer types it: a redirect to the digest the tag names now (a page
        names exactly what it shows; the tag may move), or without a tag to the repository's page."""
        found = _by_tag(site, request, prefix)
        return None if found is None else RedirectResponse(found, status_code=302, headers=HEADERS)

    def version(request: Request) -> Response:
        redirect = pinned(request, "/v/")
        if redirect is not None:
            return redirect
        ref, digest = _versioned(site, request)
        data = version_page.version(site, ref, digest, request.query_params.get("against", ""))
        return page("version.html", v=data, keys=[name for name, _ in site.keys])

    def report(request: Request) -> Response:
        """The version's technical-documentation report (`modelpack report`), checked with the UI's keys;
        `?format=md` gives its Markdown, `?format=json` its facts; another format is refused (400)."""
        from modelpack.api.reporting import build_report, render_report

        redirect = pinned(request, "/report/")
        if redirect is not None:
            return redirect
        fmt = request.query_params.get("format", "html")
        if fmt not in REPORT_KINDS:  # (it fell back to HTML: a script asking for ?format=markdown got a page)
            raise UsageError(f"?format={fmt}: the report is written in {', '.join(REPORT_KINDS)}")
        ref, digest = _versioned(site, request)
        facts = build_report(ref.with_digest(digest), site.key_files, options=site.options, store=site.store,
                             hosts=site.hosts)
        return Response(render_report(facts, fmt), media_type=REPORT_KINDS[fmt], headers=HEADERS)

    # Pages are made on our threads, not Starlette's (anyio's, born with the event loop's signal mask):
    # born with SIGINT and SIGTERM blocked, as are the threads they start, so a stop signal goes to the
    # main thread, where Python handles it (modelpack.threads).
    threads = worker_pool(PAGE_THREADS, "ui-page")

    def guarded(endpoint: Callable[[Request], Response]) -> Callable[[Request], Awaitable[Response]]:
        """Every failure as a page with a message: a registry's in its words (escaped), ours as one line;
        the page made on one of `threads`."""

        @functools.wraps(endpoint)
        async def made(request: Request) -> Response:
            return await asyncio.get_running_loop().run_in_executor(threads, run, request)

        def run(request: Request) -> Response:
            try:
                return endpoint(request)
            except ModelpackError as exc:
                status = 404 if isinstance(exc, NotFoundError) else 400 if isinstance(exc, UsageError) else \
                    403 if isinstance(exc, AuthenticationError) else 502
                return page("error.html", status, title="Not available" if status < 500 else "Registry error",
                            message=" ".join(cli_message(exc).split()))
            except Exception as exc:
                if os.environ.get("MODELPACK_DEBUG"):
                    raise
                log.error("internal error on %s: %s", request.url.path, type(exc).__name__)  # no values: secrets
                return page("error.html", 500, title="Internal error",
                            message=f"internal error ({type(exc).__name__}); MODELPACK_DEBUG=1 shows a traceback")

        return made

    routes = [Route("/", guarded(home)), Route("/r/{host}/{repository:path}", guarded(repository)),
              Route("/v/{host}/{rest:path}", guarded(version)), Route("/report/{host}/{rest:path}", guarded(report))]
    middleware = [Middleware(HostCheck, names=host_names)] if host_names is not None else []
    return Starlette(routes=routes, middleware=middleware)


def _versioned(site: Site, request: Any) -> tuple[Any, str]:
    """The repository and digest of a `/v/HOST/REPOSITORY@DIGEST` path."""
    name, _, digest = str(request.path_params["rest"]).rpartition("@")
    if not name or not digests.is_digest(digest):
        raise NotFoundError("a version's page is /v/HOST/REPOSITORY@sha256:...")
    return site.reference(request.path_params["host"], name), digest


def _by_tag(site: Site, request: Any, prefix: str) -> str | None:
    """Where a version path that names no digest leads: `PREFIX HOST/REPO@DIGEST` for `HOST/REPO:TAG` (the
    tag resolved in the registry now), the repository's page for `HOST/REPO`; None for a digest path. The
    URL is built from checked parts only (a host this UI shows, a valid repository name and tag, a digest),
    each quoted, so nothing the request or the registry chose can reach the Location header raw.

    Raises:
        NotFoundError: a host not shown, a malformed name, or a tag the repository does not have.
    """
    from modelpack.oci.reference import is_tag

    host, rest = str(request.path_params["host"]), str(request.path_params["rest"])
    if "@" in rest:
        return None  # a digest path: the page itself (or its 404) answers
    name, colon, tag = rest.rpartition(":")
    if not colon or "/" in tag:  # no tag: `HOST/REPO`, or a registry port inside the name
        return quote(repo_url(host, site.reference(host, rest).repository), safe="/:@")
    ref = site.reference(host, name)
    if not is_tag(tag):
        raise NotFoundError(f"{tag!r} is not a tag; a version's page is /v/HOST/REPOSITORY:TAG or @sha256:...")
    digest = site.open(ref).resolve(tag).digest
    if not digests.is_digest(digest):
        raise NotFoundError(f"{host}/{ref.repository}:{tag} names no digest")
    query = urlencode(request.query_params.multi_items())
    return quote(f"{prefix}{host}/{ref.repository}@{digest}", safe="/:@") + (f"?{query}" if query else "")
