"""modctl artifacts: besides the ModelPack (or legacy `cnai`) config, `modctl build` puts the Modelfile
it built from in the manifest annotation `org.cncf.modctl.modelfile`. Its lines are `COMMAND value`
(`#` starts a comment); the metadata commands are read, the file globs (`MODEL`, `CONFIG`, `CODE`,
`DATASET`, `DOC`) are not. The text is only split into lines and words, never run.
"""

from __future__ import annotations

from typing import Any

from modelpack.oci.descriptor import Manifest
from modelpack.readers.values import MAX_EMBEDDED, put, text

FORMAT = "modctl"
ANNOTATION = "org.cncf.modctl.modelfile"
MAX_LINES = 10_000
_COMMANDS = {"NAME": "name", "ARCH": "architecture", "FAMILY": "family", "FORMAT": "format",
             "PARAMSIZE": "paramSize", "PRECISION": "precision", "QUANTIZATION": "quantization"}


def applies(manifest: Manifest) -> bool:
    """Whether the manifest carries a Modelfile."""
    return ANNOTATION in (manifest.annotations or {})


def read(manifest: Manifest, config: dict[str, Any] | None, malformed: list[str] | None) -> dict[str, Any]:
    """The model's fields from its Modelfile annotation (the config is the ModelPack reader's).

    Args:
        manifest: the model's manifest.
        config: unused (modctl's config is a ModelPack config).
        malformed: collects the annotation's key when it is over `MAX_EMBEDDED` bytes.

    Returns:
        The `Fields` the Modelfile records; lines that are not `COMMAND value` are skipped.
    """
    raw = (manifest.annotations or {}).get(ANNOTATION, "")
    if len(raw) > MAX_EMBEDDED:
        if malformed is not None:
            malformed.append(ANNOTATION)
        return {}
    fields: dict[str, Any] = {}
    for line in raw.splitlines()[:MAX_LINES]:
        command, _, value = line.strip().partition(" ")
        field = _COMMANDS.get(command.upper())
        if field is not None and field not in fields:
            put(fields, field, text(_unquote(value.strip())))
    return fields


def _unquote(value: str) -> str:
    """A value modctl quoted (it had blanks): the quotes removed and `\\"` read as `"`."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value
