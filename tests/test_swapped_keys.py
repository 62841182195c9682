"""The two files of a key pair swapped (`verify --key cosign.key`, `sign --key cosign.pub`), a newcomer's
first slip with `generate-key-pair`: the line says which file does what. It said "cosign.key: not a PEM
public key" and "cosign.pub: not a private key modelpack can read (Valid PEM but no BEGIN/END delimiters
for a private key found. Are you sure this is a private key?)", cryptography's words."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelpack as mp
from helpers import modelpack

REF = "localhost:5000/t/keys:1"


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "weights.bin").write_bytes(b"w" * 100)
    mp.pack(tmp_path / "m", REF)
    return mp.generate_key_pair(tmp_path / "keys", b"pw")


@pytest.mark.parametrize("command", [("verify", "--local"), ("report", "--local")])
def test_verifying_with_the_private_key_names_the_public_one(pair: tuple[Path, Path], command: tuple[str, ...]) -> None:
    private, _ = pair
    run = modelpack(*command, REF, "--key", str(private))
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err == f"error: {private} is a private key: verify with the public key (cosign.pub of the pair)\n"


def test_signing_with_the_public_key_names_the_private_one(pair: tuple[Path, Path]) -> None:
    _, public = pair
    run = modelpack("sign", "--local", REF, "--key", str(public), env={"COSIGN_PASSWORD": "pw"})
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err == f"error: {public} is a public key: sign with the private key (cosign.key of the pair)\n"


def test_a_file_of_neither_kind_is_said_as_before(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pub"
    junk.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    run = modelpack("verify", "--local", REF, "--key", str(junk))
    assert run.code == 2 and run.err == f"error: {junk}: not a PEM public key\n"
