"""`lineage REPO:1.1.0@<1.0.0's digest>` reads the digest, as every OCI client does, and showed 1.0.0's chain
under the label 1.1.0 without a word; `pull` of the same reference warns that the tag names another digest.
`lineage` now says it the same way (stdout unchanged). Against the real registry."""

from __future__ import annotations

from pathlib import Path

from helpers import modelpack
from registry_process import Registry
from ui_support import push_version


def test_lineage_says_the_tag_names_another_digest(registry: Registry, tmp_path: Path) -> None:
    repo = registry.repo("pinned-lineage")
    old = push_version(tmp_path / "a", f"{repo}:1.0.0", {"name": "m", "version": "1.0.0"})
    new = push_version(tmp_path / "b", f"{repo}:1.1.0", {"name": "m", "version": "1.1.0"})
    mixed = modelpack("lineage", "--plain-http", f"{repo}:1.1.0@{old}")
    assert mixed.code == 0, mixed.err
    assert mixed.out.startswith(f"{repo}:1.1.0@{old}  {old[:19]}  m 1.0.0"), mixed.out
    said = f"warning: tag 1.1.0 of {repo} names {new} in the registry: the lineage of {old}, the digest given\n"
    assert mixed.err == said, mixed.err
    pulled = modelpack("pull", "--plain-http", f"{repo}:1.1.0@{old}")
    assert pulled.err.startswith(f"warning: tag 1.1.0 of {repo} names {new} in the registry: "), pulled.err

    agreeing = modelpack("lineage", "--plain-http", f"{repo}:1.0.0@{old}")
    assert (agreeing.code, agreeing.err) == (0, ""), agreeing.err
    gone = modelpack("lineage", "--plain-http", f"{repo}:9.9@{old}")
    assert gone.code == 0 and gone.err == f"warning: tag 9.9 of {repo} does not exist in the registry: the " \
                                          f"lineage of {old}, the digest given\n", gone.err
