"""Key files that decrypt or parse but hold no usable key are a user's problem (KeyFileError, exit 2),
never an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelpack.signatures import keys


def test_encrypted_key_holding_junk_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Junk:
        def private_bytes(self, *args: object) -> bytes:
            return b"not a DER private key"

    monkeypatch.setattr(keys, "SCRYPT_N", 1024)  # fast; the parameters are read back from the file
    path = tmp_path / "cosign.key"
    path.write_bytes(keys.encrypt_private_key(keys.Signer(Junk()), b"pw"))  # type: ignore[arg-type]
    with pytest.raises(keys.KeyFileError, match="no private key"):
        keys.load_private_key(path, b"pw")


def test_public_key_of_an_unsupported_kind_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import x25519

    path = tmp_path / "x25519.pub"
    path.write_bytes(keys.public_pem(x25519.X25519PrivateKey.generate().public_key()))  # type: ignore[arg-type]
    with pytest.raises(keys.KeyFileError, match="unsupported"):
        keys.load_public_key(path)


def test_bundle_with_many_signatures_is_refused_before_checking_them() -> None:
    import base64
    import json

    from modelpack.errors import VerificationError
    from modelpack.signatures.dsse import IN_TOTO_PAYLOAD, verify_bundle

    junk = base64.b64encode(b"\x30" * 70).decode()
    bundle = json.dumps({"dsseEnvelope": {"payload": "e30=", "payloadType": IN_TOTO_PAYLOAD,
                                          "signatures": [{"sig": junk}] * 5000}}).encode()
    with pytest.raises(VerificationError, match="signatures in one envelope"):
        verify_bundle(bundle, keys.generate().public_key, "sha256:" + "0" * 64)
