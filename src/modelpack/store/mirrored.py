"""A repository read through mirrors, as registries.conf lists them (opened by `remote_routes`).

Reads (manifests by tag or digest, blobs, referrers) try each endpoint in order, the mirrors a pull of
this kind may use (`pull-from-mirror`) and then the origin. An endpoint that answers "not found" (or
"no referrers API", or no referrers), refuses access, or serves a manifest that does not match its digest is passed
over for that request; one that cannot be reached is passed over for the rest of the command (a dead
mirror costs one connect timeout: mirrors get a short one and no retries). A mirror whose blob stream
fails mid-way (cut beyond resuming, stalled, an error when resuming) hands the rest of that blob, or of
that range, to the next endpoint, asked for from the byte where it stopped. The origin's failure is
final (unreachable while listing referrers a mirror has no API for, it says "use the fallback tag", which
mirrors are asked for first). Blobs are verified where they land whatever host served them: a mirror
serving wrong bytes fails the pull (exit 6, nothing kept; `-v` names the host), it is not silently replaced.
The tag list is the origin's, asked first; a mirror's only when the origin cannot be reached (which mirror
listed it is kept: `tag_list_note`). Writes, deletions and existence checks before a write always go to
the origin: mirrors are for reads only.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import TypeVar

from modelpack.advice import compose
from modelpack.errors import (
    AuthenticationError,
    IntegrityError,
    ModelpackError,
    NotFoundError,
    RegistryError,
    TransportError,
)
from modelpack.oci.descriptor import Descriptor
from modelpack.store.blobstream import RangesIgnored, ResumableBlob
from modelpack.store.endpoint_health import FoundDead
from modelpack.store.failover_blob import MID_BLOB, FailoverBlob
from modelpack.store.mirrors import Endpoint
from modelpack.store.options import ClientOptions, OwnsOptions
from modelpack.store.registry import RegistryRepository, repository_path
from modelpack.store.remote_routes import open_endpoint
from modelpack.store.target import Opener, Progress
from modelpack.streams import ByteStream

log = logging.getLogger("modelpack.mirrors")
T = TypeVar("T")
# What passes a request on to the next endpoint (the origin's own failure is final).
_PASS_OVER = (NotFoundError, TransportError, AuthenticationError, RegistryError, IntegrityError)


class Source:
    """One endpoint of a mirrored read, opened on first use; a mirror is `dead` once it could not be reached
    (for every repository the same options open: see `endpoint_health`)."""

    def __init__(self, endpoint: Endpoint, options: ClientOptions) -> None:
        self.endpoint = endpoint
        self.options = options
        self._repo: RegistryRepository | None = None
        self._lock = threading.Lock()

    @property
    def dead(self) -> bool:
        return self.endpoint.mirror and self.options.health.dead(self.endpoint.host)

    @dead.setter
    def dead(self, value: bool) -> None:
        if value and self.endpoint.mirror:  # the origin is always asked: its failure is the command's
            self.options.health.mark_dead(self.endpoint.host)

    def ask(self, call: Callable[[RegistryRepository], T]) -> T:
        """`call` on this endpoint's repository; a mirror not yet heard from is asked one request at a time.

        Raises:
            FoundDead: another request found this mirror unreachable meanwhile.
        """
        if not self.endpoint.mirror:
            return call(self.repo())
        return self.options.health.ask(self.endpoint.host, lambda: call(self.repo()), unreachable)

    @property
    def label(self) -> str:
        return f"{self.endpoint.host} ({'mirror' if self.endpoint.mirror else 'origin'})"

    def repo(self) -> RegistryRepository:
        with self._lock:
            if self._repo is None:
                self._repo = open_endpoint(self.endpoint, self.options)
            return self._repo

    def opened(self) -> RegistryRepository | None:
        return self._repo


class MirroredRepository(OwnsOptions):
    """A repository read through mirrors, then its origin; written at its origin only."""

    def __init__(self, endpoints: Sequence[Endpoint], options: ClientOptions,
                 unasked: Sequence[tuple[str, str]] = ()) -> None:
        self._sources = [Source(endpoint, options) for endpoint in endpoints]
        self._unasked = unasked  # mirrors this kind of pull may not use: (host, pull-from-mirror)
        self._served: dict[str, str] = {}  # digest -> the mirror that served it (for integrity errors)
        self._tags_mirror: str | None = None  # the mirror that listed the tags, when one did
        self.origin_source = self._sources[-1]  # tried last; its failure is final
        self.name = repository_path(self.origin_source.endpoint.reference)

    def __repr__(self) -> str:
        return f"MirroredRepository({' -> '.join(s.label for s in self._sources)})"

    def _read(self, what: str, call: Callable[[RegistryRepository], T],
              passes: Callable[[T], bool] = lambda _: False, digest: str | None = None) -> T:
        """`call` on each live endpoint in order until one answers (an answer `passes` says to pass over,
        such as "no referrers API", moves on too); said with -v."""
        return self._attempt(what, call, passes, digest)[0]

    def _attempt(self, what: str, call: Callable[[RegistryRepository], T],
                 passes: Callable[[T], bool] = lambda _: False, digest: str | None = None,
                 after: Source | None = None, among: Sequence[Source] | None = None,
                 final: ModelpackError | None = None) -> tuple[T, Source]:
        """`_read`, also returning the endpoint that answered; `after`: start past that endpoint; `among`:
        those endpoints alone, in that order (the last one's failure is final); `final`: the error already
        met (the origin's, asked first), raised with what each endpoint said when none answers."""
        skipped: list[str] = []
        sources = among or (self._sources[self._sources.index(after) + 1:] if after is not None else self._sources)
        for source in sources:
            last = source is sources[-1] and final is None
            if source.dead and not last:
                continue
            try:
                result = source.ask(call)
            except FoundDead:
                continue
            except _PASS_OVER as exc:
                if last:
                    raise self._unasked_said(_with_mirrors(exc, skipped)) from None
                if unreachable(exc):  # (else it answered)
                    source.dead = True
                    # Why, too: an untrusted certificate (a missing CA) reads otherwise as an outage.
                    log.info("%s: %s unreachable (%s); trying the next endpoint", what, source.label, exc)
                else:  # (the error as an argument: the CLI's log formatter words its advice as commands)
                    log.info("%s: %s failed: %s; trying the next endpoint", what, source.label, exc)
                skipped.append(f"{source.endpoint.host}: {_short(exc)}")
                continue
            if passes(result) and not last:
                skipped.append(f"{source.endpoint.host}: listed nothing")  # it answered: not "no answer"
                continue
            log.info("%s served by %s", what, source.label)
            if digest is not None and source is not self.origin_source:
                self._served[digest] = source.endpoint.host
            return result, source
        if final is not None:
            raise _with_mirrors(final, skipped, "{} (mirrors asked after it: {})") from None
        raise AssertionError("the origin is always tried")  # pragma: no cover

    # -- reads: mirrors first --------------------------------------------------------------------
    def fetch_manifest(self, version: str) -> tuple[Descriptor, bytes]:
        return self._read(f"manifest {version}", lambda repo: repo.fetch_manifest(version))

    def resolve(self, version: str) -> Descriptor:
        return self._read(f"manifest {version}", lambda repo: repo.resolve(version))

    def find(self, version: str) -> Descriptor | None:
        try:
            return self.resolve(version)
        except NotFoundError:
            return None

    def open_blob(self, desc: Descriptor) -> ByteStream:
        stream, source = self.open_range(desc, 0, None)
        return stream if source is self.origin_source else FailoverBlob(self, desc, 0, None, (stream, source))

    def open_blob_from(self, desc: Descriptor, start: int) -> ByteStream:
        """The blob's bytes from `start` on, from the first endpoint that serves them (see `open_blob`)."""
        stream, source = self.open_range(desc, start, None)
        return stream if source is self.origin_source else FailoverBlob(self, desc, start, None, (stream, source))

    def open_range(self, desc: Descriptor, start: int, end: int | None,
                    after: Source | None = None) -> tuple[ByteStream, Source]:
        """Bytes [start, end) of a blob (the whole blob: 0, None) from the first endpoint that serves them."""
        whole = start == 0 and end is None
        what = f"blob {desc.digest}" + ("" if whole else f" from byte {start}")

        ignored: list[RangesIgnored] = []

        def call(repo: RegistryRepository) -> ByteStream:
            try:
                return repo.open_blob(desc) if whole else ResumableBlob(repo, desc, start, end)
            except RangesIgnored as exc:
                ignored.append(exc)
                raise

        try:
            return self._attempt(what, call, digest=desc.digest, after=after)
        except MID_BLOB as exc:
            if not ignored or isinstance(exc, RangesIgnored):
                raise
            # An endpoint serves the blob, only not that range: the caller may take it whole from there
            # (a download resumed into the store would otherwise fail on every pull, origin unreachable).
            raise RangesIgnored(f"{ignored[0]}; and {exc}") from None

    def list_referrers(self, digest: str) -> list[Descriptor] | None:
        # An empty list from a mirror is passed over too: a cache may have listed them before the origin
        # got a signature, and would hide it from `pull --verify-key`.
        no_api: list[str] = []  # the mirrors that answered "no referrers API"

        def call(repo: RegistryRepository) -> list[Descriptor] | None:
            found = repo.list_referrers(digest)
            if found is None:
                no_api.append(repo.client.host)
            return found

        try:
            return self._read(f"referrers of {digest}", call, passes=lambda found: not found)
        except TransportError:
            if not no_api:
                raise
            # The origin is down and a mirror has no referrers API: the tag-schema fallback index is then where
            # signatures are, and a pull-through cache keeps it as any tag it served (read from the mirrors first).
            log.info("referrers of %s: %s unreachable; the sha256-<hex> tag instead, from %s", digest,
                     self.origin_source.label, ", ".join(no_api))
            return None

    def tags(self) -> list[str]:
        """The origin's tag list, the whole one; only when the origin cannot be reached, the first mirror's
        that answers with tags (a pull-through cache whose origin is down lists only the tags it has served:
        `tag_list_note` says so). Asked in that order, unlike a pull's reads: a tag list is not checked
        against any digest, and a mirror's may be short."""
        self._tags_mirror = None
        try:
            tags = self.origin().tags()
        except TransportError as unreachable:
            mirrors = [source for source in self._sources[:-1] if not source.dead]
            if not mirrors:
                raise self._unasked_said(unreachable) from None
            log.info("tag list: %s unreachable (%s); asking the mirrors", self.origin_source.label, unreachable)
            tags, source = self._attempt("tag list", lambda repo: repo.tags(), passes=lambda found: not found,
                                         among=mirrors, final=unreachable)
            self._tags_mirror = source.endpoint.host
            return tags
        log.info("tag list served by %s", self.origin_source.label)
        return tags

    def _unasked_said(self, exc: ModelpackError) -> ModelpackError:
        """The origin's error; when it could not be reached, also naming the mirrors this pull's kind
        (by tag or by digest) may not use, which would otherwise look as if none were configured."""
        if not self._unasked or not isinstance(exc, TransportError):
            return exc
        said = "; ".join(f"{host}, pull-from-mirror = \"{pull_from}\": pulls by "
                         f"{'digest' if pull_from == 'digest-only' else 'tag'} only"
                         for host, pull_from in self._unasked)
        return _with_mirrors(exc, [said], "{} (mirrors not asked: {})")

    def tag_list_note(self) -> str | None:
        """That a mirror listed the tags, not the origin (None when the origin did): the list is the
        mirror's, perhaps fewer tags than the origin has."""
        if self._tags_mirror is None:
            return None
        return (f"the tags were listed by mirror {self._tags_mirror} (registries.conf), not by "
                f"{self.origin_source.endpoint.host}: a mirror may hold fewer (a pull-through cache whose origin "
                "is down lists only the tags it has served)")

    def served_by_mirror(self, digest: str) -> str | None:
        """The mirror that served blob `digest` in this command, if one did."""
        return self._served.get(digest)

    # -- writes, and what decides them: the origin only --------------------------------------------
    def origin(self) -> RegistryRepository:
        return self.origin_source.repo()

    def has_blob(self, desc: Descriptor) -> bool:
        return self.origin().has_blob(desc)

    def has_manifest(self, desc: Descriptor) -> bool:
        return self.origin().has_manifest(desc)

    def push_blob(self, desc: Descriptor, opener: Opener, progress: Progress | None = None,
                  mount_from: Sequence[str] = ()) -> None:
        self.origin().push_blob(desc, opener, progress, mount_from)

    def push_blob_speculative(self, size: int, opener: Opener, digest: Future[str],
                              progress: Progress | None = None, abandon: threading.Event | None = None,
                              hashing: bool = False) -> bool:
        return self.origin().push_blob_speculative(size, opener, digest, progress, abandon, hashing)

    def push_manifest(self, desc: Descriptor, data: bytes, tag: str | None = None) -> None:
        self.origin().push_manifest(desc, data, tag)

    def push_referrer(self, desc: Descriptor, data: bytes) -> bool:
        return self.origin().push_referrer(desc, data)

    def delete_manifest(self, digest: str) -> None:
        self.origin().delete_manifest(digest)

    def untag(self, tag: str) -> bool:
        return self.origin().untag(tag)

    def has_tags(self) -> bool:
        return self.origin().has_tags()

    def cancel(self) -> None:
        """Abandon waits to retry on every endpoint opened (see RegistryClient.cancel)."""
        for source in self._sources:
            repo = source.opened()
            if repo is not None:
                repo.cancel()

    def resume(self) -> None:
        for source in self._sources:
            repo = source.opened()
            if repo is not None:
                repo.resume()


@contextlib.contextmanager
def naming_mirrors(storage: object) -> Iterator[None]:
    """An IntegrityError about a blob a mirror served says which mirror (the digest check is where the
    blob lands, after the bytes went by: the pull fails rather than fetching it again elsewhere)."""
    try:
        yield
    except IntegrityError as exc:
        host = storage.served_by_mirror(exc.digest) if isinstance(storage, MirroredRepository) and exc.digest \
            else None
        if host is None or type(exc) is not IntegrityError:
            raise
        raise IntegrityError(f"{exc} (served by mirror {host}: fix it or take it out of registries.conf)",
                             exc.digest) from None


def unreachable(exc: Exception) -> bool:
    """Whether a request's failure means its endpoint cannot be reached (one that answered, if only without
    the range asked for, can)."""
    return isinstance(exc, TransportError) and not isinstance(exc, RangesIgnored)


def _short(exc: Exception) -> str:
    if isinstance(exc, NotFoundError):
        return "not found"
    if isinstance(exc, RangesIgnored):
        return "no such range"
    if isinstance(exc, TransportError):
        return "unreachable"
    if isinstance(exc, RegistryError) and exc.status:
        return f"HTTP {exc.status}"
    return type(exc).__name__


def _with_mirrors(exc: ModelpackError, skipped: list[str],
                  template: str = "{} (mirrors tried first: {})") -> ModelpackError:
    """The origin's error, of the same type, saying what the mirrors answered (before it, as `template` says)."""
    if not skipped:
        return exc
    # Its advice kept apart, so the CLI still words it as commands and flags.
    message = compose(template, exc.wording, "; ".join(skipped))
    if isinstance(exc, RegistryError):
        made: ModelpackError = type(exc)(message, exc.status, exc.codes, advice=exc.advice)
    else:
        try:
            made = type(exc)(message, advice=exc.advice)
        except TypeError:  # pragma: no cover - a subclass with another signature: its own message
            return exc
    if isinstance(exc, (NotFoundError, RegistryError)):
        made.manifest = exc.manifest  # type: ignore[attr-defined]  # (what the user's version was: nearest_tag)
    return made
