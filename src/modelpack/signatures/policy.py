"""containers-policy.json(5), the signature policy podman, skopeo, buildah and CRI-O read: which
requirements a pull from a registry must meet. Pure parsing and scope matching; `policy_check.py`
checks a reference against the requirements.

Files: an explicit one (`--signature-policy FILE`, else `$MODELPACK_SIGNATURE_POLICY`), which must
exist; else `$HOME/.config/containers/policy.json` if it exists, else `/etc/containers/policy.json`;
else there is no policy and nothing changes.

Read: `default` and `transports.docker` (scopes `host[:port]`, `host/namespace`, `host/repo`,
`host/repo:tag` or `@digest`, `*.domain`); other transports are parsed for shape and ignored.
Requirements: `insecureAcceptAnything`, `reject`, `sigstoreSigned` with public keys
(`keyPath`, `keyPaths`, `keyData`, `keyDatas`) and `signedIdentity`. `signedBy` (GPG) and sigstore's
`fulcio`, `pki` and `rekorPublicKey*` are understood as requirements modelpack cannot check: a pull they
apply to is refused, never let through. As containers/image does, anything unknown or duplicated
rejects the whole file.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelpack.advice import Wording
from modelpack.errors import UsageError, VerificationError, add_context
from modelpack.files import read_capped
from modelpack.oci.reference import Reference
from modelpack.signatures.policy_identity import IDENTITY_TYPES, SignedIdentity, parse_identity
from modelpack.signatures.policy_scopes import fold_scope, scope_candidates
from modelpack.store.target import Storage

ENV = "MODELPACK_SIGNATURE_POLICY"
SYSTEM_POLICY = Path("/etc/containers/policy.json")
USER_POLICY = Path(".config/containers/policy.json")  # below $HOME, as containers/image looks
MAX_POLICY_BYTES = 1 << 20  # real files are a few KiB
MAX_KEYS = 64
FIX = "fix it (see containers-policy.json(5))"

ACCEPT, REJECT, SIGSTORE = "insecureAcceptAnything", "reject", "sigstoreSigned"
_KEY_FIELDS = ("keyPath", "keyPaths", "keyData", "keyDatas")
_UNCHECKABLE = ("fulcio", "pki", "rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData",
                "rekorPublicKeyDatas")
_SIGNED_BY_FIELDS = {"type", "keyType", "keyPath", "keyPaths", "keyData", "signedIdentity"}


class PolicyError(UsageError):
    """A policy file that cannot be read or parsed: every pull is refused until it is fixed."""


@dataclass(frozen=True)
class Requirement:
    """One requirement of a scope. `unsupported` says why modelpack cannot check it (then it refuses)."""

    type: str
    keys: tuple[tuple[str, bytes | None], ...] = ()  # (where named, PEM bytes; None: read the path then)
    identity: SignedIdentity = field(default_factory=SignedIdentity)
    unsupported: str = ""


@dataclass(frozen=True)
class Policy:
    """A parsed policy file: the global default and the docker transport's scopes."""

    source: str
    default: tuple[Requirement, ...]
    docker: tuple[tuple[str, tuple[Requirement, ...]], ...] = ()

    def requirements_for(self, ref: Reference) -> tuple[str, tuple[Requirement, ...]]:
        """The requirements a registry reference must meet: those of the most specific docker scope that
        matches it (the reference itself, its repository, each namespace up to the host, then `*.domain`
        wildcards from the longest), else the transport's `""` scope, else `default`.

        Args:
            ref: a fully qualified reference.

        Returns:
            (the scope that applied, as the file names it, or "default"; its requirements).
        """
        scopes = {fold_scope(scope): (scope, requirements) for scope, requirements in self.docker}
        for candidate in scope_candidates(ref):
            if candidate in scopes:
                return scopes[candidate]
        if "" in scopes:
            return 'transports.docker ""', scopes[""][1]
        return "default", self.default


@dataclass(frozen=True)
class PolicyVerdict:
    """What the policy said about one reference.

    `digest` is set when a signature requirement was met: the manifest digest it verified, which is
    then exactly what is pulled (and counts as a verified signature for serving a pickle, as
    `--verify-key` does). None when the policy let the reference through without a signature, or
    there is no policy (`source` "")."""

    source: str = ""
    scope: str = ""
    digest: str | None = None

    @property
    def signed(self) -> bool:
        return self.digest is not None


# What a command the policy refuses did not do, the last words of its refusal (see `saying_undone`).
PULLED, SERVED = "nothing was pulled", "nothing was served"
NO_IMAGE, NO_YAML = "no image was built", "no YAML was written"


def policy_verdict(ref: object, src: Storage, signature_policy: str | Path | PolicyVerdict | None,
                   undone: str = PULLED) -> PolicyVerdict:
    """The signature policy's verdict on pulling `ref` from `src`.

    Args:
        ref: what is pulled: a registry `Reference`, or an OCI layout (`LayoutReference`), which a policy the
            caller named judges by its `default` (see `local_verdict`) and no other policy does.
        src: where it is read, with its mirrors.
        signature_policy: an explicit policy file (default: the one in effect, see `policy_file`), or a
            verdict already reached, returned as it is.
        undone: what the asking command did not do, said at the end of a refusal (`no YAML was written`).

    Returns:
        The verdict (empty when there is no policy).

    Raises:
        VerificationError: the policy refuses `ref`.
        PolicyError: the policy file cannot be read or parsed.
    """
    if isinstance(signature_policy, PolicyVerdict):
        return signature_policy
    from modelpack.places import LayoutReference

    if isinstance(ref, LayoutReference):  # a policy named is never ignored, nor the machine's applied to files
        return local_verdict(str(ref), signature_policy, layout=True, undone=undone)
    with saying_undone(undone):
        loaded = load(signature_policy)
        if loaded is None or not isinstance(ref, Reference):
            return PolicyVerdict()
        scope, requirements = loaded.requirements_for(ref)
        if all(requirement.type == ACCEPT for requirement in requirements):  # the usual system default
            return PolicyVerdict(loaded.source, scope)
        from modelpack.signatures.policy_check import enforce  # (cryptography: only if a signature may be needed)

        return enforce(loaded, ref, src)


@contextlib.contextmanager
def saying_undone(undone: str) -> Iterator[None]:
    """A refusal by the policy, or a policy that cannot be read, raised inside ends saying `undone`: what the
    command did not do (`nothing was served`, `no image was built`), in each command's own words."""
    try:
        yield
    except (VerificationError, PolicyError) as exc:
        add_context(exc, undone)
        raise


def local_verdict(what: str, signature_policy: str | Path | None, *, layout: bool = False,
                  undone: str = SERVED) -> PolicyVerdict:
    """The verdict on using a model no registry names: one of the local store (`serve iris:1.0`), or with
    `layout`, an OCI layout pulled (`pull oci:DIR -o OUT`).

    Only a policy the user named applies (`signature_policy`, else `$MODELPACK_SIGNATURE_POLICY`): the
    containers files shared with podman judge registry pulls, as podman does not judge its local images. No
    docker scope names such a model, so the policy's `default` does; a signature it requires is checked
    against a registry's reference only, so such a policy refuses the model rather than letting it through
    unchecked (a layout's own signatures are checked with a key: `verify_key`, `--verify-key`).

    Args:
        what: the model, as the user named it.
        signature_policy: the explicit policy file, if any.
        layout: the model is an OCI layout being pulled, not a stored one being served.
        undone: what the asking command did not do, said at the end of a refusal.

    Returns:
        The verdict (empty when no policy was named; never `signed`).

    Raises:
        VerificationError: the policy's default rejects the model or requires a signature.
        PolicyError: the policy file cannot be read or parsed.
    """
    if not (signature_policy or os.environ.get(ENV)):
        return PolicyVerdict()
    with saying_undone(undone):
        return _local_verdict(what, load(signature_policy), layout)


def _local_verdict(what: str, loaded: Policy | None, layout: bool) -> PolicyVerdict:
    from modelpack.advice import compose, setting

    if loaded is None:  # pragma: no cover - a named file either loads or raises
        return PolicyVerdict()
    where = f"signature policy {loaded.source} (scope default)"
    if any(requirement.type == REJECT for requirement in loaded.default):
        raise VerificationError(f"{what} is rejected by {where}")
    if all(requirement.type == ACCEPT for requirement in loaded.default):
        return PolicyVerdict(loaded.source, "default")
    if layout:
        raise VerificationError(f"{what} is an OCI layout and {where} requires a signature, which modelpack checks "
                                f"against a registry's reference only", advice=compose(
                                    "check the layout's own signatures with a key instead: {}", setting(
                                        "pull('oci:DIR', output=OUT, verify_key=KEY)",
                                        "modelpack pull oci:DIR -o OUT --verify-key KEY")))
    raise VerificationError(f"{what} is in the local store only and {where} requires a signature, which is read "
                            f"from a registry", advice=compose(
                                "serve the registry's reference under that policy: {}", setting(
                                    "serve_model('REGISTRY/REPOSITORY:TAG', signature_policy=FILE)",
                                    "modelpack serve REGISTRY/REPOSITORY:TAG --signature-policy FILE")))


def policy_file(explicit: str | Path | None = None) -> Path | None:
    """The policy file in effect.

    Args:
        explicit: `--signature-policy FILE` (wins over `$MODELPACK_SIGNATURE_POLICY`).

    Returns:
        The file, or None when none is given and neither the user's nor the system's exists.

    Raises:
        PolicyError: an explicitly named file does not exist.
    """
    named = str(explicit) if explicit else os.environ.get(ENV, "")
    if named:
        path = Path(named)
        if not path.exists():
            origin = "--signature-policy" if explicit else ENV
            raise PolicyError(f"signature policy {path} ({origin}) does not exist")
        return path
    user = Path.home() / USER_POLICY
    for path in (user, SYSTEM_POLICY):
        if path.exists():
            return path
    return None


def load(explicit: str | Path | None = None) -> Policy | None:
    """The policy in effect (see `policy_file`), or None when there is none.

    Raises:
        PolicyError: the file cannot be read, is over 1 MiB, or is not a valid policy (the file named).
    """
    path = policy_file(explicit)
    if path is None:
        return None
    if not path.is_file():  # a FIFO would block the read; a directory is no policy
        raise PolicyError(f"signature policy {path} is not a regular file")
    try:
        data = read_capped(path, MAX_POLICY_BYTES)
    except OSError as exc:
        raise PolicyError(f"cannot read signature policy {path}: {exc.strerror}") from None
    if data is None:
        raise PolicyError(f"signature policy {path} is over {MAX_POLICY_BYTES} bytes")
    return parse(data, str(path))


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"field {key!r} appears twice")
        seen[key] = value
    return seen


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse(data: bytes, source: str) -> Policy:
    """Parse a policy file's bytes strictly.

    Args:
        data: the file's contents.
        source: the file's name, for messages.

    Returns:
        The policy.

    Raises:
        PolicyError: not JSON, or a field that is unknown, duplicated, missing or of the wrong shape.
    """
    def fail(reason: str) -> PolicyError:
        return PolicyError(f"signature policy {source} is invalid: {reason}",
                           advice=Wording(FIX, FIX))  # (after what the command did not do: see saying_undone)

    try:
        body = json.loads(data.decode(), object_pairs_hook=_unique, parse_constant=_not_json)
    except RecursionError:
        raise fail("nested too deep") from None
    except ValueError as exc:  # also UnicodeDecodeError and duplicated fields
        raise fail(str(exc).splitlines()[0][:160]) from None
    try:
        return _policy(body, source)
    except ValueError as exc:
        raise fail(str(exc)) from None


def _policy(body: Any, source: str) -> Policy:
    if not isinstance(body, dict):
        raise ValueError("the file is not a JSON object")
    _only(body, {"default", "transports"}, "the top level")
    if "default" not in body:
        raise ValueError('"default" is missing')
    default = _requirements(body["default"], "default")
    transports = body.get("transports", {})
    if not isinstance(transports, dict):
        raise ValueError('"transports" is not an object')
    docker: dict[str, tuple[str, tuple[Requirement, ...]]] = {}  # folded scope: (as written, requirements)
    for transport, scopes in transports.items():
        if not isinstance(scopes, dict):
            raise ValueError(f"transports.{transport} is not an object of scopes")
        for scope, listed in scopes.items():
            requirements = _requirements(listed, f"transports.{transport}[{scope!r}]")
            if transport == "docker":
                if fold_scope(scope) in docker:  # which applied would depend on the order of the file's keys
                    raise ValueError(f"transports.docker scopes {docker[fold_scope(scope)][0]!r} and {scope!r} "
                                     "name the same host (host names ignore case, an address is one however written); "
                                     "keep one")
                docker[fold_scope(scope)] = (scope, requirements)
    return Policy(source, default, tuple(docker.values()))


def _only(obj: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} in {where}")


def _requirements(listed: Any, where: str) -> tuple[Requirement, ...]:
    if not isinstance(listed, list) or not listed:
        raise ValueError(f"{where} is not a non-empty list of requirements")
    return tuple(_requirement(item, f"{where}[{i}]") for i, item in enumerate(listed))


def _requirement(item: Any, where: str) -> Requirement:
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise ValueError(f"{where} is not a requirement object with a \"type\"")
    kind = item["type"]
    if kind in (ACCEPT, REJECT):
        _only(item, {"type"}, where)
        return Requirement(kind)
    if kind == "signedBy":
        _only(item, _SIGNED_BY_FIELDS, where)
        return Requirement(kind, unsupported="signedBy (GPG signatures), which modelpack does not support")
    if kind != SIGSTORE:
        raise ValueError(f"{where} has unknown type {kind!r}")
    _only(item, {"type", "signedIdentity", *_KEY_FIELDS, *_UNCHECKABLE}, where)
    identity = parse_identity(item.get("signedIdentity"), where)
    uncheckable = [name for name in _UNCHECKABLE if name in item]
    if uncheckable:
        return Requirement(kind, identity=identity,
                           unsupported=f"sigstoreSigned with {uncheckable[0]}, which modelpack does not support "
                           "(public keys only)")
    given = [name for name in _KEY_FIELDS if name in item]
    if len(given) != 1:
        raise ValueError(f"{where} needs exactly one of {', '.join(_KEY_FIELDS)}")
    return Requirement(kind, keys=_keys(given[0], item[given[0]], where), identity=identity)


def _keys(name: str, value: Any, where: str) -> tuple[tuple[str, bytes | None], ...]:
    values = value if name.endswith("s") else [value]
    if not isinstance(values, list) or not values or len(values) > MAX_KEYS or \
            not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"{where}.{name} is not {'a non-empty list of strings' if name.endswith('s') else 'a string'}")
    if name.startswith("keyPath"):
        return tuple((path, None) for path in values)
    decoded = []
    for i, text in enumerate(values):
        try:
            decoded.append((f"{where}.{name}[{i}]", base64.b64decode(text, validate=True)))
        except (binascii.Error, ValueError):
            raise ValueError(f"{where}.{name} is not base64") from None
    return tuple(decoded)


__all__ = ["ACCEPT", "IDENTITY_TYPES", "REJECT", "SIGSTORE", "Policy", "PolicyError", "PolicyVerdict", "Requirement",
           "load", "parse", "policy_file", "policy_verdict", "scope_candidates"]
