"""What a CI pipeline meets: jobs attesting one model at once, an encrypted key in a library call."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelpack as mp
from modelpack.store.options import ClientOptions
from test_signing import keypair

PLAIN = ClientOptions(plain_http=True)


def test_an_encrypted_key_without_a_password_names_the_parameter_to_a_library_caller(
        pushed: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The API does not read COSIGN_PASSWORD: telling a library caller to set it sends a CI job round in circles.
    _, digest_ref = pushed
    private, _ = keypair(tmp_path, "k")
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    with pytest.raises(mp.errors.UsageError) as caught:
        mp.attest(digest_ref, private, None, {"job": "evaluation"}, "custom", options=PLAIN)
    assert "password=" in str(caught.value)
    assert "set COSIGN_PASSWORD" not in str(caught.value)
    assert "COSIGN_PASSWORD" in mp.advice.cli_message(caught.value)
