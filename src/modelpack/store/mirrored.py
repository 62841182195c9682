"""A registry reference opened through registries.conf (see `mirrors`): `location` rewrites it, `blocked`
refuses it, `insecure` relaxes TLS, and reads may go through mirrors.

Reads (manifests by tag or digest, blobs, referrers) try each endpoint in order, the mirrors a pull of
this kind may use (`pull-from-mirror`) and then the origin. An endpoint that answers "not found" (or
"no referrers API", or no referrers), refuses access, or serves a manifest that does not match its digest is passed
over for that request; one that cannot be reached is passed over for the rest of the command (a dead
mirror costs one connect timeout: mirrors get a short one and no retries). A mirror whose blob stream
fails mid-way (cut beyond resuming, stalled, an error when resuming) hands the rest of that blob, or of
that range, to the next endpoint, asked for from the byte where it stopped. The origin's failure is
final. Blobs are verified where they land whatever host served them: a mirror serving wrong bytes fails
the pull (exit 6, nothing kept; `-v` names the host), it is not silently replaced. Writes, deletions and
existence checks before a write always go to the origin: mirrors are for pulls only.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from modelpack.advice import compose
from modelpack.errors import (
    AuthenticationError,
    IntegrityError,
    InvalidReferenceError,
    ModelpackError,
    NotFoundError,
    RegistryError,
    TransportError,
    UsageError,
)
from modelpack.oci.descriptor import Descriptor
from modelpack.oci.reference import Reference
from modelpack.store import registries_files as registries_conf
from modelpack.store.blobstream import RangesIgnored, ResumableBlob
from modelpack.store.mirrors import Endpoint
from modelpack.store.options import ClientOptions, OwnsOptions
from modelpack.store.registry import RegistryRepository, open_repository, repository_path
from modelpack.store.short_names import alias_hint
from modelpack.store.target import Opener, Progress
from modelpack.streams import ByteStream

log = logging.getLogger("modelpack.mirrors")
T = TypeVar("T")
# What passes a request on to the next endpoint (the origin's own failure is final).
_PASS_OVER = (NotFoundError, TransportError, AuthenticationError, RegistryError, IntegrityError)
# What a mirror's blob stream may fail with mid-way that the next endpoint can make good (wrong bytes cannot
# be: they are already written, and the digest check names the mirror).
_MID_BLOB = (NotFoundError, TransportError, AuthenticationError, RegistryError)


def open_remote(reference: Reference, options: ClientOptions | None = None, *,
                mirrors: bool = False) -> RegistryRepository | MirroredRepository:
    """The registry repository `reference` names, as registries.conf routes it.

    Args:
        reference: a reference naming a registry.
        options: how to reach registries (default: the safe defaults).
        mirrors: the caller only reads (pull, inspect, copy's source): its reads may go through mirrors.

    Returns:
        The origin repository (after any `location` rewrite), or one that reads through mirrors first.

    Raises:
        UsageError: the reference names no registry, is blocked, or a registries.conf file is malformed.
    """
    require_registry(reference)
    options = options or ClientOptions()
    route = registries_conf.load().route(reference)
    by_digest = reference.digest is not None
    sources = route.sources(by_digest) if mirrors else [route.origin]
    if len(sources) == 1:
        return open_endpoint(route.origin, options)
    return MirroredRepository(sources, options)


def require_registry(reference: Reference) -> None:
    """`reference.require_registry()`; a short name with an alias in registries.conf is refused naming it.

    Raises:
        InvalidReferenceError: the reference names no registry.
    """
    try:
        reference.require_registry()
    except InvalidReferenceError as exc:
        try:
            found = {alias.name: alias for alias in registries_conf.load().aliases}
        except UsageError:  # a malformed file is not this error's news
            raise exc from None
        hint = alias_hint(reference.repository, reference.tag, reference.digest, found)
        if hint is None:
            raise
        raise InvalidReferenceError(f"reference {reference.written} names no registry; {hint}") from None


def open_endpoint(endpoint: Endpoint, options: ClientOptions) -> RegistryRepository:
    """The repository at one endpoint, with its client options (`insecure`: HTTPS unchecked, or plain HTTP
    where the host speaks no TLS).

    Raises:
        TransportError: an `insecure` host answers neither HTTPS nor HTTP.
    """
    plain = options.plain_http
    if endpoint.insecure and not plain:
        host = endpoint.host
        if host not in options.schemes:
            probe = options.for_endpoint(plain_http=False, insecure=True, mirror=endpoint.mirror).client_for(host)
            options.schemes[host] = not probe.speaks_tls()
        plain = options.schemes[host]
    chosen = options.for_endpoint(plain_http=plain, insecure=options.insecure or endpoint.insecure,
                                  mirror=endpoint.mirror)
    return open_repository(endpoint.reference, chosen)


class _Source:
    """One endpoint of a mirrored read, opened on first use; `dead` once it could not be reached."""

    def __init__(self, endpoint: Endpoint, options: ClientOptions) -> None:
        self.endpoint = endpoint
        self.options = options
        self.dead = False
        self._repo: RegistryRepository | None = None
        self._lock = threading.Lock()

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

    def __init__(self, endpoints: Sequence[Endpoint], options: ClientOptions) -> None:
        self._sources = [_Source(endpoint, options) for endpoint in endpoints]
        self._served: dict[str, str] = {}  # digest -> the mirror that served it (for integrity errors)
        self._origin = self._sources[-1]
        self.name = repository_path(self._origin.endpoint.reference)

    def __repr__(self) -> str:
        return f"MirroredRepository({' -> '.join(s.label for s in self._sources)})"

    def _read(self, what: str, call: Callable[[RegistryRepository], T],
              passes: Callable[[T], bool] = lambda _: False, digest: str | None = None) -> T:
        """`call` on each live endpoint in order until one answers (an answer `passes` says to pass over,
        such as "no referrers API", moves on too); said with -v."""
        return self._attempt(what, call, passes, digest)[0]

    def _attempt(self, what: str, call: Callable[[RegistryRepository], T],
                 passes: Callable[[T], bool] = lambda _: False, digest: str | None = None,
                 after: _Source | None = None) -> tuple[T, _Source]:
        """`_read`, also returning the endpoint that answered; `after`: start past that endpoint."""
        skipped: list[str] = []
        sources = self._sources[self._sources.index(after) + 1:] if after is not None else self._sources
        for source in sources:
            last = source is self._origin
            if source.dead and not last:
                continue
            try:
                result = call(source.repo())
            except _PASS_OVER as exc:
                if last:
                    raise _with_mirrors(exc, skipped) from None
                source.dead = isinstance(exc, TransportError) and not isinstance(exc, RangesIgnored)  # it answered
                log.info("%s: %s %s; trying the next endpoint", what, source.label,
                         "unreachable" if source.dead else f"failed: {exc}")
                skipped.append(f"{source.endpoint.host}: {_short(exc)}")
                continue
            if passes(result) and not last:
                skipped.append(f"{source.endpoint.host}: listed nothing")  # it answered: not "no answer"
                continue
            log.info("%s served by %s", what, source.label)
            if digest is not None and not last:
                self._served[digest] = source.endpoint.host
            return result, source
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
        stream, source = self._open_range(desc, 0, None)
        return stream if source is self._origin else _FailoverBlob(self, desc, 0, None, (stream, source))

    def open_blob_from(self, desc: Descriptor, start: int) -> ByteStream:
        """The blob's bytes from `start` on, from the first endpoint that serves them (see `open_blob`)."""
        stream, source = self._open_range(desc, start, None)
        return stream if source is self._origin else _FailoverBlob(self, desc, start, None, (stream, source))

    def _open_range(self, desc: Descriptor, start: int, end: int | None,
                    after: _Source | None = None) -> tuple[ByteStream, _Source]:
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
        except _MID_BLOB as exc:
            if not ignored or isinstance(exc, RangesIgnored):
                raise
            # An endpoint serves the blob, only not that range: the caller may take it whole from there
            # (a download resumed into the store would otherwise fail on every pull, origin unreachable).
            raise RangesIgnored(f"{ignored[0]}; and {exc}") from None

    def list_referrers(self, digest: str) -> list[Descriptor] | None:
        # An empty list from a mirror is passed over too: a cache may have listed them before the origin
        # got a signature, and would hide it from `pull --verify-key`.
        return self._read(f"referrers of {digest}", lambda repo: repo.list_referrers(digest),
                          passes=lambda found: not found)

    def served_by_mirror(self, digest: str) -> str | None:
        """The mirror that served blob `digest` in this command, if one did."""
        return self._served.get(digest)

    # -- writes, and what decides them: the origin only --------------------------------------------
    def origin(self) -> RegistryRepository:
        return self._origin.repo()

    def has_blob(self, desc: Descriptor) -> bool:
        return self.origin().has_blob(desc)

    def has_manifest(self, desc: Descriptor) -> bool:
        return self.origin().has_manifest(desc)

    def push_blob(self, desc: Descriptor, opener: Opener, progress: Progress | None = None,
                  mount_from: Sequence[str] = ()) -> None:
        self.origin().push_blob(desc, opener, progress, mount_from)

    def push_blob_speculative(self, size: int, opener: Opener, digest: Future[str],
                              progress: Progress | None = None, abandon: threading.Event | None = None) -> bool:
        return self.origin().push_blob_speculative(size, opener, digest, progress, abandon)

    def push_manifest(self, desc: Descriptor, data: bytes, tag: str | None = None) -> None:
        self.origin().push_manifest(desc, data, tag)

    def push_referrer(self, desc: Descriptor, data: bytes) -> bool:
        return self.origin().push_referrer(desc, data)

    def delete_manifest(self, digest: str) -> None:
        self.origin().delete_manifest(digest)

    def untag(self, tag: str) -> bool:
        return self.origin().untag(tag)

    def tags(self) -> list[str]:
        return self.origin().tags()

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


class _FailoverBlob(io.RawIOBase):
    """Bytes [start, end) of a blob (None: to its end) read from a mirror; when that stream fails mid-way,
    the rest comes from the next endpoint, asked for from where it stopped (see the module docstring).
    The bytes already received stay: the digest is checked over the whole blob where it lands."""

    def __init__(self, owner: MirroredRepository, desc: Descriptor, start: int, end: int | None,
                 opened: tuple[ByteStream, _Source]) -> None:
        self._owner, self._desc, self._end = owner, desc, end
        self._offset = start
        self._stream, self._source = opened

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while True:
            try:
                n = int(self._stream.readinto(target) or 0)  # type: ignore[attr-defined]
            except _MID_BLOB as exc:
                self._fail_over(exc)
                continue
            self._offset += n
            return n

    def _fail_over(self, exc: ModelpackError) -> None:
        source = self._source
        if source is self._owner._origin or source.repo().client.cancelled:
            raise exc
        source.dead = isinstance(exc, TransportError)
        log.info("blob %s: %s failed after byte %d (%s); the rest from the next endpoint", self._desc.digest,
                 source.label, self._offset, exc)  # the whole reason: cut, stalled, refused to resume
        with contextlib.suppress(Exception):
            self._stream.close()
        self._stream, self._source = self._owner._open_range(self._desc, self._offset, self._end, after=source)

    def ranges(self) -> Callable[[int, int], ByteStream] | None:
        """Other ranges of the blob (see `ResumableBlob.ranges`): from the endpoint serving this stream, each
        failing over like this stream."""
        ranges = getattr(self._stream, "ranges", None)
        opener = ranges() if callable(ranges) else None
        if opener is None:
            return None
        owner, desc, source = self._owner, self._desc, self._source

        def open_range(start: int, end: int) -> ByteStream:
            try:
                if source.dead:  # it failed another stream meanwhile: not asked again
                    raise TransportError(f"{source.endpoint.host} failed earlier in this command")
                stream: ByteStream = opener(start, end)
            except RangesIgnored:
                raise  # ranges not served: the stream that asked reads on alone (see `ranged`)
            except _MID_BLOB as exc:
                log.info("blob %s: %s failed bytes %d-%d (%s); asking the next endpoint", desc.digest,
                         source.label, start, end - 1, exc)
                stream, served = owner._open_range(desc, start, end, after=source)
                return stream if served is owner._origin else _FailoverBlob(owner, desc, start, end, (stream, served))
            return _FailoverBlob(owner, desc, start, end, (stream, source))

        return open_range

    def queued(self) -> int | None:
        queued = getattr(self._stream, "queued", None)
        return queued() if callable(queued) else None

    def close(self) -> None:
        self._stream.close()
        super().close()


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


def _with_mirrors(exc: ModelpackError, skipped: list[str]) -> ModelpackError:
    """The origin's error, of the same type, saying what the mirrors answered before it."""
    if not skipped:
        return exc
    # Its advice kept apart, so the CLI still words it as commands and flags.
    message = compose("{} (mirrors tried first: {})", exc.wording, "; ".join(skipped))
    if isinstance(exc, RegistryError):
        return type(exc)(message, exc.status, exc.codes, advice=exc.advice)
    try:
        return type(exc)(message, advice=exc.advice)
    except TypeError:  # pragma: no cover - a subclass with another signature: its own message
        return exc
