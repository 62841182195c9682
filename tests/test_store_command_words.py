"""`modelpack store` answers a subcommand it does not have as the top-level group does: its help says
"check its blobs", and a newcomer typed `store verify` (or `store list`, `store chek`), which click answered
with "No such command 'verify'." alone."""

from __future__ import annotations

import pytest

from helpers import modelpack


@pytest.mark.parametrize(("typed", "line"), [
    ("verify", "No such command 'verify': `modelpack store check` hashes every blob"),
    ("list", "No such command 'list': `modelpack list` lists the local store's models"),
    ("prune", "No such command 'prune': `modelpack store gc` frees the space of unused blobs"),
    ("chek", "No such command 'chek'; did you mean 'check'?"),
])
def test_a_store_subcommand_by_another_word_names_ours(typed: str, line: str) -> None:
    run = modelpack("store", typed)
    assert (run.code, run.out) == (2, "")
    assert run.err == f"error: {line} (see `modelpack store --help`)\n"


def test_an_unknown_store_subcommand_is_still_one_line_and_the_real_ones_run() -> None:
    assert modelpack("store", "nonsense").err == "error: No such command 'nonsense'. (see `modelpack store --help`)\n"
    checked = modelpack("store", "check")
    assert checked.code == 0, checked.err
    assert checked.out.startswith("checked 0 blobs")
