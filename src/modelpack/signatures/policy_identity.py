"""`signedIdentity` of containers-policy.json(5): whether the identity a signature claims (its payload's
`critical.identity.docker-reference`) is acceptable for the reference being pulled.

References are compared fully expanded, as containers/image does (`busybox` is
`docker.io/library/busybox`). A reference naming a tag is checked as the tag, also when it names a
digest too (`REPO:TAG@DIGEST`, as `serve --workers` pins one): the stricter reading.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from modelpack.errors import InvalidReferenceError
from modelpack.oci.reference import DOCKER_HUB, Reference

DEFAULT = "matchRepoDigestOrExact"
_DUMMY = "/x/y"  # makes a host or namespace prefix parse as a name (two parts: no library/ added)
IDENTITY_TYPES = {
    "matchExact": set(),
    DEFAULT: set(),
    "matchRepository": set(),
    "exactReference": {"dockerReference"},
    "exactRepository": {"dockerRepository"},
    "remapIdentity": {"prefix", "signedPrefix"},
}


@dataclass(frozen=True)
class SignedIdentity:
    type: str = DEFAULT
    reference: str = ""  # exactReference's dockerReference, exactRepository's dockerRepository
    prefix: str = ""  # remapIdentity
    signed_prefix: str = ""

    def describe(self) -> str:
        extra = self.reference or (f"{self.prefix} -> {self.signed_prefix}" if self.prefix else "")
        return f"{self.type} ({extra})" if extra else self.type


def normalized(ref: Reference) -> Reference:
    """`ref` fully expanded: Docker Hub as `docker.io`, its one-component names under `library/`."""
    registry = ref.registry or DOCKER_HUB
    if registry == "index.docker.io":
        registry = DOCKER_HUB
    repository = f"library/{ref.repository}" if registry == DOCKER_HUB and "/" not in ref.repository \
        else ref.repository
    return replace(ref, registry=registry, repository=repository)


def parse_claim(text: Any) -> Reference | None:
    """A signature's claimed docker-reference, expanded; None when it is not a valid reference."""
    if not isinstance(text, str):
        return None
    try:
        return normalized(Reference.parse(text, default_tag=None))
    except InvalidReferenceError:
        return None


def _text(ref: Reference) -> str:
    """The form compared for exact matches: `name:tag`, else `name@digest`, else `name`."""
    if ref.tag:
        return f"{ref.name}:{ref.tag}"
    return f"{ref.name}@{ref.digest}" if ref.digest else ref.name


def _name_only(ref: Reference) -> bool:
    return not ref.tag and not ref.digest


def parse_identity(value: Any, where: str) -> SignedIdentity:
    """A requirement's `signedIdentity` (absent: matchRepoDigestOrExact).

    Raises:
        ValueError: unknown type or field, or a reference field that is not a valid reference.
    """
    if value is None:
        return SignedIdentity()
    if not isinstance(value, dict) or value.get("type") not in IDENTITY_TYPES:
        shown = value.get("type") if isinstance(value, dict) else value
        raise ValueError(f"{where}.signedIdentity has unknown type {str(shown)[:80]!r}")
    kind = value["type"]
    unknown = sorted(set(value) - {"type"} - IDENTITY_TYPES[kind])
    missing = sorted(IDENTITY_TYPES[kind] - set(value))
    if unknown or missing:
        raise ValueError(f"{where}.signedIdentity ({kind}) has {'unknown' if unknown else 'no'} field "
                         f"{(unknown or missing)[0]!r}")
    for name in IDENTITY_TYPES[kind]:
        text = value[name]
        claim = parse_claim(text + _DUMMY if kind == "remapIdentity" and isinstance(text, str) else text)
        if claim is None:
            raise ValueError(f"{where}.signedIdentity.{name} {str(value[name])[:80]!r} is not a valid reference")
        if kind == "exactReference" and _name_only(claim):
            raise ValueError(f"{where}.signedIdentity.dockerReference names no tag or digest")
        if kind != "exactReference" and not _name_only(claim):
            raise ValueError(f"{where}.signedIdentity.{name} must name a repository or namespace only")
    return SignedIdentity(kind, value.get("dockerReference") or value.get("dockerRepository") or "",
                          value.get("prefix", ""), value.get("signedPrefix", ""))


def accepts(identity: SignedIdentity, intended: Reference, claimed: Reference) -> bool:
    """Whether a signature claiming `claimed` is acceptable for pulling `intended` under `identity`.

    Args:
        identity: the requirement's signedIdentity.
        intended: the reference pulled (as the user named it).
        claimed: the signature's docker-reference (see `parse_claim`).

    Returns:
        True when the claim is acceptable.
    """
    intended = normalized(intended)
    kind = identity.type
    if kind == "matchRepository":
        return claimed.name == intended.name
    if kind == "matchExact":
        return not _name_only(intended) and not _name_only(claimed) and _text(claimed) == _text(intended)
    if kind == "exactReference":
        wanted = parse_claim(identity.reference)
        return wanted is not None and not _name_only(claimed) and _text(claimed) == _text(wanted)
    if kind == "exactRepository":
        wanted = parse_claim(identity.reference)
        return wanted is not None and claimed.name == wanted.name
    if kind == "remapIdentity":
        intended = _remapped(intended, identity.prefix, identity.signed_prefix)
    # matchRepoDigestOrExact: a tag must be signed as exactly that tag; a digest by its repository
    # (the digest itself is checked against the signed one separately).
    if intended.tag:
        return _text(claimed) == _text(intended)
    return bool(intended.digest) and claimed.name == intended.name


def _remapped(intended: Reference, prefix: str, signed_prefix: str) -> Reference:
    """`intended` with `prefix` (a host, namespace or repository, matched on a `/` boundary) replaced by
    `signed_prefix`; unchanged when the prefix does not match or the result is not a valid name."""
    source, target = parse_claim(prefix + _DUMMY), parse_claim(signed_prefix + _DUMMY)
    if source is None or target is None:
        return intended
    old, new = source.name[:-len(_DUMMY)], target.name[:-len(_DUMMY)]  # expanded, without the dummy
    if intended.name != old and not intended.name.startswith(old + "/"):
        return intended
    remapped = parse_claim(new + intended.name[len(old):])
    return replace(remapped, tag=intended.tag, digest=intended.digest, tag_implied=intended.tag_implied) \
        if remapped is not None else intended
