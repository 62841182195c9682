"""A Hugging Face model card: the YAML front matter of README.md (license, datasets, base_model,
language)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from modelpack.errors import MalformedFileError
from modelpack.inspection.reading import short_text, text_list

MAX_FRONT_MATTER_BYTES = 1024 * 1024
MAX_CARD_BYTES = MAX_FRONT_MATTER_BYTES + 4096
# Hugging Face's license ids whose SPDX identifier is spelt differently.
SPDX = {"apache-2.0": "Apache-2.0", "mit": "MIT", "bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause",
        "gpl-2.0": "GPL-2.0", "gpl-3.0": "GPL-3.0", "lgpl-2.1": "LGPL-2.1", "lgpl-3.0": "LGPL-3.0",
        "agpl-3.0": "AGPL-3.0", "mpl-2.0": "MPL-2.0", "cc0-1.0": "CC0-1.0", "cc-by-4.0": "CC-BY-4.0",
        "cc-by-sa-4.0": "CC-BY-SA-4.0", "cc-by-nc-4.0": "CC-BY-NC-4.0", "cc-by-nc-sa-4.0": "CC-BY-NC-SA-4.0",
        "unlicense": "Unlicense", "openrail": "OpenRAIL", "bigscience-openrail-m": "BigScience-OpenRAIL-M"}


def read_model_card(path: Path, name: str) -> dict[str, Any]:
    """The fields a model card's front matter states.

    Args:
        path: the README.md.
        name: its path as shown in messages.

    Returns:
        Any of `licenses` (SPDX spelling where known; `license_name` for `other`), `datasets`,
        `base_model` (text: the caller decides where it goes) and `languages` (two-letter codes only);
        empty when the file has no front matter.

    Raises:
        MalformedFileError: front matter that is not YAML, not a mapping, or never closed within 1 MiB.
    """
    with open(path, "rb") as file:
        head = file.read(MAX_CARD_BYTES)
    text = head.decode("utf-8", errors="replace").replace("\r\n", "\n")
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 3)
    if end < 0 or end > MAX_FRONT_MATTER_BYTES:
        raise MalformedFileError(f"{name}: the model card's front matter (---) is not closed within "
                                 f"{MAX_FRONT_MATTER_BYTES} bytes")
    try:
        data = yaml.safe_load(text[4:end])
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 2})" if mark is not None else ""
        raise MalformedFileError(f"{name}: the model card's front matter is not valid YAML{line}") from None
    except RecursionError:
        raise MalformedFileError(f"{name}: the model card's front matter is nested too deep") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MalformedFileError(f"{name}: the model card's front matter is not a mapping")
    return _fields(data)


def _fields(data: dict[Any, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    licenses = text_list(data.get("license"))
    if licenses == ["other"] and (named := short_text(data.get("license_name"))):
        licenses = [named]
    if licenses:
        fields["licenses"] = [SPDX.get(item.lower(), item) for item in licenses]
    if datasets := text_list(data.get("datasets")):
        fields["datasets"] = datasets
    if base := text_list(data.get("base_model")):
        fields["base_model"] = base[0]
    languages = [lang for lang in text_list(data.get("language"))
                 if len(lang) == 2 and lang.isascii() and lang.isalpha() and lang.islower()]
    if languages:
        fields["languages"] = languages
    return fields
