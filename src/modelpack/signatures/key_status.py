"""Which of several public keys verify a signature on one digest: the signed column of `ls --key` and of
the web UI's repository page. Each key is checked as `verify` checks it (`verify_signatures`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from modelpack.errors import NotFoundError, VerificationError
from modelpack.signatures.referrers import verify_signatures

if TYPE_CHECKING:
    from modelpack.signatures.keys import PublicKey
    from modelpack.store.target import Storage


Refusal = VerificationError | NotFoundError  # why a key verified nothing (no signature is not an error)


def verified_by(repo: Storage, digest: str, keys: Sequence[tuple[str, PublicKey]]) -> tuple[tuple[str, ...],
                                                                                          Refusal | None]:
    """The names of the keys a signature on `digest` verifies with, and why none did.

    Args:
        repo: where the model lives.
        digest: its manifest digest.
        keys: (name shown, public key) pairs.

    Returns:
        The names that verified, in the order given, and (when none did) the last key's refusal.

    Raises:
        ModelpackError: the registry refused or could not be reached (not an answer about signatures).
    """
    verified: list[str] = []
    refusal: Refusal | None = None
    for name, key in keys:
        try:
            verify_signatures(repo, digest, key)
            verified.append(name)
        except (VerificationError, NotFoundError) as exc:
            refusal = exc
    return tuple(verified), None if verified else refusal
