"""References: `[registry/]repository[:tag][@digest]`, parsed by the distribution grammar.

oras-py's own parser accepts names registries refuse (upper case, empty components), so we validate
here first and only hand well-formed references to oras.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from modelpack import advice
from modelpack.errors import InvalidReferenceError
from modelpack.oci.digest import is_digest
from modelpack.oci.hosts import split_port

_HEX = re.compile(r"[0-9a-f]{7,64}")  # 7: the shortest prefix git and docker show

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_DOMAIN = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_VERSION = re.compile(r"v?[0-9]+(?:\.[0-9]+)+(?:[-_.][a-z0-9]+)*")  # 1.1.0, v2.0, 1.0-rc1: a tag, not a name
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"


@dataclass(frozen=True)
class Reference:
    registry: str  # "" for a name that lives only in the local store
    repository: str
    tag: str | None = None
    digest: str | None = None
    # The tag was not written but given by `parse` (`latest`): messages show the reference as written.
    tag_implied: bool = field(default=False, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str, *, default_tag: str | None = "latest") -> Reference:
        """Parse and validate. A reference with neither tag nor digest gets `default_tag`."""
        original = text
        if not text or text != text.strip():
            raise InvalidReferenceError(f"invalid reference {original!r}: empty or surrounded by spaces")
        scheme = text.partition("://")[0].lower() if "://" in text else ""  # (`http` alone names a repository)
        if scheme == "http":
            raise InvalidReferenceError(f"invalid reference {original!r}: write it without http:// "
                                        "(HOST/REPOSITORY:TAG)", advice=advice.plain_http(without_tls=True))
        if scheme == "https":  # (not --plain-http: HTTPS is what a registry is spoken to by default)
            raise InvalidReferenceError(f"invalid reference {original!r}: write it without https:// "
                                        "(HOST/REPOSITORY:TAG); HTTPS is the default")
        if scheme == "docker":  # skopeo's and podman's transport prefix, as a platform engineer types it there
            raise InvalidReferenceError(f"invalid reference {original!r}: write it without docker:// "
                                        "(HOST/REPOSITORY:TAG): that is skopeo's transport prefix")
        at = text.rfind(":", 0, text.rfind(":"))  # REPO:sha256:<hex>: a digest where a tag goes (it said
        if "@" not in text and at > 0 and is_digest(text[at + 1:]):  # "bad repository name 'REPO:sha256'")
            raise InvalidReferenceError(f"invalid reference {original!r}: a digest follows @, not : "
                                        f"(write {text[:at]}@{text[at + 1:]})")
        digest = None
        if "@" in text:
            text, _, digest = text.partition("@")
            if not is_digest(digest):
                raise InvalidReferenceError(
                    f"invalid reference {original!r}: {digest!r} is not a digest (sha256:<64 hex>)"
                    + _digest_hint(digest)
                )
        tag = None
        last_slash = text.rfind("/")
        colon = text.rfind(":")
        if colon > last_slash:
            text, tag = text[:colon], text[colon + 1 :]
            if not _TAG.fullmatch(tag):
                raise InvalidReferenceError(f"invalid reference {original!r}: bad tag {tag!r}")
        registry = ""
        first, sep, rest = text.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
            if not _DOMAIN.fullmatch(first):
                _refuse_a_place(original)
                raise InvalidReferenceError(f"invalid reference {original!r}: bad registry host {first!r}")
            check_port(first, f"invalid reference {original!r}")
            registry, text = first, rest
        if not _PATH.fullmatch(text):
            _refuse_a_place(original)
            hint = " (repository names are lower case)" if text.lower() != text else ""
            if text.endswith("/") and _PATH.fullmatch(text.rstrip("/")):
                hint = f" (write it without the trailing /: {text.rstrip('/')})"
            raise InvalidReferenceError(f"invalid reference {original!r}: bad repository name {text!r}{hint}")
        if len(f"{registry}/{text}" if registry else text) > 255:
            raise InvalidReferenceError(f"invalid reference {original!r}: name longer than 255 characters")
        implied = tag is None and digest is None and default_tag is not None
        if tag is None and digest is None:
            tag = default_tag
        return cls(registry=registry, repository=text, tag=tag, digest=digest, tag_implied=implied)

    @property
    def name(self) -> str:
        """registry/repository, without tag or digest."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    @property
    def api_host(self) -> str:
        """The host the registry's HTTP API answers on (Docker Hub's differs from its name)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def version(self) -> str:
        """What a manifest request names: the digest when there is one, else the tag."""
        if self.digest:
            return self.digest
        if self.tag:
            return self.tag
        raise InvalidReferenceError(f"reference {self} has neither tag nor digest")

    def with_digest(self, digest: str) -> Reference:
        return replace(self, tag=None, digest=digest, tag_implied=False)

    def with_tag(self, tag: str) -> Reference:
        """This repository at `tag`.

        Raises:
            InvalidReferenceError: `tag` is no tag: a name from an OCI layout or a registry (`../../other/
                manifests/prod`) would go into a manifest URL as it is, and read or write another repository.
        """
        if not is_tag(tag):
            raise InvalidReferenceError(f"{tag!r} is not a valid tag")
        return replace(self, tag=tag, digest=None, tag_implied=False)

    def require_registry(self) -> Reference:
        if not self.registry:
            host = f"{self.repository}:{self.tag}"
            if not self.digest and self.tag and self.tag.isdigit() and \
                    ("." in self.repository or self.repository == "localhost") and _DOMAIN.fullmatch(host):
                check_port(host, host)
                # `pull HOST:PORT` read as repository HOST, tag PORT: name the registry, not a repository
                raise InvalidReferenceError(f"{host} names no repository: write {host}/REPOSITORY:TAG",
                                            advice=advice.list_repositories(host))
            shown = self.written
            if _VERSION.fullmatch(self.repository):  # `diff HOST/REPO:1.0 1.1`: a version alone
                raise InvalidReferenceError(f"reference {shown} names no registry nor repository; write it whole, "
                                            f"e.g. localhost:5000/team/model:{self.repository}")
            raise InvalidReferenceError(
                f"reference {shown} names no registry; write it as e.g. localhost:5000/{self.repository}"
            )
        return self

    @property
    def written(self) -> str:
        """As the user wrote it: `team/iris`, not `team/iris:latest`, where no tag was written."""
        return self.name + (f":{self.tag}" if self.tag and not self.tag_implied else "") + \
            (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _digest_hint(text: str) -> str:
    """What a near-digest lacks: `sha256:` before 64 hex digits, or the rest of the 12 digits `ls`, `list`
    and `inspect`'s layers show (copied from there, it names nothing a registry can look up)."""
    hexpart = text.removeprefix("sha256:")
    if not _HEX.fullmatch(hexpart):
        return ""
    if len(hexpart) == 64:
        return f"; write @sha256:{hexpart}"
    return "; a digest is written whole: `modelpack resolve REPO:TAG` (or `ls --json`) prints it"


def _refuse_a_place(original: str) -> None:
    """A layout (`oci:./dir`) or a folder (`./model`) given where only a registry reference is taken
    (`build-image -t`, `pull`): say so, not "bad registry host 'oci:.'"."""
    if original.lower().startswith("oci:"):
        raise InvalidReferenceError(f"invalid reference {original!r}: an OCI layout, where a registry reference "
                                    "(HOST/REPOSITORY:TAG) is needed", advice=advice.COPY_TO_LAYOUT)
    if original.startswith(("./", "../", "/", "~")) or original in (".", ".."):
        raise InvalidReferenceError(f"invalid reference {original!r}: a path, where a registry reference "
                                    "(HOST/REPOSITORY:TAG) is needed", advice=advice.PUSH_FIRST)


def is_registry_host(text: str) -> bool:
    """Whether `text` names a registry alone (`localhost:5000`, `ghcr.io`), with no repository."""
    host = text.removeprefix("https://").removeprefix("http://").rstrip("/")
    return "/" not in host and bool(_DOMAIN.fullmatch(host)) and ("." in host or ":" in host or host == "localhost")


def is_domain(text: str) -> bool:
    """Whether `text` is a host name or address, with an optional port (`registry.local:5000`, `[::1]`)."""
    return _DOMAIN.fullmatch(text) is not None


def check_port(host: str, shown: str) -> None:
    """Refuse a host whose port no connection can be made to (0, over 65535), naming it: the grammar takes
    any digits, and it would fail later as if the network had refused.

    Args:
        host: `host[:port]`, of the registry grammar.
        shown: what the error line starts with (the reference or host as the user wrote it).

    Raises:
        InvalidReferenceError: the port is out of range.
    """
    port = split_port(host)[1]
    # (len first: int() of thousands of digits raises; what is no number is the grammar's to refuse)
    if port.isascii() and port.isdigit() and (len(port) > 5 or not 0 < int(port) <= 65535):
        raise InvalidReferenceError(f"{shown}: port {port} is out of range (1 to 65535)")


def retarget(source: Reference, target: str | Reference) -> Reference:
    """The reference a tag command writes: a bare tag (`champion`, as `oras tag` takes) lands in the
    source's repository; anything else is a full reference."""
    if isinstance(target, str) and is_tag(target):
        return source.with_tag(target)
    return target if isinstance(target, Reference) else Reference.parse(target)


def is_tag(text: str) -> bool:
    """Whether `text` is a well-formed tag (what a registry's tag list may hold; other names are junk)."""
    return _TAG.fullmatch(text) is not None


def is_repository_name(text: str) -> bool:
    """Whether `text` is a well-formed repository path (as a registry's catalog should list)."""
    return _PATH.fullmatch(text) is not None and len(text) <= 255
