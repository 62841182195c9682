"""NaCl secretbox (XSalsa20-Poly1305), the cipher of cosign's encrypted private keys, from PyNaCl
(libsodium's `crypto_secretbox`): the `cryptography` package has Poly1305 but no XSalsa20."""

from __future__ import annotations

from nacl.exceptions import CryptoError
from nacl.secret import SecretBox

KEY_SIZE = SecretBox.KEY_SIZE  # 32
NONCE_SIZE = SecretBox.NONCE_SIZE  # 24


def seal(message: bytes, nonce: bytes, key: bytes) -> bytes:
    """secretbox: Poly1305 tag (16 bytes) followed by the XSalsa20 ciphertext (no nonce in front)."""
    _check(nonce, key)
    return bytes(SecretBox(key).encrypt(message, nonce).ciphertext)


def open_box(box: bytes, nonce: bytes, key: bytes) -> bytes:
    """Inverse of seal(); raises ValueError when the tag does not verify (wrong key or password)."""
    _check(nonce, key)
    try:
        return bytes(SecretBox(key).decrypt(box, nonce))
    except CryptoError:
        raise ValueError("secretbox authentication failed") from None


def _check(nonce: bytes, key: bytes) -> None:
    if len(key) != KEY_SIZE or len(nonce) != NONCE_SIZE:
        raise ValueError("secretbox needs a 32-byte key and a 24-byte nonce")
