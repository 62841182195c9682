"""NaCl secretbox (XSalsa20-Poly1305), the cipher of cosign's encrypted private keys.

The `cryptography` package has Poly1305 but no (X)Salsa20, so the stream cipher is written out here
from its specification (D. J. Bernstein, "Extending the Salsa20 nonce"). It only ever encrypts a
private key (a few hundred bytes), so plain Python is fast enough.
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.poly1305 import Poly1305

KEY_SIZE = 32
NONCE_SIZE = 24
_SIGMA = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)  # "expand 32-byte k"
_MASK = 0xFFFFFFFF


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) & _MASK) | (value >> (32 - shift))


def _rounds(x: list[int]) -> list[int]:
    x = list(x)
    for _ in range(10):  # 20 rounds = 10 double rounds
        for a, b, c, d in ((0, 4, 8, 12), (5, 9, 13, 1), (10, 14, 2, 6), (15, 3, 7, 11),
                           (0, 1, 2, 3), (5, 6, 7, 4), (10, 11, 8, 9), (15, 12, 13, 14)):
            x[b] ^= _rotl((x[a] + x[d]) & _MASK, 7)
            x[c] ^= _rotl((x[b] + x[a]) & _MASK, 9)
            x[d] ^= _rotl((x[c] + x[b]) & _MASK, 13)
            x[a] ^= _rotl((x[d] + x[c]) & _MASK, 18)
    return x


def _state(key: bytes, middle: tuple[int, int, int, int]) -> list[int]:
    k = struct.unpack("<8I", key)
    return [_SIGMA[0], *k[:4], _SIGMA[1], *middle, _SIGMA[2], *k[4:], _SIGMA[3]]


def _hsalsa20(key: bytes, nonce16: bytes) -> bytes:
    x = _rounds(_state(key, struct.unpack("<4I", nonce16)))
    return struct.pack("<8I", x[0], x[5], x[10], x[15], x[6], x[7], x[8], x[9])


def _xsalsa20_stream(key: bytes, nonce: bytes, length: int) -> bytes:
    subkey = _hsalsa20(key, nonce[:16])
    n0, n1 = struct.unpack("<2I", nonce[16:])
    out = bytearray()
    counter = 0
    while len(out) < length:
        start = _state(subkey, (n0, n1, counter & _MASK, counter >> 32))
        mixed = _rounds(start)
        out += struct.pack("<16I", *(((m + s) & _MASK) for m, s in zip(mixed, start, strict=True)))
        counter += 1
    return bytes(out[:length])


def seal(message: bytes, nonce: bytes, key: bytes) -> bytes:
    """secretbox: Poly1305 tag (16 bytes) followed by the XSalsa20 ciphertext."""
    _check(nonce, key)
    stream = _xsalsa20_stream(key, nonce, 32 + len(message))
    cipher = bytes(m ^ s for m, s in zip(message, stream[32:], strict=True))
    return Poly1305.generate_tag(stream[:32], cipher) + cipher


def open_box(box: bytes, nonce: bytes, key: bytes) -> bytes:
    """Inverse of seal(); raises ValueError when the tag does not verify (wrong key or password)."""
    _check(nonce, key)
    if len(box) < 16:
        raise ValueError("secretbox too short")
    tag, cipher = box[:16], box[16:]
    stream = _xsalsa20_stream(key, nonce, 32 + len(cipher))
    try:
        Poly1305.verify_tag(stream[:32], cipher, tag)
    except InvalidSignature:
        raise ValueError("secretbox authentication failed") from None
    return bytes(c ^ s for c, s in zip(cipher, stream[32:], strict=True))


def _check(nonce: bytes, key: bytes) -> None:
    if len(key) != KEY_SIZE or len(nonce) != NONCE_SIZE:
        raise ValueError("secretbox needs a 32-byte key and a 24-byte nonce")
