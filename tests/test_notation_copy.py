"""`modelpack copy` carries Notary Project signatures as it carries its own: one model, `--all-tags`, through an
`oci:` layout and through the local store, and `notation verify` passes on every copy (`--no-referrers` leaves
them behind, and notation then finds none). Against the real Distribution registry and the notation CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import modelpack
from notation_support import Notation
from registry_process import Registry

pytestmark = pytest.mark.interop


def _copy(*args: str) -> str:
    done = modelpack("copy", "--plain-http", *args)
    assert done.code == 0, done.err
    return done.err  # (what was carried is said there; the digest copied goes to stdout)


def test_copy_carries_a_notation_signature_everywhere(registry: Registry, pushed: tuple[str, str],
                                                      notation: Notation, tmp_path: Path) -> None:
    tag_ref, digest_ref = pushed
    digest = digest_ref.split("@")[1]
    notation.sign(digest_ref)
    [signature] = notation.signatures(digest_ref)
    layout = tmp_path / "layout"
    one, every, through_layout, through_store = (registry.repo("notation-copy") for _ in range(4))
    assert "carried 1 referrer" in _copy(tag_ref, f"{one}:v1")
    _copy("--all-tags", tag_ref.rsplit(":", 1)[0], every)
    _copy(tag_ref, f"oci:{layout}:v1")
    _copy(f"oci:{layout}:v1", f"{through_layout}:v1")
    _copy("--to-local", tag_ref, "example.com/notation/copied:v1")
    _copy("--from-local", "example.com/notation/copied:v1", f"{through_store}:v1")
    for repo in (one, every, through_layout, through_store):
        checked = notation.verify(f"{repo}@{digest}")
        assert checked.returncode == 0, ([one, every, through_layout, through_store].index(repo), checked.stderr)
        assert notation.signatures(f"{repo}@{digest}") == [signature]
    bare = registry.repo("notation-copy")
    _copy("--no-referrers", tag_ref, f"{bare}:v1")
    assert notation.verify(f"{bare}@{digest}").returncode != 0
