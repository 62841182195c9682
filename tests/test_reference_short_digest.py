"""A digest copied as `ls`, `list` and `inspect` show it (`sha256:` and 12 hex digits), or its 64 digits
without `sha256:`, was refused only as "not a digest (sha256:<64 hex>)": the line now says what to write,
and where the whole digest is printed."""

from __future__ import annotations

import pytest

from helpers import modelpack
from modelpack.errors import InvalidReferenceError
from modelpack.oci.reference import Reference

HEX = "04519d21f8073bcc914b6248b669832e3a8d8a2cc0f762ba13c1b3eb8b953e34"


def test_the_12_digits_ls_shows_name_resolve() -> None:
    run = modelpack("pull", f"localhost:5000/team/m@sha256:{HEX[:12]}", "-o", "/nonexistent-n40")
    assert run.code == 2 and len(run.err.strip().splitlines()) == 1
    assert run.err.rstrip().endswith("a digest is written whole: `modelpack resolve REPO:TAG` (or `ls --json`) "
                                     "prints it"), run.err


def test_64_digits_without_the_algorithm_name_the_reference_to_write() -> None:
    with pytest.raises(InvalidReferenceError) as info:
        Reference.parse(f"localhost:5000/team/m@{HEX}")
    assert str(info.value).endswith(f"; write @sha256:{HEX}")


@pytest.mark.parametrize("junk", ["sha256:...", "latest", "1.0", "sha512:abc", "abc"])
def test_other_junk_gets_no_such_hint(junk: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        Reference.parse(f"localhost:5000/team/m@{junk}")
    assert str(info.value).endswith("is not a digest (sha256:<64 hex>)"), str(info.value)
