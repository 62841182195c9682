"""The user's credentials for one registry host, as every credential source returns them."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str  # or an identity token when username is "<token>"
    saved_in: str | None = field(default=None, compare=False)  # where lookup() found them (for the fix)

    def __repr__(self) -> str:  # never show the secret, even in a debugger or a traceback
        return f"Credentials(username={self.username!r}, password=***)"

    def basic(self) -> str:
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
