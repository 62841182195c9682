"""`lineage` of a model whose parent was deleted from the registry since it was pushed: the chain ends
at that parent, said plainly (exit 0; `--json`: `"missing": true`), in the CLI, the API, the web UI and the
report, instead of an error line after the chain. Against the real registry."""

from __future__ import annotations

import json
from collections.abc import Callable

import modelpack as mp
from helpers import modelpack
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_report_lineage_gap import orphan  # noqa: F401  (the fixture: a child whose parent was deleted)
from ui_support import Pages

PLAIN = ClientOptions(plain_http=True)


def test_a_deleted_parent_ends_the_chain_said_so(orphan: tuple[str, str]) -> None:  # noqa: F811
    child, parent = orphan
    pinned = f"{child.rsplit(':', 1)[0]}:1.0@{parent}"
    made = modelpack("lineage", "--plain-http", child)
    assert made.code == 0 and made.err == "", (made.code, made.err)
    lines = made.out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{child}  sha256:") and lines[0].endswith("1.1")
    assert lines[1] == f"  └─ {pinned}  {parent[:19]}  no longer in its registry (deleted): the chain ends here"
    as_json = modelpack("lineage", "--plain-http", "--json", child)
    assert as_json.code == 0, as_json.err
    chain = json.loads(as_json.out)
    assert [entry["missing"] for entry in chain] == [False, True]
    assert chain[1] == {"reference": pinned, "digest": parent, "name": None, "version": None, "parent": None,
                        "missing": True}
    assert [entry["missing"] for entry in mp.lineage(child, options=PLAIN)] == [False, True]
    facts = mp.build_report(child, options=PLAIN)
    assert any(f"its parent {pinned} is no longer in its registry (deleted)" in note
               for note in facts.notes["lineage"]), facts.notes
    # A model that does not exist at all is still an error (exit 3), not an empty chain.
    gone = modelpack("lineage", "--plain-http", f"{child.rsplit(':', 1)[0]}:9.9")
    assert gone.code == 3 and gone.out == ""


def test_the_ui_says_the_parent_was_deleted(registry: Registry, orphan: tuple[str, str],  # noqa: F811
                                            ui: Callable[..., str]) -> None:
    child, parent = orphan
    digest = mp.resolve(child, options=PLAIN).digest
    page = Pages(ui([registry.host])).get(f"/v/{child.rsplit(':', 1)[0]}@{digest}")
    assert (f"Lineage stops here: its parent {child.rsplit(':', 1)[0]}:1.0@{parent} is no longer in its registry "
            "(deleted)") in page
