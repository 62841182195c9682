"""`serve_model`: a model (a reference, a directory or a file) served as a V2 inference server."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelpack import advice
from modelpack.advice import Wording, compose, setting
from modelpack.api.catalog import resolve
from modelpack.api.core import inspect, inspect_fetched, parse_reference, remote
from modelpack.api.deploy import VERIFY_KEY
from modelpack.api.pulling import pull
from modelpack.api.store_unpack import unpack
from modelpack.api.stored_copy import say_stand_in, stand_in
from modelpack.errors import (
    IntegrityError,
    InvalidReferenceError,
    NotFoundError,
    RegistryError,
    TransportError,
    UntrustedContentError,
    UsageError,
)
from modelpack.http_hosts import serving_host_names
from modelpack.model_info import index_refusal
from modelpack.oci import digest as digests
from modelpack.oci import mediatypes as mt
from modelpack.oci.jsontext import replace_surrogates
from modelpack.oci.reference import Reference
from modelpack.signatures.lookup import is_signature_tag
from modelpack.signatures.policy import SERVED, local_verdict, policy_verdict
from modelpack.store.layout import LayoutStore
from modelpack.store.options import ClientOptions, closes_own_options
from modelpack.store.prefetched import Prefetched
from modelpack.store.remote_routes import require_registry

if TYPE_CHECKING:
    import socket

    from modelpack.serve.limits import ServerLimits
    from modelpack.serve.runtimes import Runtime

SIGNATURE_POLICY = setting("signature_policy=FILE", "--signature-policy FILE")


@closes_own_options
def serve_model(
    source: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    name: str | None = None,
    options: ClientOptions | None = None,
    store: LayoutStore | None = None,
    verify_key: str | Path | None = None,
    trust_unverified_pickle: bool = False,
    model_file: str | Path | None = None,
    limits: ServerLimits | None = None,
    sock: socket.socket | None = None,
    grpc_port: int | None = None,
    signature_policy: str | Path | None = None,
    allow_hosts: Sequence[str] = (),
) -> Any:
    """An Open Inference Protocol (V2) server for a model directory or a reference (pulled, verified,
    unpacked). Returns the server; call `serve_forever()` on it.

    A pickle (.joblib/.pkl/.pickle) runs code when loaded. From a directory it is loaded (the user chose
    the directory); from a reference only if `verify_key` verified the artifact's signature (exactly the
    verified digest is then pulled) or `trust_unverified_pickle` says to run it anyway (logged as a
    warning). Without either, the manifest is read once by tag to refuse a pickle before anything is
    downloaded, and exactly that manifest's digest is pulled (a tag moved meanwhile changes nothing).
    ONNX and .skops files are preferred to pickles; see `modelpack.serve.model_file.choose`.

    The calling process's malloc is left as it is; `modelpack serve` fixes glibc's mmap threshold in its
    own process so that freed requests are given back to the system: a program may do so itself with
    `modelpack.serve.malloc.return_large_allocations()`.

    Args:
        source: a model directory, or a reference to pull.
        host: address to listen on.
        port: port to listen on (0: any free port).
        name: the model's name in the API (default: from its metadata, else the directory's name).
        options: registry client options.
        store: the local store (default: the user's).
        verify_key: public key: verify the reference's signature before pulling it.
        trust_unverified_pickle: load a pickle from a reference whose signature was not verified.
        model_file: the file to serve, relative to the model directory (default: chosen from the files).
        limits: requests at once, request deadline, body size and the rate gRPC messages must arrive at
            (default: `ServerLimits()`).
        sock: a listening socket to serve on instead of binding `host`:`port` (`serve --workers`).
        grpc_port: also serve the protocol over gRPC on this port (0: any free port; None: REST only).
        signature_policy: the containers-policy.json a reference must satisfy (default: the one in effect,
            see `pull`); a signature it verified counts as `verify_key`'s does (exactly that digest is pulled).
            A model of the local store under a bare name is judged by a named policy's default
            (`signature_policy.local_verdict`); with a directory it is refused, as `verify_key` is.
        allow_hosts: Host names answered besides addresses, localhost and this machine's name (DNS
            rebinding, `modelpack.http_hosts.serving_host_names`): checked on a loopback `host`, and on any
            `host` once names are given.

    Returns:
        The server (listening, not yet serving).

    Raises:
        UntrustedContentError: a pickle from an unverified reference, or a .skops file naming types
            outside the allow-list.
        VerificationError: `verify_key` given and no signature verifies, or the signature policy refuses
            the reference (or the stored model).
        MissingDependencyError: the `[serve]` extra (with `grpc_port`, the `[grpc]` one) is not installed: said
            before anything is pulled.
        UsageError: no servable file, an ambiguous choice, a bad `model_file`, `source` neither a
            directory nor a reference, or an address that cannot be listened on.
        AuthenticationError, TransportError, RegistryError: the registry refused or could not be reached (a reference
            served).
    """
    import re

    from modelpack.serve.runtimes import require_stack
    from modelpack.serve.server import ServedModel, make_server

    require_stack(grpc_port is not None)  # before anything is pulled or loaded
    path = Path(source)
    pulled = None
    digest: str | None
    stored = _stored_model(source, store)
    if stored is not None:
        # In the local store only (a bare name: `pack -t iris:1.0`): no registry to pull from or to ask a
        # signature policy about. Trusted as a reference is: it may be a tag of a model pulled from anywhere.
        ref, digest = stored
        local_verdict(str(source), signature_policy)  # a policy named is met or refuses; never ignored
        if verify_key is not None:
            from modelpack.api.signing import verify

            digest = verify(ref, verify_key, local=True, store=store).digest
        metadata = inspect(ref.with_digest(digest), store=store).metadata
        workdir = Path(tempfile.mkdtemp(prefix="modelpack-serve-"))
        try:
            unpack(ref.with_digest(digest), workdir / "model", store=store)
            runtime = _load_runtime(workdir / "model", str(source), metadata, model_file,
                                    trusted=verify_key is not None or trust_unverified_pickle,
                                    warn_unverified=verify_key is None)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        label = name or metadata.get("name") or ref.repository.rsplit("/", 1)[-1]
    elif path.is_dir():
        _refuse_checks_of_a_directory(verify_key, signature_policy)
        from modelpack.metadata.restore import recorded_digest

        # The serving image says who it serves in its environment; a pulled directory in modelpack.yaml.
        digest = _env_digest() or recorded_digest(path)
        metadata = _directory_metadata(path)
        for field in ("name", "version"):
            if not metadata.get(field) and os.environ.get(f"MODELPACK_MODEL_{field.upper()}"):
                metadata[field] = os.environ[f"MODELPACK_MODEL_{field.upper()}"]
        runtime = _load_runtime(path, str(source), metadata, model_file, trusted=True)
        label = name or metadata.get("name") or path.resolve().name
    else:
        ref = _served_reference(source)
        verdict = policy_verdict(ref, remote(ref, options, mirrors=True), signature_policy, SERVED)
        if verdict.digest is not None:
            ref = replace(ref, digest=verdict.digest)  # exactly what the policy verified
        checked = None
        try:
            if verify_key is None:
                # Pull the manifest the check read, not the tag again: a tag moved in between must not get
                # a model past the check that it never saw (nor download one the check would have refused).
                # The pull takes the manifest and config the check fetched: neither is fetched twice. Read
                # first when trusted too: a registry that does not answer is then said below, in serve's
                # words, not in the pull's ("the local store already holds ...").
                checked = _refuse_unverified_pickle_early(
                    ref, model_file, options, store, refuse=not trust_unverified_pickle and not verdict.signed)
                ref = replace(ref, digest=checked.descriptor.digest)
            pulled = pull(ref, options=options, store=store, verify_key=verify_key, prefetched=checked,
                          signature_policy=verdict)
            digest = pulled.descriptor.digest
            if pulled.from_store:  # the registry was down: the pull stood the store's copy in, and said so
                pulled = None
        except (TransportError, RegistryError) as exc:
            # A restart while the registry is down: the copy a pull left, verified, is the model a digest
            # names (a pickle in it is refused below unless trusted, as from the registry).
            stand_in_copy = stand_in(ref, exc, store or LayoutStore(),
                                     signature_asked=verify_key is not None or verdict.signed)
            if stand_in_copy is None:
                raise
            digest = stand_in_copy.digest
            say_stand_in(logging.getLogger("modelpack.serve"), exc,
                         f"serving the local store's copy of {ref.with_digest(digest)} instead")
        metadata = inspect(ref.with_digest(digest), store=store).metadata
        workdir = Path(tempfile.mkdtemp(prefix="modelpack-serve-"))
        try:  # the runtime holds the model in memory once loaded: the unpacked copy is not kept
            try:
                unpack(ref.with_digest(digest), workdir / "model", store=store)
            except (IntegrityError, NotFoundError) as exc:
                if pulled is None:  # served from the store while the registry is down: nothing to fetch
                    raise
                # The store's copy of a blob was corrupt (disk, a hand's edit) and is removed, or another
                # process (a --workers sibling) removed it so: the registry that was just asked has it, so a
                # restart need not fail where a pull mends it.
                said = (str(exc).partition(" and has been removed")[0] if isinstance(exc, IntegrityError)
                        else f"a blob of {digest} left the local store as it was unpacked")
                logging.getLogger("modelpack.serve").warning("warning: %s; pulling it again", said)
                pull(ref.with_digest(digest), options=options, store=store, verify_key=verify_key,
                     signature_policy=verdict)
                shutil.rmtree(workdir / "model", ignore_errors=True)
                unpack(ref.with_digest(digest), workdir / "model", store=store)
            runtime = _load_runtime(workdir / "model", str(source), metadata, model_file,
                                    trusted=verify_key is not None or trust_unverified_pickle or verdict.signed,
                                    warn_unverified=verify_key is None and not verdict.signed)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        label = name or metadata.get("name") or ref.repository.rsplit("/", 1)[-1]
    # The artifact's texts go out as UTF-8 (gRPC strings, JSON): a lone surrogate becomes U+FFFD.
    metadata = replace_surrogates(metadata)
    served = ServedModel(re.sub(r"[^A-Za-z0-9_.-]+", "-", str(label)), runtime,
                         str(metadata["version"]) if metadata.get("version") else None, metadata, digest)
    server = make_server(served, host, port, limits, sock=sock, grpc_port=grpc_port,
                         host_names=serving_host_names(host, allow_hosts))
    server.pulled, server.served = pulled, served
    return server


def pin_served(source: str, options: ClientOptions | None = None,
               signature_policy: str | Path | None = None) -> str:
    """`source` with its tag resolved to a digest, once (`serve --workers`: every worker then pulls,
    verifies and serves that one digest, even if the tag moves while they start); a directory, or a
    reference with a digest, as it is.

    Args:
        source: what `serve` was given.
        options: registry client options.
        signature_policy: checked here once, so a refusal is one line before any worker starts (each
            worker checks the pinned digest again, as the same tag).

    Returns:
        `REPO:TAG@DIGEST`, or `source` unchanged.

    Raises:
        NotFoundError: the tag names nothing.
        UsageError: `source` is neither a directory nor a reference.
        VerificationError: the signature policy refuses the reference.
    """
    stored = _stored_model(source, None)
    if stored is not None:
        local_verdict(source, signature_policy)
        return str(replace(stored[0], digest=stored[1]))
    if Path(source).is_dir():
        _refuse_checks_of_a_directory(None, signature_policy)
        return source
    ref = _served_reference(source)
    verdict = policy_verdict(ref, remote(ref, options, mirrors=True), signature_policy, SERVED)
    if ref.digest:
        return source
    return str(replace(ref, digest=verdict.digest or resolve(ref, options=options).digest))


def _refuse_checks_of_a_directory(verify_key: str | Path | None, signature_policy: str | Path | None) -> None:
    """A directory is served as it is (the user chose it): a signature check asked of it is refused, not
    skipped (the policy in effect, unnamed, judges registry pulls only)."""
    for given, flag in ((verify_key, VERIFY_KEY), (signature_policy, SIGNATURE_POLICY)):
        if given is not None:
            raise UsageError(compose("{} checks a reference's signature; a directory is served as it is", flag),
                             advice=compose("check it when pulling: {}", setting(
                                 f"modelpack.pull(REF, output=DIR, {flag.api})",
                                 f"modelpack pull REF {flag.cli} -o DIR")))


def _stored_model(source: str | Path, store: LayoutStore | None) -> tuple[Reference, str] | None:
    """The local store's model `source` names when it is a name with no registry (`iris`, `iris:1.0`)
    the store holds, and its digest; None for anything else (a directory, a registry's reference).

    Raises:
        UsageError: `source` also names a directory here, written without `./` or `/`: which one was
            meant cannot be told.
    """
    if not isinstance(source, str):
        return None  # a Path: the caller means a directory or file
    try:
        ref = parse_reference(source)
    except InvalidReferenceError:
        return None
    if ref.registry:
        return None
    found = (store or LayoutStore()).find(ref)
    if found is None:
        return None
    if Path(source).is_dir():
        if source.startswith((".", "/")):
            return None  # written as a path: the directory
        raise UsageError(f"{source} is both a directory here and the model {ref} in the local store",
                         advice=Wording(f"pass Path({source!r}) (or './{source}') to serve the directory, or "
                                        f"'{ref}' for the stored model",
                                        f"write ./{source} to serve the directory, or {ref} for the stored model"))
    return ref, found.digest


def _served_reference(source: str | Path) -> Reference:
    """`source` as a reference, or the one-line reason it is neither a directory nor a reference."""
    path = Path(source)
    if path.exists():
        raise UsageError(f"{source}: not a directory (serve takes a model directory or a reference)")
    try:
        ref = parse_reference(str(source))
    except InvalidReferenceError:
        raise UsageError(f"{source}: no such directory (and not a reference)") from None
    try:
        require_registry(ref)
    except InvalidReferenceError as exc:  # `serve iris-clasifier`: the folder's name mistyped, most likely
        said = compose(f"{source}: no such directory nor model in the local store, and {{}}", exc.wording)
        raise InvalidReferenceError(said, advice=exc.advice) from None
    if ref.digest is None and ref.tag is not None and is_signature_tag(ref.tag):
        # Refused before anything is fetched, naming the model: resolved to its digest first, the tag's
        # index could only be called "an index of several manifests".
        raise UsageError(index_refusal(source, "is an index"))
    return ref


def _directory_metadata(path: Path) -> dict[str, Any]:
    if not (path / "modelpack.yaml").is_file():
        return {}
    from modelpack.metadata.load import load_metadata

    return load_metadata(path, default_name=path.resolve().name, use_git=False).model_dump(
        by_alias=True, exclude_none=True, mode="json")


def _refuse_unverified_pickle_early(ref: Reference, model_file: str | Path | None, options: ClientOptions | None,
                                    store: LayoutStore | None, refuse: bool = True) -> Prefetched:
    """Refuse from the manifest alone, before gigabytes are downloaded, what `_load_runtime` would refuse
    once they were: a model whose only servable files are pickles, with no verified signature (unless not
    `refuse`: a pickle trusted). Returns the manifest and config it read: the ones to pull."""
    from modelpack.serve import model_file as files

    info, fetched = inspect_fetched(ref, remote_only=True, options=options, store=store)
    if not refuse:
        return fetched
    paths = [f.path for f in info.files if f.path]
    packings = [mt.parse_layer_media_type(f.media_type) for f in info.files]
    if any(parsed is None or parsed[1] != "raw" for parsed in packings):
        return fetched  # archives (or other tools' layers): their files are known once unpacked
    if model_file is None:  # (a named file is checked once it is there)
        files.refuse_none_servable(paths, str(ref))
    if files.only_pickles(paths, model_file):
        named = str(model_file) if model_file is not None else ", ".join(p for p in paths if files.is_pickle(Path(p)))
        raise UntrustedContentError(
            f"refusing to serve {ref}: its model file ({named[:200]}) is a pickle, which runs code when loaded, "
            "and no signature was verified (nothing was downloaded)", advice=advice.VERIFY_OR_TRUST)
    return fetched


def _load_runtime(model_dir: Path, label: str, metadata: dict[str, Any], model_file: str | Path | None, *,
                  trusted: bool, warn_unverified: bool = False) -> Runtime:
    """The runtime for the model file chosen in `model_dir`; errors name `label` (what the user typed),
    not a temporary directory."""
    import logging

    from modelpack.serve import model_file as files
    from modelpack.serve.runtimes import load

    chosen = files.choose(model_dir, metadata.get("framework"), model_file, label=label)
    if files.is_pickle(chosen) and not trusted:
        raise UntrustedContentError(
            f"refusing to load {chosen.name} from {label}: a pickle runs code when loaded and the model's "
            "signature was not verified", advice=advice.VERIFY_OR_TRUST)
    if files.is_pickle(chosen) and warn_unverified:
        from modelpack.cli.escape import quote

        logging.getLogger("modelpack.serve").warning(  # (the file's name is the artifact's: quoted unless plain)
            "warning: loading %s from %s, a pickle whose signature was not verified "
            "(--trust-unverified-pickle): it runs as code with this process's privileges", quote(chosen.name), label)
    return load(chosen)


def _env_digest() -> str | None:
    """MODELPACK_MODEL_DIGEST, where a serving image names its model: it labels every metric series and the
    model's metadata, so a value that is no digest (a typo in a Deployment) is refused, not served.

    Raises:
        UsageError: the variable is set to something other than `sha256:<64 hex>`.
    """
    value = os.environ.get("MODELPACK_MODEL_DIGEST", "").strip()
    if value and not digests.is_digest(value):
        raise UsageError(f"MODELPACK_MODEL_DIGEST={value!r} is not a digest (sha256:<64 hex>)")
    return value or None
