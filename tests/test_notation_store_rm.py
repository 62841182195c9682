"""The local store keeps a model's notation and modelpack signatures while any name holds the model, and `rm` of
its last name takes every fallback index listing them, under whichever repository name they were copied in
(a model tagged under a second name and removed under both left the first name's index, listing signatures
of nothing, and `store gc` kept their blobs for ever). Against the real registry, notation and the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import modelpack
from modelpack.store.layout import LayoutStore
from notation_support import Notation
from registry_process import Registry
from test_signing import keypair

pytestmark = pytest.mark.interop
PASSWORD = {"COSIGN_PASSWORD": "pw"}


def _ok(*args: str) -> str:
    done = modelpack(*args, env=PASSWORD)
    assert done.code == 0, done.err
    return done.out


def test_rm_of_the_last_name_leaves_no_fallback_index(registry: Registry, pushed: tuple[str, str],
                                                      notation: Notation, tmp_path: Path) -> None:
    tag_ref, digest_ref = pushed
    digest = digest_ref.split("@")[1]
    notation.sign(digest_ref)
    key, public = keypair(tmp_path, "k")
    _ok("sign", "--plain-http", "--key", str(key), tag_ref)
    first, second = "example.com/notation/first", "example.com/notation/second"
    _ok("copy", "--plain-http", "--to-local", tag_ref, f"{first}:v1")
    _ok("tag", f"{first}:v1", f"{first}:v2")
    _ok("tag", f"{first}:v1", f"{second}:v1")
    _ok("rm", f"{first}:v1")  # v2 still holds it: its signatures stay, and travel with it
    again = registry.repo("notation-rm")
    _ok("copy", "--plain-http", "--from-local", f"{first}:v2", f"{again}:v2")
    assert notation.verify(f"{again}@{digest}").returncode == 0
    _ok("verify", "--local", "--key", str(public), f"{first}:v2")
    _ok("rm", f"{first}:v2")  # the second name still holds it: the first's signatures stay
    assert any(e.reference.startswith(f"{first}:sha256-") for e in LayoutStore().entries())
    removed = _ok("rm", f"{second}:v1")
    assert f"removed {first}:{digest.replace(':', '-')}" in removed
    assert [e.reference for e in LayoutStore().entries()] == []
    home = LayoutStore().root
    _ok("store", "gc")
    assert not any(p.is_file() for p in (home / "blobs").rglob("*"))
