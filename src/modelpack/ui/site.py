"""What one `modelpack ui` serves: the registries and repositories named on its command line, how to
reach them, the keys signatures are checked with, and the caches its pages share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from modelpack.advice import cli_message  # the UI is started from the CLI: its words
from modelpack.errors import NotFoundError, UsageError
from modelpack.oci.reference import DOCKER_HUB, DOCKER_HUB_API, Reference
from modelpack.store.options import ClientOptions
from modelpack.threads import worker_pool
from modelpack.ui.snapshot import SharedState, SnapshotRepository

if TYPE_CHECKING:
    from modelpack.signatures.keys import PublicKey
    from modelpack.store.layout import LayoutStore

WORKERS = 8  # concurrent registry requests of one page, as `ls` makes them


@dataclass(frozen=True)
class SignatureStatus:
    """Whether a version carries a signature that verifies with one of the keys given (`keys`: which)."""

    verified: bool
    keys: tuple[str, ...] = ()  # the key files that verified it
    reason: str = ""  # why none did (the last key's reason)


@dataclass
class Site:
    """The UI's configuration and shared state.

    Args (fields):
        registries: hosts whose catalog the home page lists.
        repositories: `host/repository` names the home page lists whatever the catalog says.
        options: how to reach the registries (credentials come from the docker config, per host).
        keys: (file name shown on pages, public key) pairs signatures are verified with.
        key_files: the same keys' files (the version page lists and checks as `report` does).
        store: where `ls` caches manifests by digest (the local store).
    """

    registries: list[str]
    repositories: list[Reference]
    options: ClientOptions
    keys: list[tuple[str, PublicKey]]
    key_files: list[Path]
    store: LayoutStore
    shared: SharedState = field(default_factory=SharedState)

    @classmethod
    def from_arguments(cls, targets: list[str], key_files: list[str], options: ClientOptions,
                       store: LayoutStore) -> Site:
        """The site `modelpack ui TARGET... --key FILE...` serves.

        Raises:
            UsageError: a target is neither a registry host nor a repository, or names a tag.
            KeyFileError: a key file cannot be read.
        """
        from modelpack.oci.reference import is_registry_host
        from modelpack.signatures.keys import load_public_key

        if not targets:
            raise UsageError("name a registry (e.g. localhost:5000) or repositories (localhost:5000/team/model)")
        registries, repositories = [], []
        for target in targets:
            text = target.removeprefix("https://").removeprefix("http://").rstrip("/")
            if is_registry_host(text):
                registries.append(text)
                continue
            ref = Reference.parse(text, default_tag=None)
            if not ref.registry or ref.tag or ref.digest:
                raise UsageError(f"{target}: expected REGISTRY or REGISTRY/REPOSITORY (no tag or digest), "
                                 "e.g. localhost:5000/team/model")
            repositories.append(ref)
        paths = [Path(name) for name in key_files]
        keys = [(path.name, load_public_key(path)) for path in paths]
        return cls(registries, repositories, options, keys, paths, store)

    @property
    def hosts(self) -> set[str]:
        return set(self.registries) | {ref.registry for ref in self.repositories}

    def reference(self, host: str, repository: str) -> Reference:
        """The repository a page asks for, on a host named on the command line only: the UI never
        becomes a way to reach other hosts with the user's credentials.

        Raises:
            NotFoundError: a host not named on the command line, or a malformed name.
        """
        if host not in self.hosts:
            raise NotFoundError(f"{host} is not one of the registries this UI shows")
        try:
            ref = Reference.parse(f"{host}/{repository}", default_tag=None)
        except UsageError:
            raise NotFoundError(f"{host}/{repository} is not a repository name") from None
        if ref.tag or ref.digest or ref.registry != host:
            raise NotFoundError(f"{host}/{repository} is not a repository name")
        return ref

    def open(self, ref: Reference) -> SnapshotRepository:
        """The repository, read through the shared caches (a new tag snapshot each call) and, as a pull
        reads, through its registries.conf mirrors (the UI writes nothing)."""
        from modelpack.api.core import remote

        host = DOCKER_HUB_API if ref.registry == DOCKER_HUB else ref.registry
        return SnapshotRepository(remote(ref, self.options, mirrors=True), host, self.shared)

    def signature_status(self, repo: SnapshotRepository, digests: list[str]) -> dict[str, SignatureStatus]:
        """digest -> whether it is signed with one of the keys (nothing without keys)."""
        if not self.keys:
            return {}
        repo.tags()  # the snapshot: absent sha256-<hex>(.sig) tags then cost no request
        with worker_pool(WORKERS, "ui-signatures") as pool:
            return dict(zip(digests, pool.map(lambda d: self._status(repo, d), digests), strict=True))

    def _status(self, repo: SnapshotRepository, digest: str) -> SignatureStatus:
        from modelpack.signatures.key_status import verified_by

        verified, refusal = verified_by(repo, digest, self.keys)
        return SignatureStatus(bool(verified), verified, cli_message(refusal) if refusal else "")
