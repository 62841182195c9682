"""Large files packed as weights by guess: a name that says nothing of what a file is (`core.12345`, a
`backup.tar`, `pytorch_model-00001`) made a weight layer without a word, so a stray 3 GB core dump or
archive went into the model, and up to the registry, unnoticed. They are still packed (a digest must not
depend on what we guess), and named once, with the two lines of modelpack.yaml that settle it either way."""

from __future__ import annotations

from collections.abc import Sequence

from modelpack.first_few import first_few
from modelpack.packing.leftovers import SHOWN
from modelpack.packing.select import LayerSource
from modelpack.space import human_size

LARGE = 64 * 1024 * 1024  # smaller guesses cost little to carry; a model's real weights are this large


def guessed_warning(sources: Sequence[LayerSource]) -> str | None:
    """One line naming the large layers packed as weights for want of a known name, or None.

    Args:
        sources: the layers a pack selected.

    Returns:
        The warning (it holds file names: escape it before a terminal shows it), or None.
    """
    found = [(source.relpath, sum(f.size for f in source.files)) for source in sources
             if source.kind == "weight" and not source.certain and not source.archive]
    found = [(path, size) for path, size in found if size >= LARGE]
    if not found:
        return None
    shown = first_few([f"{path} ({human_size(size)})" for path, size in found], SHOWN)
    first = found[0][0]
    return (f"packing as weights, by guess from their names: {shown} (if they are, say so with "
            f"files.kinds: {{{first}: weight}} in modelpack.yaml; if not, leave them out with files.exclude: "
            f"[{first}])")
