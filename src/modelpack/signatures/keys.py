"""Key pairs in cosign's formats.

Private: PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (or cosign's older `ENCRYPTED COSIGN PRIVATE KEY`)
holding JSON `{"kdf": {"name": "scrypt", "params": {"N", "r", "p"}, "salt"}, "cipher": {"name":
"nacl/secretbox", "nonce"}, "ciphertext"}` over the PKCS#8 DER key; plain PKCS#8 PEM is accepted too.
Public: PEM PKIX. Signing keys are ECDSA P-256 (cosign's default); verification also takes P-384,
Ed25519 and RSA keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from modelpack.advice import Wording
from modelpack.errors import UsageError
from modelpack.oci.jsontext import parse_or_none
from modelpack.signatures import secretbox

ENCRYPTED_TYPES = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
MAX_KEY_BYTES = 64 * 1024  # a PEM key is a few KiB
SCRYPT_N, SCRYPT_R, SCRYPT_P = 65536, 8, 1

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


class KeyFileError(UsageError):
    """A key that cannot be read: wrong password, unknown format, unsupported algorithm."""


@dataclass(frozen=True)
class Signer:
    key: PrivateKey

    def sign(self, data: bytes, *, sha256: bool = False) -> bytes:
        """A signature of `data`: ECDSA hashed as the curve suits, or with SHA-256 whatever the curve
        (`sha256`: what `cosign verify --key` checks, for its bundles and simple-signing alike, and
        containers/image), Ed25519, RSA PKCS#1 v1.5."""
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            chosen = hashes.SHA256() if sha256 else _ec_hash(self.key.curve)
            return self.key.sign(data, ec.ECDSA(chosen))
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            return self.key.sign(data)
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())

    @property
    def public_key(self) -> PublicKey:
        return self.key.public_key()


def verify_signature(public: PublicKey, signature: bytes, data: bytes, *, sha256: bool = False) -> bool:
    """Whether `signature` over `data` verifies with `public`. `sha256`: as containers/image checks
    cosign's simple-signing signatures: SHA-256 for every ECDSA curve, RSA PKCS#1 v1.5 only."""
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, data, ec.ECDSA(hashes.SHA256() if sha256 else _ec_hash(public.curve)))
        elif isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, data)
        else:
            try:
                public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                if sha256:
                    raise
                public.verify(signature, data, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO),
                              hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def _ec_hash(curve: ec.EllipticCurve) -> hashes.HashAlgorithm:
    return hashes.SHA384() if curve.key_size == 384 else hashes.SHA512() if curve.key_size > 384 else hashes.SHA256()


def key_hint(public: PublicKey) -> str:
    """sigstore's public key hint: base64 of the sha256 of the DER SubjectPublicKeyInfo."""
    return base64.b64encode(hashlib.sha256(public_der(public)).digest()).decode()


def key_label(path: Path, public: PublicKey) -> str:
    """A key as a document or a table names it: its file name and fingerprint (`cosign.pub (SHA256:...)`),
    not its path on one machine, which outlives nothing and can make a line a page wide.

    Args:
        path: the key's file.
        public: the key read from it.

    Returns:
        `NAME (SHA256:HINT)`, the hint as sigstore writes it (see `key_hint`).
    """
    return f"{path.name} (SHA256:{key_hint(public)})"


def public_der(public: PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_pem(public: PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def generate() -> Signer:
    return Signer(ec.generate_private_key(ec.SECP256R1()))


def encrypt_private_key(signer: Signer, password: bytes) -> bytes:
    """The key in cosign's encrypted PEM format."""
    der = signer.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
    salt, nonce = os.urandom(32), os.urandom(secretbox.NONCE_SIZE)
    box = secretbox.seal(der, nonce, _derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))
    document = {
        "kdf": {"name": "scrypt", "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
                "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(box).decode(),
    }
    return _pem(ENCRYPTED_TYPES[0], json.dumps(document, separators=(",", ":")).encode())


def load_private_key(path: Path, password: bytes | None) -> Signer:
    text = _read(path)
    kind, body = _unpem(text, path)
    if kind in ENCRYPTED_TYPES:
        if password is None:
            # The API reads no COSIGN_PASSWORD (the CLI does): a library caller passes the password.
            raise KeyFileError(f"{path} is encrypted", advice=Wording(
                "pass its password (password=b'...'; COSIGN_PASSWORD is read by the CLI only)",
                "set COSIGN_PASSWORD or enter the password"))
        der = _decrypt(body, password, path)
        try:
            key: Any = serialization.load_der_private_key(der, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise KeyFileError(f"{path} decrypts, but holds no private key modelpack can read") from None
    else:
        # A password given for a key that has none (COSIGN_PASSWORD set for another key) is not needed.
        needed = kind == "ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in text
        try:
            key = serialization.load_pem_private_key(text, password=(password or None) if needed else None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            if kind == "PUBLIC KEY":  # the pair's two files swapped: say which one signs
                raise KeyFileError(f"{path} is a public key: sign with the private key (cosign.key of the "
                                   "pair)") from None
            raise KeyFileError(f"{path}: not a private key modelpack can read ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
        raise KeyFileError(f"{path}: unsupported key type {type(key).__name__}")
    _check_strength(key, path)
    return Signer(key)


def needs_password(path: Path) -> bool:
    """Whether the private key in `path` is encrypted (so a password must be asked for)."""
    text = _read(path)
    kind, _ = _unpem(text, path)
    return kind in ENCRYPTED_TYPES or kind == "ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in text


def load_public_key(path: Path) -> PublicKey:
    return public_key_from_pem(_read(path), path)


def public_key_from_pem(text: bytes, path: Path | str) -> PublicKey:
    """A PEM public key (or certificate) for verifying; `path` names it in errors.

    Raises:
        KeyFileError: not a PEM public key, of an unsupported type, or too weak.
    """
    try:
        key = serialization.load_pem_public_key(text)
    except (ValueError, UnsupportedAlgorithm):
        try:  # a certificate works as well: its public key is used
            from cryptography import x509

            key = x509.load_pem_x509_certificate(text).public_key()
        except (ValueError, UnsupportedAlgorithm):
            if b"PRIVATE KEY-----" in text:  # the pair's two files swapped: say which one verifies
                raise KeyFileError(f"{path} is a private key: verify with the public key (cosign.pub of the "
                                   "pair)") from None
            raise KeyFileError(f"{path}: not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        raise KeyFileError(f"{path}: unsupported public key type {type(key).__name__}")
    _check_strength(key, path)
    return key


MIN_RSA_BITS = 2048


def _check_strength(key: Any, path: Path | str) -> None:
    """RSA below 2048 bits can be factored by a determined attacker (NIST SP 800-131A; cosign and
    sigstore refuse such keys too): a signature from one proves little."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise KeyFileError(f"{path}: a {key.key_size}-bit RSA key is too weak; use at least {MIN_RSA_BITS} bits "
                           "or an ECDSA P-256 key (modelpack generate-key-pair)")


def _decrypt(body: bytes, password: bytes, path: Path) -> bytes:
    try:
        doc = parse_or_none(body)
        kdf, cipher = doc["kdf"], doc["cipher"]
        if kdf["name"] != "scrypt" or cipher["name"] != "nacl/secretbox":
            raise KeyFileError(f"{path}: unsupported encryption {kdf['name']}/{cipher['name']}")
        params = kdf["params"]
        key = _derive(password, base64.b64decode(kdf["salt"]), int(params["N"]), int(params["r"]), int(params["p"]))
        return secretbox.open_box(base64.b64decode(doc["ciphertext"]), base64.b64decode(cipher["nonce"]), key)
    except KeyFileError:
        raise
    except ValueError as exc:
        if "authentication failed" in str(exc):
            raise KeyFileError(f"{path}: wrong password") from None
        raise KeyFileError(f"{path}: malformed encrypted key ({exc})") from None
    except (KeyError, TypeError):
        raise KeyFileError(f"{path}: malformed encrypted key") from None


def _derive(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    if n > 1 << 20 or r > 32 or p > 16:
        raise KeyFileError("refused scrypt parameters beyond what any cosign key uses")
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password)


def _read(path: Path) -> bytes:
    # Read no further than the cap: a library caller's key path of /dev/zero ended in MemoryError (the CLI
    # takes regular files only; a caller's FIFO is read as a file is).
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_KEY_BYTES + 1)
    except OSError as exc:
        raise KeyFileError(f"cannot read key {path}: {exc.strerror}") from None
    if len(data) > MAX_KEY_BYTES:
        raise KeyFileError(f"{path} is too large to be a key")
    return data


def _pem(kind: str, body: bytes) -> bytes:
    b64 = base64.b64encode(body).decode()
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return (f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----\n").encode()


def _unpem(text: bytes, path: Path) -> tuple[str, bytes]:
    try:
        s = text.decode("ascii")
        head = s.index("-----BEGIN ") + len("-----BEGIN ")
        kind = s[head : s.index("-----", head)]
        start = s.index("-----", head) + 5
        end = s.index(f"-----END {kind}-----")
        return kind, base64.b64decode("".join(s[start:end].split()))
    except (ValueError, UnicodeDecodeError):
        raise KeyFileError(f"{path}: not a PEM file") from None
