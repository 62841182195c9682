"""The Notary Project's `notation` CLI, driven as its users drive it: a test certificate of its own, a trust policy
that trusts it for every registry, and its configuration in a folder of the test's (XDG_CONFIG_HOME), never the
machine's."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

TRUST_STORE = "modelpack-test"  # `notation cert generate-test NAME` makes a key, a certificate and a ca store NAME


class Notation:
    """`notation` with its own configuration folder and a default signing key trusted by its trust policy."""

    def __init__(self, binary: Path, config_home: Path) -> None:
        self.binary = binary
        self.env = {**os.environ, "XDG_CONFIG_HOME": str(config_home)}
        config_home.mkdir(parents=True, exist_ok=True)
        made = self.run("cert", "generate-test", "--default", TRUST_STORE)
        assert made.returncode == 0, made.stderr
        policy = config_home / "trustpolicy-notation.json"
        policy.write_text(json.dumps({"version": "1.0", "trustPolicies": [{
            "name": "modelpack-test", "registryScopes": ["*"], "signatureVerification": {"level": "strict"},
            "trustStores": [f"ca:{TRUST_STORE}"], "trustedIdentities": ["*"]}]}))
        imported = self.run("policy", "import", "--force", str(policy))
        assert imported.returncode == 0, imported.stderr

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.binary), *args], capture_output=True, text=True, timeout=120, env=self.env)

    def sign(self, reference: str, envelope: str = "jws") -> None:
        """Sign `reference` (plain HTTP) with the test key, in the `jws` or `cose` envelope."""
        signed = self.run("sign", "--insecure-registry", "--signature-format", envelope, reference)
        assert signed.returncode == 0, signed.stderr

    def verify(self, reference: str) -> subprocess.CompletedProcess[str]:
        """`notation verify` of `reference` (plain HTTP) against the trust policy."""
        return self.run("verify", "--insecure-registry", reference)

    def signatures(self, reference: str) -> list[str]:
        """The digests of the Notary Project signatures `notation ls` finds on `reference` (its tree output)."""
        listed = self.run("ls", "--insecure-registry", reference)
        assert listed.returncode == 0, listed.stderr
        return re.findall(r"sha256:[0-9a-f]{64}", listed.stdout.split("\n", 1)[1] if "\n" in listed.stdout else "")
