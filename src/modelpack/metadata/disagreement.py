"""Where a model's manifest annotations and its config blob say different things.

modelpack writes the fields both can hold to both (`mapping.py`), so they agree on what it packs; a
manifest written by hand or by another tool can make them differ. `ls`, the web UI's version lists and
registry UIs read the annotations alone, while `inspect`, `report` and `lineage` read both and prefer the
config for some fields: without a word, one digest would show one version in a listing and another in
its technical documentation. Both values are the registry's: the sentence shows them escaped and cut (a
100 KB name would fill a terminal twice over); `to_json` keeps them whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from modelpack.file_attributes import recorded_time
from modelpack.metadata.mapping import metadata_view


@dataclass(frozen=True)
class Disagreement:
    """One field the annotations and the config both record, with different values."""

    field: str
    annotations: Any  # what the manifest annotations say (what `ls` and registry UIs show)
    config: Any  # what the config blob says (what model-spec readers use)

    def sentence(self, shown: Any) -> str:
        """One line for people.

        Args:
            shown: the value the command shows for the field.

        Returns:
            The field, both values, and which one is shown, each escaped and cut past 200 characters.
        """
        return (f"the manifest's annotations and its config disagree on {self.field}: the annotations say "
                f"{_text(self.annotations)}, the config {_text(self.config)} (shown here: {_text(shown)}; "
                "`ls` and registry UIs show the annotations)")

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "annotations": self.annotations, "config": self.config}


def disagreements(annotations: dict[str, str] | None, config: dict[str, Any] | None) -> list[Disagreement]:
    """The fields on which a model's annotations and its model-spec config disagree.

    Args:
        annotations: the manifest's annotations.
        config: its parsed model-spec config blob (None: not read, so nothing to compare).

    Returns:
        One entry per field both record with different values, by field name.
    """
    if not config:
        return []
    said = metadata_view(annotations, None)
    own = metadata_view(None, config)
    return [Disagreement(key, said[key], own[key]) for key in sorted(said.keys() & own.keys())
            if not _same(key, said[key], own[key])]


def _same(key: str, one: Any, other: Any) -> bool:
    if one == other:
        return True
    if key == "created":  # one moment written two ways (a fraction of a second, +00:00 for Z) is the same
        first = recorded_time(one)
        return first is not None and first == recorded_time(other)
    return False


def _text(value: Any) -> str:
    from modelpack.cli.escape import clean_cut

    return clean_cut(json.dumps(value, ensure_ascii=False, sort_keys=True))
