"""The lineage section: the chain of parents (`lineage_chain.chain`, which visits each digest once) cut
at MAX_STEPS models, with what changed from each parent to its child (`model_diff`, as `diff` shows it)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import TYPE_CHECKING, Any

from modelpack.errors import ModelpackError
from modelpack.lineage_chain import chain
from modelpack.model_diff import diff_models
from modelpack.report.facts import LineageStep

if TYPE_CHECKING:
    from modelpack.model_info import ModelInfo

MAX_STEPS = 20  # a report documents recent ancestry; `modelpack lineage` walks up to 100
MAX_LISTED = 50  # files or fields shown per change list


def walk(start: str, first: ModelInfo, read: Callable[[str], ModelInfo],
         note: Callable[[str], None]) -> list[LineageStep]:
    """The model and its ancestors, newest first, each with its changes from its parent.

    Args:
        start: the model's reference (the chain's first entry).
        first: the model itself, already read.
        read: reads a parent by reference (from the local store or its registry).
        note: told why the chain stops early (a loop, an unreadable parent, the cap).

    Returns:
        The steps; each but the last has `changes` relative to the next.
    """
    infos: dict[str, ModelInfo] = {start: first}

    def cached(reference: str) -> ModelInfo:
        if reference not in infos:
            infos[reference] = read(reference)
        return infos[reference]

    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    try:
        for entry in islice(chain(start, cached), MAX_STEPS + 1):
            if entry["missing"]:
                note(f"the chain stops after {len(entries)} model(s): its parent {entry['reference']} is no longer "
                     "in its registry (deleted)")
                break
            if entry["digest"] in seen:  # (chain would raise next)
                note(f"the chain loops back to {entry['digest']} ({entry['reference']})")
                break
            seen.add(entry["digest"])
            entries.append(entry)
    except ModelpackError as exc:
        note(f"the chain stops after {len(entries)} model(s): {exc}")
    if len(entries) > MAX_STEPS:
        entries = entries[:MAX_STEPS]
        note(f"only the first {MAX_STEPS} models of the chain are shown")
    steps = []
    for i, entry in enumerate(entries):
        info = infos[entry["reference"]]
        step = LineageStep(entry["reference"], info.digest, info.name, info.version, info.created,
                           parent=_text(entry.get("parent")))
        if i + 1 < len(entries):
            step.changes = _capped(diff_models(infos[entries[i + 1]["reference"]], info).to_json())
        steps.append(step)
    return steps


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None  # the artifact's claim: a string or nothing


def ending(steps: list[LineageStep]) -> str | None:
    """What the report says below the chain: a first model, or the parent the last model shown records
    (not followed: unreadable, elsewhere, or past the cap; the section's notes say which).

    Args:
        steps: the chain as `walk` returned it.

    Returns:
        One sentence (plain text; the renderer escapes it), or None for a chain that ends at its first
        ancestor (the last model shown is it).
    """
    last = steps[-1] if steps else None
    if last is None or last.parent is None:
        return "No parent recorded: this is a first model." if len(steps) == 1 else None
    return f"The last model shown records a parent, {last.parent}, that is not shown (see the note above)."


def _capped(changes: dict[str, Any]) -> dict[str, Any]:
    files = changes["files"]
    for key in ("added", "removed", "changed"):
        if len(files[key]) > MAX_LISTED:
            files[key + "Total"] = len(files[key])
            files[key] = files[key][:MAX_LISTED]
    for key in ("metadata", "metrics"):
        if len(changes[key]) > MAX_LISTED:
            changes[key] = dict(list(changes[key].items())[:MAX_LISTED])
    return changes
