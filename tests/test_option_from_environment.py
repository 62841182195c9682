"""A bad value of a variable that stands for an option (`MODELPACK_TIMEOUT=abc`, `MODELPACK_PLAIN_HTTP=maybe`,
set once in a shell profile) is named as the variable: click said "Invalid value for '--timeout'" to a
user who never typed `--timeout`. The same value on the command line is still the option's mistake; the
command line's option wins over the variable, as before."""

from __future__ import annotations

import pytest

from helpers import modelpack
from registry_process import Registry


@pytest.mark.parametrize(("variable", "value", "said"), [
    ("MODELPACK_TIMEOUT", "abc", "'abc' is not a valid float range"),
    ("MODELPACK_TIMEOUT", "0", "0.0 is not in the range x>0"),
    ("MODELPACK_PLAIN_HTTP", "maybe", "'maybe' is not a valid boolean"),
])
def test_a_bad_variable_is_named(variable: str, value: str, said: str) -> None:
    run = modelpack("ls", "127.0.0.1:9/team/model", env={variable: value})
    assert run.code == 2 and run.out == ""
    assert run.err.startswith(f"error: {variable}={value!r} (set in the environment): {said}"), run.err
    assert "--timeout" not in run.err and "--plain-http" not in run.err
    assert len(run.err.strip().splitlines()) == 1


def test_the_option_typed_is_still_the_options(registry: Registry) -> None:
    typed = modelpack("ls", "--timeout", "abc", "127.0.0.1:9/team/model")
    assert typed.code == 2 and "Invalid value for '--timeout'" in typed.err, typed.err
    # The flag given, the variable is not read: its junk does not matter.
    ok = modelpack("ls", "--plain-http", registry.repo("none"), env={"MODELPACK_PLAIN_HTTP": "maybe"})
    assert "MODELPACK_PLAIN_HTTP" not in ok.err, ok.err
