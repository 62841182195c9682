"""`--set metrics.f1 0.93` (a space where the `=` goes) said only click's `Got unexpected extra argument (0.93)`,
or, with the folder after it, that the folder was the extra argument: the line now names the option and how
to write it. Nothing is asked of a registry: the mistake is the command line's."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import modelpack

REF = "localhost:5000/team/iris:1.0.0"


@pytest.mark.parametrize(("args", "said"), [
    (("pack", "{dir}", "-t", REF, "--set", "metrics.f1", "0.93"),
     "error: --set 'metrics.f1': KEY=VALUE is one word, without spaces: --set metrics.f1=0.93 "
     "(see `modelpack pack --help`)\n"),
    (("push", "--set", "version", "2", "{dir}", REF),
     "error: --set 'version': KEY=VALUE is one word, without spaces: --set version=2 (see `modelpack push --help`)\n"),
    (("sign", "--key", "cosign.key", "-a", "team", "ml", REF),
     "error: -a 'team': KEY=VALUE is one word, without spaces: -a team=ml (see `modelpack sign --help`)\n"),
])
def test_a_key_value_option_split_by_a_space_says_how_to_write_it(tmp_path: Path, args: tuple[str, ...],
                                                                   said: str) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "w.bin").write_bytes(b"w")
    run = modelpack(*(a.format(dir=tmp_path / "m") for a in args))
    assert (run.code, run.out, run.err) == (2, "", said)


def test_another_extra_argument_is_still_said_as_click_says_it(tmp_path: Path) -> None:
    run = modelpack("pack", str(tmp_path), "-t", REF, "--set", "metrics.f1=0.93", "extra")
    assert (run.code, run.err) == (2, "error: Got unexpected extra argument (extra) (see `modelpack pack --help`)\n")
