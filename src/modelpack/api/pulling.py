"""Getting a model out of a registry: pull (into the store, or straight into a directory; `unpack`, the
store's copy of a model into a directory, is in store_unpack).

    import modelpack
    modelpack.pull("localhost:5000/team/iris@sha256:...", output="./iris")      # files only
    modelpack.pull("localhost:5000/team/iris:1.0")                              # into the local store
    modelpack.unpack("localhost:5000/team/iris:1.0", "./iris-again")            # from the store
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from modelpack.advice import compose, setting
from modelpack.api.core import TransferResult, _store, _transfer, remote
from modelpack.api.model_sig import SignatureLookup
from modelpack.api.store_unpack import single_manifest, unpack_stored
from modelpack.api.stored_copy import StoredCopy, say_stand_in, stand_in
from modelpack.errors import IntegrityError, NotFoundError, RegistryError, TransportError, UsageError
from modelpack.image.kinds import refuse_container_image
from modelpack.metadata.restore import restore_metadata_file
from modelpack.oci.descriptor import MAX_MANIFEST_BYTES, Descriptor, Index, Manifest, parse_manifest
from modelpack.oci.reference import Reference
from modelpack.output_folder import check_output, naming_output
from modelpack.places import LayoutReference, Place, open_place, parse_place
from modelpack.selection import LayerSelection
from modelpack.signatures.lookup import MODEL_SIG_FILE
from modelpack.signatures.policy import PolicyVerdict, policy_verdict
from modelpack.store.copy import CopyOptions, copy
from modelpack.store.layout import LayoutStore
from modelpack.store.mirrored import naming_mirrors
from modelpack.store.nearest_tag import naming_nearest_tag
from modelpack.store.options import ClientOptions, closes_own_options
from modelpack.store.pinned_tag import say_tag_disagrees
from modelpack.store.prefetched import Prefetched, PrefetchedSource
from modelpack.store.resumable_ingest import say_kept
from modelpack.store.target import Storage

if TYPE_CHECKING:
    from modelpack.store.directory import DirectoryTarget

log = logging.getLogger("modelpack.pull")
LAYOUT_PULL = compose("pull its files with {}, or put it in the local store with {}", setting("output=DIR", "-o DIR"),
                      setting("copy_model('oci:DIR:TAG', 'REGISTRY/REPO:TAG', to_local=True)",
                              "`modelpack copy oci:DIR:TAG REGISTRY/REPO:TAG --to-local`"))


@closes_own_options
def pull(
    reference: str | Place,
    *,
    output: str | Path | None = None,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
    copy_options: CopyOptions | None = None,
    verify_key: str | Path | None = None,
    link: bool = False,
    force: bool = False,
    keep: bool = False,
    selection: LayerSelection | None = None,
    prefetched: Prefetched | None = None,
    signature_policy: str | Path | PolicyVerdict | None = None,
) -> TransferResult:
    """Fetch a model by tag or digest, verifying every blob.

    Args:
        reference: the model in a registry, or in an OCI layout (`oci:DIR[:TAG|@DIGEST]`, with `output`).
        output: write the model's files into this directory (new or empty; any with `force`), straight
            from the registry: the local store does not keep a copy, unless `keep` (or `link`).
            Without `output`, the model goes into the local store.
        options: how to reach the registry.
        store: the local store (default: MODELPACK_HOME's). With `output`, blobs it already holds are
            copied from it instead of downloaded.
        copy_options: concurrency and progress callbacks.
        verify_key: a public key; the manifest's signature is checked first and, if it does not
            verify, nothing is written anywhere. Then exactly the verified digest is pulled.
        link: with `output`: keep the model in the store and hard-link the files to its blobs
            (read-only) instead of copying them.
        force: with `output`: replace the files of an existing directory that differ from the model's.
        keep: with `output`: also keep the model in the local store (the files are copies of its blobs).
        selection: fetch only the layers it takes (`--include`, `--exclude`, `--kind`); in the local
            store the model is then recorded as partial until a pull without a selection completes it.
        prefetched: the manifest (and blobs, e.g. its config) the caller already fetched from the
            reference's repository, e.g. to check it first: they are not fetched again, and exactly that
            manifest's digest is pulled, whatever the tag names by then. Its bytes must match its
            digest, and the blobs are checked as every blob is.
        signature_policy: a containers-policy.json file to check a registry reference against (default:
            `$MODELPACK_SIGNATURE_POLICY`, else the user's or the system's policy.json, else none), or
            the verdict of a check already made. When a signature requirement is met, exactly the digest
            it verified is pulled. An OCI layout is judged by a policy the caller named only, by its
            `default` (see `signature_policy.local_verdict`).

    With `output`, a ModelPack model's metadata is also restored as `modelpack.yaml` (see
    metadata.restore), unless one of its layers is a file of that name.

    A digest whose registry cannot be reached is taken from the local store's copy, every blob hashed
    again, with a warning (see stored_copy; `from_store` in the result): with `output` its files are
    written from it; without, the store already holds what the pull was for, and nothing changes. A
    tag's error names the digest the store last recorded for it.

    Returns:
        What was transferred; with `output`, the restored file paths.

    Raises:
        UsageError: `output` is not empty (and not `force`), names an index of several models,
            `selection` takes no layer (refused before any blob is fetched), or `reference` names
            another digest than `prefetched`.
        VerificationError: `verify_key` was given and no signature verified, or the signature policy
            refuses the reference.
        PolicyError: the signature policy file cannot be read or parsed.
        UnsafePathError, IntegrityError: the artifact names a path that cannot be restored, or a blob
            does not match its digest (nothing is written).
        NotFoundError: no such model there.
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached.
        OSError: the output or the local store cannot be written (read-only, not writable by this user, a
            virtual filesystem such as /proc, no space left): checked for `output` before anything is
            fetched, and not a ModelpackError, as a failed write anywhere is not.
    """
    ref = parse_place(reference)
    if output is not None:
        check_output(output, force)  # before anything is downloaded
    local_store = _store(store)
    patience = options.timeout if options is not None else None  # for another pull's stuck download
    selection = selection or LayerSelection()
    if not selection.everything:
        copy_options = replace(copy_options or CopyOptions(), layer_filter=selection)
    if isinstance(ref, LayoutReference):
        if output is None or keep or link:
            raise UsageError(f"{ref} is an OCI layout", advice=LAYOUT_PULL)
        src, layout_version = open_place(ref)
        version = layout_version or ""
    else:
        src, version = remote(ref, options, mirrors=True), ref.version
    fetched = prefetched.checked() if prefetched is not None else None
    if fetched is not None:
        if ref.digest and ref.digest != fetched[0].digest:
            raise UsageError(f"{ref} names another digest than the prefetched manifest {fetched[0].digest}")
        version = fetched[0].digest  # exactly what the caller read, even if the tag has moved since
    verdict: PolicyVerdict | None = None
    try:
        with naming_mirrors(src), naming_nearest_tag(src, ref):
            verdict = policy_verdict(ref, src, signature_policy)
            if verdict.digest is not None:
                if fetched is not None and fetched[0].digest != verdict.digest:
                    raise UsageError(f"{ref}: the prefetched manifest {fetched[0].digest} is not the digest the "
                                     f"signature policy verified ({verdict.digest})")
                version = verdict.digest  # pull exactly what was verified, even if the tag moves meanwhile
            verified = 0
            if verify_key is not None:
                from modelpack.signatures import keys, referrers

                subject = src.resolve(version)
                key = keys.load_public_key(Path(verify_key))
                verified = len(referrers.verify_signatures(src, subject.digest, key))
                version = subject.digest  # pull exactly what was verified, even if the tag moves meanwhile
            if fetched is None:
                fetched = src.fetch_manifest(version)
            if prefetched is not None and prefetched.blobs:
                src = PrefetchedSource(src, prefetched.blobs)  # (it delegates the rest to src)
            node = parse_manifest(fetched[1])
            refuse_container_image(ref, node)  # before any blob is fetched
            if output is None:
                assert isinstance(ref, Reference)  # (a layout needs -o: refused above)
                target = local_store.repository(ref.name, partial=not selection.everything, patience=patience)
                tag = _recorded_tag(src, ref, prefetched)
                with _saying_kept(local_store, node):
                    result = copy(src, target, version, tag, copy_options, fetched=fetched)
                local_store.record_origin(ref.name, result.blobs)  # where a later push may mount them from
                transfer = _transfer(ref, result)
            elif keep or link:
                assert isinstance(ref, Reference)
                transfer = _pull_through_store(ref, fetched, node, src, local_store, Path(output), copy_options,
                                               link, force, selection, _recorded_tag(src, ref, prefetched), patience)
            else:
                with naming_output(Path(output)):  # only the output is written: the store is read
                    transfer = _pull_files(ref, fetched, node, src, local_store, Path(output), copy_options,
                                           force, selection)
    except (TransportError, RegistryError) as exc:
        if not isinstance(ref, Reference) or prefetched is not None:
            raise  # (serve, which pulls what it checked, stands in for it itself)
        stored = stand_in(ref, exc, local_store, selection=selection,
                          signature_asked=verify_key is not None or verdict is None or verdict.signed)
        if stored is None:
            raise
        # Refused as with the registry up (a selection that takes no layer), before the stand-in is said.
        refuse_container_image(ref, stored.manifest)
        selection.select(stored.manifest, str(ref))
        if output is None:  # what the pull would have put in the store is there, whole
            say_stand_in(log, exc, f"the local store already holds {ref.with_digest(stored.digest)}")
            return TransferResult(ref, stored.descriptor, 0, 0, 0, from_store=True)
        say_stand_in(log, exc, f"writing {stored.digest} into {output} from the local store")
        return _from_store(ref, stored, local_store, Path(output), link, force, selection)
    transfer.verified_signatures = verified
    transfer.policy_verified = verdict.signed
    return transfer


def _from_store(ref: Reference, stored: StoredCopy, local_store: LayoutStore, output: Path, link: bool, force: bool,
                selection: LayerSelection) -> TransferResult:
    """pull -o while the registry is down: the store's copy (see stored_copy.stand_in)."""
    with local_store.reading():
        files = unpack_stored(ref.with_digest(stored.digest), output, local_store, link, force, selection, str(ref),
                              stored=(stored.descriptor, stored.manifest))
    transfer = TransferResult(ref, stored.descriptor, 0, 0, 0, output=output, files=files, from_store=True)
    transfer.unchanged = sorted(getattr(files, "unchanged", ()))
    return transfer


def _pull_files(ref: Place, fetched: tuple[Descriptor, bytes], node: Manifest | Index, src: Storage,
                local_store: LayoutStore, output: Path, copy_options: CopyOptions | None, force: bool,
                selection: LayerSelection) -> TransferResult:
    """pull -o: each blob received once into the output's filesystem, then renamed into place (`node`:
    `fetched` parsed)."""
    from modelpack.store.directory import DirectoryTarget

    whole = single_manifest(ref, node)
    manifest = selection.select(whole, str(ref))
    target = DirectoryTarget(manifest, output, force=force, local=local_store)  # paths checked here
    signature = SignatureLookup(src, whole)
    signature.start(fetched[0])
    try:
        result = copy(src, target, fetched[0].digest, None, copy_options, fetched=fetched)
        local = [blob for blob in result.copied if blob.digest in target.from_store]
        result.copied = [blob for blob in result.copied if blob.digest not in target.from_store]
        result.skipped.extend(local)  # already here: copied from the local store, not downloaded
        transfer = _transfer(ref, result)
        transfer.output, transfer.files = output, target.files
        transfer.unchanged = sorted(getattr(target.files, "unchanged", ()))
        if MODEL_SIG_FILE not in transfer.files:
            signature.write(output)
        restore_metadata_file(output, whole, _small(target, whole.config), str(ref), fetched[0].digest,
                              transfer.files)
    finally:
        target.close()
        signature.close()
    return transfer


def _pull_through_store(ref: Reference, fetched: tuple[Descriptor, bytes], node: Manifest | Index, src: Storage,
                        local_store: LayoutStore, output: Path, copy_options: CopyOptions | None, link: bool,
                        force: bool, selection: LayerSelection, tag: str | None,
                        patience: float | None) -> TransferResult:
    """pull -o --keep / --link: into the store (`tag` recorded there), then the files copied (or linked)
    out of it (`node`: `fetched` parsed, by `pull`)."""
    with local_store.writing():  # from the first blob until the files are out: no `rm` may collect them
        return _through_store(ref, fetched, node, src, local_store, output, copy_options, link, force, selection,
                              tag, patience)


def _through_store(ref: Reference, fetched: tuple[Descriptor, bytes], node: Manifest | Index, src: Storage,
                   local_store: LayoutStore, output: Path, copy_options: CopyOptions | None, link: bool, force: bool,
                   selection: LayerSelection, tag: str | None, patience: float | None) -> TransferResult:
    target = local_store.repository(ref.name, also_at=None if link else output, partial=not selection.everything,
                                    patience=patience)
    whole = single_manifest(ref, node)
    signature = SignatureLookup(src, whole)
    copy_options = replace(copy_options or CopyOptions(), on_root=signature.start)
    try:
        with _saying_kept(local_store, whole):
            result = copy(src, target, fetched[0].digest, tag, copy_options, fetched=fetched)
        if _drop_corrupt_blobs(local_store, result.blobs):
            # A stored blob failed its check (e.g. edited through a hard link): fetch it again.
            result = copy(src, target, result.descriptor.digest, tag, copy_options)
        local_store.record_origin(ref.name, result.blobs)
        transfer = _transfer(ref, result)
        transfer.output = output
        # Known before the files go out: a modelpack.yaml beside model.sig would fail `model_signing verify`.
        sign = signature.found() is not None
        with local_store.reading():
            # (the manifest pulled, not read back from the store: copy checked its digest)
            transfer.files = unpack_stored(ref.with_digest(result.descriptor.digest), output, local_store, link, force,
                                           selection, str(ref), metadata=not sign, stored=(result.descriptor, whole))
            transfer.unchanged = sorted(getattr(transfer.files, "unchanged", ()))
        if sign and MODEL_SIG_FILE not in transfer.files:
            signature.write(output)
    finally:
        signature.close()
    return transfer


@contextlib.contextmanager
def _saying_kept(local_store: LayoutStore, node: Manifest | Index) -> Iterator[None]:
    """A pull into the store (of the manifest or index `node`) that stops says what of its large blobs'
    downloads the store keeps."""
    try:
        yield
    except BaseException:
        say_kept(local_store.ingest_dir, [node.config, *node.layers] if isinstance(node, Manifest) else [])
        raise


def _recorded_tag(src: Storage, ref: Reference, prefetched: Prefetched | None = None) -> str | None:
    """The tag a pull into the local store records. A reference naming a digest too (REPO:TAG@DIGEST) is
    pulled by its digest, and its tag recorded only if the registry's tag named that digest: when the
    manifest was read by that tag (`prefetched`: serve reads the tag, checks, then pulls what it read), or
    the tag names it now. Else the store would say TAG is what it is not, and a later `push REPO:TAG`,
    `diff` or `serve REPO:TAG` would take it at its word."""
    if not ref.tag or not ref.digest:
        return ref.tag
    if prefetched is not None and prefetched.asked_as == ref.tag and prefetched.descriptor.digest == ref.digest:
        return ref.tag
    if say_tag_disagrees(src, ref, log, f"pulled {ref.digest} by its digest, without recording the tag"):
        return None
    return ref.tag


def _drop_corrupt_blobs(local_store: LayoutStore, blobs: list[Descriptor]) -> bool:
    """Verify blobs the pull did not download before they are linked out; delete any that fail."""
    dropped = False
    for blob in blobs:
        try:
            local_store.verify_blob(blob)
        except IntegrityError:
            dropped = True
    return dropped


def _small(source: DirectoryTarget, desc: Descriptor) -> bytes | None:
    """A received config blob's bytes (verified on receipt), if it is small enough to be one."""
    if desc.size > MAX_MANIFEST_BYTES:
        return None
    try:
        with source.open_blob(desc) as f:
            return f.read(MAX_MANIFEST_BYTES + 1)
    except (NotFoundError, OSError):
        return None
