"""A check's key, policy or statement type given twice is refused before anything is read or contacted: click
kept the last one silently, so `verify --key team.pub --key compliance.pub` checked compliance.pub alone and said
"verified" (as `report --key A --key B` would have checked both). Options meant to repeat still do, and any other
option given twice is the last one, as in most tools (a wrapper's default, then the caller's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import modelpack
from registry_process import free_port


@pytest.fixture
def nowhere() -> str:
    """A registry reference no one answers: a refusal before any request is exit 2, an attempt exit 5."""
    return f"127.0.0.1:{free_port()}/team/iris:1.0"


@pytest.mark.parametrize("args", [
    ("verify", "--key", "team.pub", "--key", "compliance.pub"),
    ("verify", "--key=team.pub", "--key", "compliance.pub"),
    ("verify-attestation", "--key", "a.pub", "--type", "slsaprovenance1", "--type", "cyclonedx"),
    ("pull", "--verify-key", "a.pub", "-o", "-", "--verify-key", "b.pub"),
])
def test_a_single_value_option_given_twice_is_refused(nowhere: str, args: tuple[str, ...]) -> None:
    result = modelpack(*args, "--plain-http", nowhere)
    assert result.code == 2, result.err
    line = result.err.strip()
    assert "\n" not in line and "is given twice" in line and f"`{args[0]}` takes one" in line, line
    assert f"(see `modelpack {args[0]} --help`)" in line
    if args[0] == "verify":
        assert "run it once per key" in line


def test_options_meant_to_repeat_and_values_that_look_like_options_pass(nowhere: str, tmp_path: Path) -> None:
    for name in ("a.pub", "b.pub"):
        (tmp_path / name).write_text("not read before the registry answers\n")
    a, b = str(tmp_path / "a.pub"), str(tmp_path / "b.pub")
    for args in (("report", "--key", a, "--key", b, "--format", "md"),  # report checks each key
                 ("verify", "--key", a, "-a", "--key=b", "-a", "x=y"),  # -a's values, not a second --key
                 ("ls", "--where", "version=1", "--where", "labels.stage=prod"),
                 ("pull", "-o", str(tmp_path / "one"), "-o", str(tmp_path / "two"))):  # the last output wins
        target = nowhere.rsplit(":", 1)[0] if args[0] == "ls" else nowhere
        result = modelpack(*args, "--plain-http", target)
        assert "given twice" not in result.err, (args, result.err)
        assert result.code in (2, 5), (args, result.code, result.err)  # an unreachable registry, or the key read
