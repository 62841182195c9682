"""The help of the commands that restore files (pull -o, unpack) says what each of them does: `unpack --link`
said "pull then keeps the model in the store" (the shared text of `pull --link`), and both `-o` said "new
or empty" when --force takes an existing folder."""

from __future__ import annotations

import pytest

from helpers import modelpack


@pytest.mark.parametrize("command", ["pull", "unpack"])
def test_restore_help_fits_the_command(command: str) -> None:
    run = modelpack(command, "--help")
    assert run.code == 0, run.err
    text = " ".join(run.out.split())
    assert "pull then keeps" not in text
    assert "an existing one with --force" in text
    assert "the model stays in the local store (`pull --link` keeps it there)" in text
