"""Files tools leave in a working folder (Python's bytecode caches, Jupyter's checkpoints, the folder files
of macOS and Windows): packed like any other file, each became a layer no runtime reads (a `.DS_Store`
and a `.pyc` as weights). They are still packed, as the user's folder says (a digest must not depend on
what we guess), and named once, with the `files.exclude` that leaves them out."""

from __future__ import annotations

from collections.abc import Sequence

from modelpack.first_few import first_few
from modelpack.packing.select import LayerSource

LEFTOVERS = ("__pycache__", ".ipynb_checkpoints", ".DS_Store", "Thumbs.db")
SHOWN = 5


def leftovers_warning(sources: Sequence[LayerSource]) -> str | None:
    """One line naming the layers made of tools' leftovers and how to leave them out, or None.

    Args:
        sources: the layers a pack selected.

    Returns:
        The warning (it holds file names: escape it before a terminal shows it), or None.
    """
    found: list[str] = []
    names: set[str] = set()
    for source in sources:
        parts = set(source.relpath.split("/"))
        if hit := parts.intersection(LEFTOVERS):
            found.append(source.relpath)
            names |= hit
    if not found:
        return None
    return (f"packing what tools leave behind as layers: {first_few(found, SHOWN)} (leave them out with files.exclude: "
            f"[{', '.join(sorted(names))}] in modelpack.yaml)")
