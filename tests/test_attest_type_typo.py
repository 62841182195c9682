"""A `--type` that is neither one of cosign's short names nor a URI names the near miss: `cyclondx` was
refused with the list alone (newcomer 41). Refused before the key is read or any registry asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import modelpack

LIST = "use one of custom, slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson, cyclonedx, link, " \
       "vuln, openvex or a URI"


@pytest.mark.parametrize(("typed", "near"), [("cyclondx", " (did you mean 'cyclonedx'?)"),
                                             ("slsaprovenance2", " (did you mean 'slsaprovenance02'?)"),
                                             ("zzz", "")])
def test_a_mistyped_predicate_type_names_the_near_one(tmp_path: Path, typed: str, near: str) -> None:
    run = modelpack("verify-attestation", "--key", str(tmp_path / "absent.pub"), "--type", typed,
                    "127.0.0.1:9/team/m:1", "--plain-http")
    assert (run.code, run.out) == (2, ""), run.err
    assert run.err == f"error: --type {typed!r}{near}: {LIST}\n"
