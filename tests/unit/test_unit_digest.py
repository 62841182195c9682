"""Digest validation, the streaming Verifier, of_stream and of_file."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from modelpack.errors import IntegrityError, UsageError
from modelpack.oci import digest as d

EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("digest", [EMPTY_SHA256, "sha256:" + "0" * 64, "sha512:" + "ab" * 64])
def test_validate_accepts_and_returns_well_formed_digests(digest: str) -> None:
    assert d.validate(digest) == digest
    assert d.is_digest(digest)


@pytest.mark.parametrize(
    "digest",
    [
        "",
        "sha256:",
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha256:" + "A" * 64,
        "sha256:" + "g" * 64,
        "SHA256:" + "a" * 64,
        "sha384:" + "a" * 96,
        "md5:" + "a" * 32,
        "a" * 64,
        "sha256-" + "a" * 64,
        " sha256:" + "a" * 64,
        "sha256:" + "a" * 64 + " ",
        "sha512:" + "a" * 64,
        "sha256:" + "a" * 128,
    ],
)
def test_validate_refuses_malformed_digests(digest: str) -> None:
    assert not d.is_digest(digest)
    with pytest.raises(UsageError, match="not a valid digest"):
        d.validate(digest)


def test_validate_refuses_trailing_newline() -> None:
    with pytest.raises(UsageError):
        d.validate(EMPTY_SHA256 + "\n")


def test_of_bytes_and_hex_part() -> None:
    assert d.of_bytes(b"") == EMPTY_SHA256
    assert d.of_bytes(b"hello") == sha256(b"hello")
    assert d.hex_part(EMPTY_SHA256) == ("sha256", EMPTY_SHA256.split(":")[1])
    with pytest.raises(UsageError):
        d.hex_part("sha256:nothex")


# --- Verifier -------------------------------------------------------------------------------------------

DATA = b"model weights " * 1000


def test_verifier_accepts_matching_content_fed_in_pieces() -> None:
    v = d.Verifier(sha256(DATA), len(DATA))
    for i in range(0, len(DATA), 777):
        v.update(DATA[i : i + 777])
    v.verify()
    assert v.size == len(DATA)


def test_verifier_without_size_checks_only_the_digest() -> None:
    v = d.Verifier(sha256(DATA))
    v.update(DATA)
    v.verify()


def test_verifier_supports_sha512() -> None:
    v = d.Verifier("sha512:" + hashlib.sha512(DATA).hexdigest(), len(DATA))
    v.update(DATA)
    v.verify()


def test_verifier_refuses_content_larger_than_declared_as_soon_as_it_passes() -> None:
    v = d.Verifier(sha256(DATA), len(DATA) - 1)
    v.update(DATA[:-1])  # exactly the declared size so far: fine
    with pytest.raises(IntegrityError, match="larger than its declared size"):
        v.update(DATA[-1:])


def test_verifier_refuses_content_smaller_than_declared() -> None:
    v = d.Verifier(sha256(DATA), len(DATA) + 1)
    v.update(DATA)
    with pytest.raises(IntegrityError, match="descriptor says"):
        v.verify()


def test_verifier_refuses_wrong_digest_of_right_size() -> None:
    tampered = b"X" + DATA[1:]
    v = d.Verifier(sha256(DATA), len(DATA))
    v.update(tampered)
    with pytest.raises(IntegrityError, match="digest mismatch"):
        v.verify()


def test_verifier_refuses_empty_content_for_nonempty_digest() -> None:
    v = d.Verifier(sha256(b"x"))
    with pytest.raises(IntegrityError):
        v.verify()


def test_verifier_refuses_malformed_expected_digest() -> None:
    with pytest.raises(UsageError):
        d.Verifier("sha256:xyz", 3)


def test_integrity_error_is_not_a_usage_error() -> None:
    # Callers distinguish "bad input" (exit 2) from "corrupt content" (exit 6).
    assert not issubclass(IntegrityError, UsageError)
    assert IntegrityError.exit_code == 6


# --- of_stream / of_file --------------------------------------------------------------------------------


def test_of_stream_hashes_everything_across_chunk_boundaries() -> None:
    data = bytes(range(256)) * ((d.CHUNK * 2 + 12345) // 256)
    assert len(data) > 2 * d.CHUNK
    assert d.of_stream(io.BytesIO(data)) == (sha256(data), len(data))


def test_of_stream_hashes_only_what_is_left() -> None:
    stream = io.BytesIO(b"headerpayload")
    stream.read(6)
    assert d.of_stream(stream) == (sha256(b"payload"), 7)


def test_of_stream_empty() -> None:
    assert d.of_stream(io.BytesIO(b"")) == (EMPTY_SHA256, 0)


def test_of_file(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(DATA)
    assert d.of_file(path) == (sha256(DATA), len(DATA))
    assert d.of_file(str(path)) == (sha256(DATA), len(DATA))
    (tmp_path / "empty").write_bytes(b"")
    assert d.of_file(tmp_path / "empty") == (EMPTY_SHA256, 0)


def test_of_file_missing_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        d.of_file(tmp_path / "absent")


# --- copying through pooled buffers, hashed inline or on a thread -------------------------------------------


def _copy_through(hashing: d.InlineHashing, data: bytes) -> bytes:
    """What ingest does: fill a buffer, use it, hand it over for hashing."""
    out = bytearray()
    source = io.BytesIO(data)
    while True:
        buffer = hashing.buffer()
        n = source.readinto(memoryview(buffer))
        if not n:
            break
        out += memoryview(buffer)[:n]
        hashing.hashed(buffer, n)
    hashing.finish()
    return bytes(out)


@pytest.mark.parametrize("kind", [d.InlineHashing, d.ThreadedHashing])
def test_hashing_strategies_verify_what_passed_through(kind: type[d.InlineHashing]) -> None:
    data = bytes(range(256)) * 4099  # not a multiple of the buffer size
    verifier = d.Verifier(sha256(data), len(data))
    assert _copy_through(kind(verifier, 1000), data) == data
    verifier.verify()
    assert verifier.size == len(data)


def test_threaded_hashing_reports_a_wrong_digest() -> None:
    data = b"x" * 10_000
    verifier = d.Verifier(sha256(b"y" * 10_000), len(data))
    _copy_through(d.ThreadedHashing(verifier, 1000), data)
    with pytest.raises(IntegrityError, match="digest mismatch"):
        verifier.verify()


def test_threaded_hashing_stops_the_copy_when_content_outgrows_its_size() -> None:
    """The size check runs on the hashing thread; the copying side learns of it within a few
    buffers, not at the end of an endless stream."""
    verifier = d.Verifier(sha256(b""), 100)
    hashing = d.ThreadedHashing(verifier, 64, buffers=2)
    handed = 0
    with pytest.raises(IntegrityError, match="larger than its declared size"):
        for _ in range(1000):
            buffer = hashing.buffer()
            hashing.hashed(buffer, 64)
            handed += 1
    assert handed < 10
    hashing.close()


def test_threaded_hashing_close_is_idempotent_and_ends_the_thread() -> None:
    hashing = d.ThreadedHashing(d.Verifier(EMPTY_SHA256, 0), 16)
    hashing.close()
    hashing.close()
    hashing.finish()
    assert not hashing._thread.is_alive()
