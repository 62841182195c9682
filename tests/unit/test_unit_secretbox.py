"""NaCl secretbox through modelpack.signatures.secretbox (PyNaCl; cosign key files are checked end to end
against the cosign binary in tests/test_signing.py)."""

from __future__ import annotations

import os

import pytest

from modelpack.signatures import secretbox


def test_round_trip_and_tamper_detection() -> None:
    key, nonce = os.urandom(32), os.urandom(24)
    for message in (b"", b"x", os.urandom(1000)):
        box = secretbox.seal(message, nonce, key)
        assert len(box) == len(message) + 16
        assert secretbox.open_box(box, nonce, key) == message
    box = bytearray(secretbox.seal(b"private key bytes", nonce, key))
    box[-1] ^= 1
    with pytest.raises(ValueError, match="authentication"):
        secretbox.open_box(bytes(box), nonce, key)
    with pytest.raises(ValueError, match="authentication"):
        secretbox.open_box(secretbox.seal(b"m", nonce, key), nonce, os.urandom(32))


def test_known_answer_from_the_nacl_test_suite() -> None:
    # crypto_secretbox test vector from NaCl (tests/secretbox.c): first bytes of the ciphertext.
    key = bytes.fromhex("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389")
    nonce = bytes.fromhex("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37")
    message = bytes.fromhex(
        "be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a1ac728d45e6c6129"
        "6cdc3c01233561f41db66cce314adb310e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde"
        "048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f937763848645e0705"
    )
    box = secretbox.seal(message, nonce, key)
    assert box[:16].hex() == "f3ffc7703f9400e52a7dfb4b3d3305d9"
    assert box[16:32].hex() == "8e993b9f48681273c29650ba32fc76ce"
    assert secretbox.open_box(box, nonce, key) == message


def test_wrong_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        secretbox.seal(b"m", b"short", os.urandom(32))
    with pytest.raises(ValueError):
        secretbox.seal(b"m", os.urandom(24), b"short")
