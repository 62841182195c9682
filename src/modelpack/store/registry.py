"""A repository in a remote registry, as a `Storage` (blobs, manifests, tags, referrers, deletion)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future

from modelpack import advice
from modelpack.errors import IntegrityError, NotFoundError, RegistryError
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import MAX_MANIFEST_BYTES, Descriptor, Index, parse_manifest
from modelpack.oci.jsontext import parse_or_none
from modelpack.oci.reference import Reference, is_tag
from modelpack.store.auth import merge_scopes
from modelpack.store.blob_digest import unless_a_blob
from modelpack.store.blobstream import ResumableBlob
from modelpack.store.bodies import finish
from modelpack.store.client import RegistryClient
from modelpack.store.options import ClientOptions, OwnsOptions
from modelpack.store.pages import paginate
from modelpack.store.quick_fetch import QuickFetches
from modelpack.store.quick_upload import QuickUploads
from modelpack.store.relayed_not_found import unless_relayed
from modelpack.store.streamed_upload import push_speculative
from modelpack.store.target import Opener, Progress
from modelpack.store.transport import Response
from modelpack.store.upload import FileBody, check_stored, refused
from modelpack.store.upload_sessions import UploadSessions
from modelpack.streams import ByteStream

log = logging.getLogger("modelpack.registry")
ACCEPT_MANIFESTS = ", ".join(mt.MANIFEST_TYPES)
MAX_REFERRERS = 100  # signatures and attestations read per manifest, as cosign


class RegistryRepository(OwnsOptions):
    def __init__(self, client: RegistryClient, name: str) -> None:
        self.client = client
        self.name = name  # repository path, without the registry host
        self._prefix = f"/v2/{name}"
        self._quick: QuickUploads | None = None
        self._fetches: QuickFetches | None = None
        self.mounted: set[str] = set()  # digests the registry mounted from another repository: no bytes sent
        self.uploads = UploadSessions()  # cancelled if the push fails or is interrupted (see cancel_uploads)

    @property
    def prefix(self) -> str:
        """The repository's API path, `/v2/<name>`."""
        return self._prefix

    def absolute(self, location: str) -> str:
        """A Location the registry sent, as a full URL."""
        return _absolute(self.client.base, location)

    def quick_uploads(self) -> QuickUploads:
        """Small blobs pushed as callbacks on the curl engine (see quick_upload); one set per repository."""
        if self._quick is None:
            self._quick = QuickUploads(self)
        return self._quick

    def quick_fetches(self) -> QuickFetches | None:
        """Small blobs fetched as callbacks on the curl engine (see quick_fetch); None once the registry
        turned out to redirect blob downloads."""
        if self._fetches is None:
            self._fetches = QuickFetches(self)
        return None if self._fetches.redirected else self._fetches

    def __repr__(self) -> str:
        return f"RegistryRepository({self.client.host}/{self.name})"

    def cancel(self) -> None:
        """Abandon waits to retry (see RegistryClient.cancel)."""
        self.client.cancel()

    def resume(self) -> None:
        self.client.resume()

    def cancel_uploads(self) -> None:
        """The push failed or was interrupted: cancel the upload sessions it left open, within a short deadline."""
        self.uploads.cancel_all(self.client)

    # -- blobs -----------------------------------------------------------------------------------
    def has_blob(self, desc: Descriptor) -> bool:
        resp = self.client.send("HEAD", f"{self._prefix}/blobs/{desc.digest}", allow_404=True,
                                what=f"blob {desc.digest}")
        finish(resp)
        return resp.status_code == 200

    def open_blob(self, desc: Descriptor) -> ByteStream:
        """The blob as a stream that resumes a cut connection; it can also open other ranges of the blob
        (`ResumableBlob.ranges`), for a receiver that fetches a large one over several connections."""
        spent = self._fetches.spent(desc.digest) if self._fetches is not None else 0.0
        return ResumableBlob(self, desc, spent=spent)

    def open_blob_from(self, desc: Descriptor, start: int) -> ByteStream:
        """The blob's bytes from `start` on (a Range request), for a download resumed where an earlier
        one stopped.

        Raises:
            RangesIgnored: the registry does not serve that range (it sent the whole blob, or another range).
        """
        return ResumableBlob(self, desc, start)

    def open_blob_range(self, desc: Descriptor, start: int, end: int) -> ByteStream:
        """The blob's bytes [start, end) (a Range request; RangesIgnored when not served so)."""
        return ResumableBlob(self, desc, start, end)

    def push_blob(self, desc: Descriptor, opener: Opener, progress: Progress | None = None,
                  mount_from: Sequence[str] = ()) -> None:
        """POST for an upload session (auth settles on this body-less request), then one streamed PUT.
        With `mount_from`, the POST first asks the registry to mount the blob from those repositories;
        a registry that cannot answers 202 with an ordinary upload session, used as usual."""
        candidates = [name for name in mount_from if name != self.name]
        for attempt in range(3):
            start = self._start_upload(desc, candidates[0] if candidates and attempt == 0 else None)
            if start is None:
                self.mounted.add(desc.digest)  # no bytes sent: copy() reports it as mounted, not transferred
                return
            location = _absolute(self.client.base, start.headers.get("Location", ""))
            if not location:
                raise RegistryError(f"{self.client.host} started an upload without a Location")
            self.uploads.opened(location)
            sep = "&" if "?" in location else "?"

            body = FileBody(opener, desc.size, progress)

            try:
                resp = self.client.send(
                    "PUT", f"{location}{sep}digest={desc.digest}", body=body, ok=(201, 204),
                    headers={"Content-Type": "application/octet-stream", "Content-Length": str(desc.size)},
                    what=f"upload of {desc.digest}",
                )
                finish(resp)
                self.uploads.closed(location)
                check_stored(self.client.host, desc.digest, resp)
                return
            except RegistryError as exc:
                # A broken upload session (e.g. after a cut connection) is restarted from a new POST.
                if "BLOB_UPLOAD_UNKNOWN" in exc.codes and attempt < 2:
                    self.uploads.closed(location)
                    continue
                if "DIGEST_INVALID" in exc.codes or "SIZE_INVALID" in exc.codes:
                    raise refused(body, desc.digest) from None
                raise
            except NotFoundError:
                if attempt < 2:
                    continue
                raise

    def push_blob_speculative(self, size: int, opener: Opener, digest: Future[str],
                              progress: Progress | None = None, abandon: threading.Event | None = None,
                              hashing: bool = False) -> bool:
        """Upload a blob whose digest is still being computed (see `streamed_upload.push_speculative`).
        Returns whether bytes were uploaded; raises SpeculationFailed when the registry refused the
        streamed upload, so the caller pushes the ordinary way."""
        return push_speculative(self, size, opener, digest, progress, abandon, hashing)

    def cancel_upload(self, location: str) -> None:
        """Abandon an upload session; registries expire them anyway, so failure here is harmless."""
        try:
            answer = self.client.send("DELETE", location, ok=range(200, 500), retries=0, what="cancel upload")
            answer.close()
            if answer.status_code < 300:
                self.uploads.closed(location)
        except Exception as exc:
            log.debug("could not cancel upload: %s", type(exc).__name__)

    def _start_upload(self, desc: Descriptor, mount_from: str | None) -> Response | None:
        url = f"{self._prefix}/blobs/uploads/"
        scope = None
        if mount_from:
            url += f"?mount={desc.digest}&from={mount_from}"
            scope = merge_scopes(self.client.scope_for("POST", url), f"repository:{mount_from}:pull")
        start = self.client.send("POST", url, headers={"Content-Length": "0"}, ok=(202, 201), scope=scope,
                                 what=f"start upload of {desc.digest}")
        finish(start)
        if start.status_code == 201:
            log.debug("mounted %s from %s", desc.digest, mount_from)
            return None
        return start

    # -- manifests -------------------------------------------------------------------------------
    def has_manifest(self, desc: Descriptor) -> bool:
        return self.find(desc.digest) is not None

    def find(self, version: str) -> Descriptor | None:
        try:
            return self.resolve(version)
        except NotFoundError:
            return None

    def resolve(self, version: str) -> Descriptor:
        what = f"{self.client.host}/{self.name}{'@' if digests.is_digest(version) else ':'}{version}"
        resp = self.client.send("HEAD", f"{self._prefix}/manifests/{version}", headers={"Accept": ACCEPT_MANIFESTS},
                                what=what,
                                before_retry=unless_relayed(self, version, what, unless_a_blob(self, version)))
        finish(resp)
        digest = resp.headers.get("Docker-Content-Digest")
        size = resp.headers.get("Content-Length")
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        if digest and digests.is_digest(digest) and size and size.isdigit() and media_type in mt.MANIFEST_TYPES:
            if digests.is_digest(version) and digest != version:
                raise IntegrityError(f"registry answered {digest} for {version}")
            return Descriptor(mediaType=media_type, digest=digest, size=int(size))
        desc, _ = self.fetch_manifest(version)
        return desc

    def fetch_manifest(self, version: str) -> tuple[Descriptor, bytes]:
        what = (f"{self.client.host}/{self.name}@{version}" if digests.is_digest(version)
                else f"{self.client.host}/{self.name}:{version}")
        resp = self.client.send("GET", f"{self._prefix}/manifests/{version}", headers={"Accept": ACCEPT_MANIFESTS},
                                limit=MAX_MANIFEST_BYTES, what=f"manifest of {what}",
                                before_retry=unless_a_blob(self, version))
        data = resp.content
        digest = digests.of_bytes(data)
        if digests.is_digest(version) and digest != version:
            raise IntegrityError(f"manifest of {what} does not match its digest (got {digest})")
        header = resp.headers.get("Docker-Content-Digest")
        if header and header.startswith("sha256:") and header != digest:
            raise IntegrityError(f"manifest of {what}: registry says {header}, content is {digest}")
        node = parse_manifest(data)
        media_type = node.media_type or resp.headers.get("Content-Type", mt.OCI_MANIFEST).split(";")[0]
        return Descriptor(mediaType=media_type, digest=digest, size=len(data),
                          artifactType=node.artifact_type), data

    def push_manifest(self, desc: Descriptor, data: bytes, tag: str | None = None) -> None:
        self.put_manifest(desc, data, tag)

    def put_manifest(self, desc: Descriptor, data: bytes, tag: str | None = None) -> dict[str, str]:
        """PUT a manifest (by tag, or by digest); returns the response headers (e.g. OCI-Subject)."""
        version = tag or desc.digest
        resp = self.client.send("PUT", f"{self._prefix}/manifests/{version}", body=data,
                                headers={"Content-Type": desc.media_type}, ok=(201, 200, 204),
                                what=f"push of manifest {self.client.host}/{self.name}:{version}")
        finish(resp)
        echoed = resp.headers.get("Docker-Content-Digest")
        if echoed and echoed.startswith("sha256:") and echoed != desc.digest:
            raise IntegrityError(f"registry stored manifest as {echoed}, expected {desc.digest}")
        return dict(resp.headers)

    def push_referrer(self, desc: Descriptor, data: bytes) -> bool:
        """PUT a manifest that has a subject; whether the registry indexed it (it says so with an
        `OCI-Subject` header naming the subject)."""
        headers = {k.lower(): v for k, v in self.put_manifest(desc, data).items()}
        subject = getattr(parse_manifest(data), "subject", None)
        return subject is not None and headers.get("oci-subject") == subject.digest

    def list_referrers(self, digest: str) -> list[Descriptor] | None:
        """The OCI 1.1 referrers of a manifest, or None when the registry has no referrers API."""
        resp = self.client.send("GET", f"{self._prefix}/referrers/{digest}", headers={"Accept": mt.OCI_INDEX},
                                allow_404=True, ok=(200,), limit=MAX_MANIFEST_BYTES, what=f"referrers of {digest}")
        if resp.status_code != 200 or not resp.headers.get("Content-Type", "").startswith(mt.OCI_INDEX):
            return None
        data = resp.content
        node = parse_manifest(data)
        if not isinstance(node, Index):
            return None
        if len(node.manifests) > MAX_REFERRERS:
            raise RegistryError(f"{self.client.host}/{self.name}@{digest} has {len(node.manifests)} referrers, "
                                f"over the {MAX_REFERRERS} modelpack reads (cosign's limit too); refused")
        return list(node.manifests)

    def delete_manifest(self, digest: str) -> None:
        self.client.send("DELETE", f"{self._prefix}/manifests/{digest}", ok=(202, 200, 204),
                         what=f"delete of {self.client.host}/{self.name}@{digest}").close()

    def untag(self, tag: str) -> bool:
        """Remove `tag` alone (OCI distribution-spec 1.1: DELETE of a manifest by tag), leaving the manifest
        and its other tags. Returns False when the registry cannot: Distribution 2.8 answers 400
        DIGEST_INVALID, others 405 or UNSUPPORTED (or 404: the tag was taken for a digest)."""
        try:
            self.client.send("DELETE", f"{self._prefix}/manifests/{tag}", ok=(200, 202, 204), retries=0,
                             what=f"delete of tag {self.client.host}/{self.name}:{tag}").close()
        except NotFoundError:
            return False
        except RegistryError as exc:
            if exc.status in (400, 405) or {"UNSUPPORTED", "DIGEST_INVALID"} & set(exc.codes):
                return False
            raise
        return True

    def tags(self, page_size: int = 1000) -> list[str]:
        """All tags, following the registry's `Link` pagination (bounded: see `pages`); pages are
        requested explicitly, since Distribution paginates only when asked."""

        def fetch(url: str) -> tuple[bytes, str]:
            resp = self.client.send("GET", url, what=f"tags of {self.client.host}/{self.name}")
            return resp.content, resp.headers.get("Link", "")

        try:
            listed = paginate(fetch, f"{self.client.base}{self._prefix}/tags/list?n={page_size}", "tags",
                              f"tags of {self.client.host}/{self.name}")
        except NotFoundError:  # the tag list of a repository is only missing when the repository is
            raise NotFoundError(f"repository {self.name} not found on {self.client.host}",
                                advice=advice.list_repositories(self.client.host)) from None
        # A name outside the tag grammar would go into a URL as it is: `../../other/manifests/1` reads
        # another repository, a CR/LF or non-ASCII byte breaks the request. Such names are no tags.
        tags = [tag for tag in listed if is_tag(tag)]
        if len(tags) < len(listed):
            log.warning("warning: %s/%s lists %d name(s) that are not valid tags; left out",
                        self.client.host, self.name, len(listed) - len(tags))
        return tags


    def has_tags(self) -> bool:
        """Whether the repository has any tag: one page of one tag (a repository never pushed to is
        404). What the registry sends is capped like any metadata answer."""
        try:
            resp = self.client.send("GET", f"{self._prefix}/tags/list?n=1",
                                    what=f"tags of {self.client.host}/{self.name}")
        except NotFoundError:
            return False
        page = parse_or_none(resp.content)
        return isinstance(page, dict) and isinstance(page.get("tags"), list) and bool(page["tags"])


def _absolute(base: str, location: str) -> str:
    if not location:
        return ""
    if location.startswith(("http://", "https://")):
        return location
    return base + (location if location.startswith("/") else "/" + location)


def repository_path(reference: Reference) -> str:
    """The repository path a reference names in its registry's API (Docker Hub's official images under
    `library/`)."""
    name = reference.repository
    if reference.registry == "docker.io" and "/" not in name:
        name = f"library/{name}"
    return name


def open_repository(reference: Reference, options: ClientOptions | None = None) -> RegistryRepository:
    """The registry repository a reference names, exactly (registries.conf is applied by
    `remote_routes.open_remote`, which the API's `remote()` uses).

    Raises:
        UsageError: the reference names no registry.
    """
    reference.require_registry()
    client = options.client_for(reference.api_host) if options is not None else RegistryClient(reference.api_host)
    return RegistryRepository(client, repository_path(reference))
