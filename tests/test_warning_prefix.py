"""Warnings the CLI printed through logging (a credential helper that failed, a file logout leaves alone)
lacked the `warning: ` that `error: ` lines have; some messages carried it themselves. Every warning line
now starts with it, once, with -v before the logger's name (tests/test_credential_lookup_order.py and
tests/test_credential_helpers_conf.py check the lines end to end)."""

from __future__ import annotations

import io
import logging

import pytest

from modelpack.cli.common import configure_logging


@pytest.mark.parametrize(("verbose", "shown"), [(False, "warning: {}"), (True, "warning: modelpack.test: {}")])
@pytest.mark.parametrize("message", ["a file is left alone", "warning: a file is left alone"])
def test_a_warning_line_starts_with_warning_once(monkeypatch: pytest.MonkeyPatch, verbose: bool, shown: str,
                                                 message: str) -> None:
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr("sys.stderr", io.StringIO())
    configure_logging(verbose=verbose)
    stream = root.handlers[0].stream  # type: ignore[attr-defined]
    logging.getLogger("modelpack.test").warning("%s", message)
    logging.getLogger("modelpack.test").error("failed")
    assert stream.getvalue().splitlines() == [shown.format("a file is left alone"),
                                              "modelpack.test: failed" if verbose else "failed"]
