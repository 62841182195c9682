"""The user's credentials for one registry host, as every credential source returns them, and where
`login` saved them."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str  # or an identity token when username is "<token>"
    saved_in: str | None = field(default=None, compare=False)  # where lookup() found them (for the fix)

    def __repr__(self) -> str:  # never show the secret, even in a debugger or a traceback
        return f"Credentials(username={self.username!r}, password=***)"

    def basic(self) -> str:
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


@dataclass(frozen=True)
class SavedCredentials:
    """Where `login` saved a registry's credentials: in an auth file (base64), through a credential
    helper program, or both (the docker config lists the registry, its helper keeps the secret)."""

    auth_file: Path | None = None  # the auth file written (None: a registries.conf helper alone keeps them)
    helper: str | None = None  # the `docker-credential-*` program keeping the secret (None: in auth_file)

    def __str__(self) -> str:
        if self.helper and self.auth_file:
            return f"{self.helper} (listed in {self.auth_file})"
        return str(self.helper or self.auth_file)
