"""Typed errors. Each says what failed in one line; the CLI prints that line and exits non-zero.

The classes also inherit the matching built-in exception so library callers can catch either.
"""

from __future__ import annotations

from modelpack.advice import Wording, with_advice


class ModelpackError(Exception):
    """Base of every error modelpack raises on purpose. `exit_code` is what the CLI exits with.

    Args:
        message: what failed, in one line; a `Wording` when it names a parameter (a flag in the CLI).
        advice: the step that fixes it, where there is one: `str(error)` gives it in Python's terms
            (a function, a parameter), the CLI in its own (a command, a flag; see `modelpack.advice`).

    Attributes:
        failure: what failed, in Python's terms (`str(error)` is it, then the advice's `api` words).
        advice: the step that fixes it (`advice.api`, `advice.cli`), or None.
    """

    exit_code = 1

    def __init__(self, message: str | Wording = "", *, advice: Wording | None = None) -> None:
        self.wording = message if isinstance(message, Wording) else Wording(message, message)
        self.failure = self.wording.api
        self.advice = advice
        super().__init__(with_advice(self.failure, advice.api) if advice else self.failure)


def add_context(exc: ModelpackError, more: str) -> None:
    """Append `more` to what `exc` says (in both wordings), keeping its type and exit code: what a
    failure left behind belongs on its one line.

    Args:
        exc: the error about to be raised.
        more: one line, in words both the API and the CLI can show.
    """
    reword(exc, Wording(f"{exc.wording.api}; {more}", f"{exc.wording.cli}; {more}"), exc.advice)


def reword(exc: ModelpackError, message: Wording, advice: Wording | None) -> ModelpackError:
    """`exc` saying `message` and `advice` instead, keeping its type, exit code and attributes: a failure
    met on the way to something else (a registry unreachable while pinning a parent) is said in terms of
    what was asked, and still exits as what it was (5 for an unreachable registry, not 2).

    Args:
        exc: the error to change (changed in place).
        message: what failed, in both wordings.
        advice: the step that fixes it, or None.

    Returns:
        `exc`, to be raised.
    """
    exc.wording, exc.failure, exc.advice = message, message.api, advice
    exc.args = (with_advice(exc.failure, advice.api) if advice else exc.failure,)
    return exc


class UsageError(ModelpackError, ValueError):
    """The caller asked for something malformed: a bad reference, flag or path."""

    exit_code = 2


class InvalidReferenceError(UsageError):
    pass


class MetadataError(UsageError):
    """modelpack.yaml or --set values do not validate."""


class MalformedFileError(UsageError):
    """A local model file whose header cannot be read (safetensors, GGUF, ONNX, a pickle, a model card):
    truncated, over a cap, or not of its format. Read by `init`; nothing is written."""


class NotFoundError(ModelpackError, LookupError):
    """A reference, manifest or blob does not exist (locally or in the registry). `unexplained`: a 404
    with none of a registry's error codes, which a host that is no registry answers too. `manifest`: the
    tag or digest a registry's 404 for a manifest was about (None otherwise)."""

    exit_code = 3
    unexplained = False
    manifest: str | None = None


class AuthenticationError(ModelpackError, PermissionError):
    """The registry refused our credentials (401) or our access (403)."""

    exit_code = 4


class RegistryError(ModelpackError):
    """The registry answered with an error we cannot recover from. `manifest`: the tag or digest of the
    manifest request it refused (None for any other request)."""

    manifest: str | None = None

    def __init__(self, message: str | Wording, status: int | None = None, codes: tuple[str, ...] = (), *,
                 advice: Wording | None = None) -> None:
        super().__init__(message, advice=advice)
        self.status = status
        self.codes = codes


class TransportError(ModelpackError, ConnectionError):
    """The registry could not be reached: connection refused, reset, timed out or a TLS failure."""

    exit_code = 5


class IntegrityError(ModelpackError):
    """Content does not match its digest or declared size. Nothing unverified is kept. `digest`: the
    content's expected digest, where one was checked (so a caller can name the host that served it)."""

    exit_code = 6

    def __init__(self, message: str | Wording, digest: str | None = None, *, advice: Wording | None = None) -> None:
        super().__init__(message, advice=advice)
        self.digest = digest


class UnsafePathError(IntegrityError):
    """An artifact names a path that would land outside the output directory."""


class VerificationError(ModelpackError):
    """No signature verifies: none found, a wrong key, or signatures over another digest."""

    exit_code = 7


class InsufficientSpaceError(ModelpackError):
    """The declared sizes of what is to be written exceed the free space; refused before writing. `place`:
    the folder whose filesystem is short (the CLI names the fix for it: MODELPACK_HOME or `-o`)."""

    place: str | None = None


class UnsupportedArtifactError(ModelpackError):
    """A manifest we can parse, but whose shape modelpack does not know how to unpack."""


class UntrustedContentError(UsageError):
    """A model file modelpack will not load because loading it could run the artifact's code: a pickle
    whose signature was not verified, a .skops file naming types outside the allow-list."""


class ContainerImageError(UsageError):
    """A reference to be pulled or unpacked as a model names a container image (an image config and
    no model layers, or an index of platform images): refused before any layer is fetched."""


class MissingDependencyError(UsageError):
    """An optional extra (e.g. `modelpack[serve]`) is not installed."""
