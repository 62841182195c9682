"""What a look-up in the local store that found nothing says: the name as the user wrote it (`champion`,
not `champion:latest`, which they never typed), and, for a bare name that is a tag of stored models
(`tag REF champion` names REPOSITORY:champion, so `rm champion` looks for a model named champion), the
references to write instead."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from modelpack.advice import Wording, compose, setting
from modelpack.errors import InvalidReferenceError, NotFoundError
from modelpack.oci.reference import Reference

MAX_NAMED = 3  # references named in the hint; a tag on many models says how many more


def not_in_store(reference: Reference, stored: Iterable[str]) -> NotFoundError:
    """The error for `reference` missing from the local store.

    Args:
        reference: what was looked up.
        stored: the store's references (its index entries' names).

    Returns:
        `WRITTEN is not in the local store`, with the stored references whose tag the bare name is.
    """
    return NotFoundError(f"{reference.written} is not in the local store",
                         advice=_tagged_so(reference, stored) or _a_folder_here(reference))


def _a_folder_here(reference: Reference) -> Wording | None:
    """A name with no registry that is a folder here (`inspect iris-classifier`, the Quick start's model
    folder): the folder is not a model until it is packed."""
    if reference.registry or reference.digest or not Path(reference.written).is_dir():
        return None
    name = reference.written
    return compose("a folder of that name is here, not a stored model: {} stores it",
                   setting(f"modelpack.pack({name!r}, REF)", f"`modelpack pack {name} -t REF`"))


def _tagged_so(reference: Reference, stored: Iterable[str]) -> Wording | None:
    if reference.registry or reference.digest or reference.tag != "latest" or "/" in reference.repository:
        return None  # only a bare name can be a tag the user meant
    matches = []
    for name in stored:
        try:
            if Reference.parse(name, default_tag=None).tag == reference.repository:
                matches.append(name)
        except InvalidReferenceError:
            continue  # an entry of another tool's naming: not what the user meant
    if not matches:
        return None
    matches.sort()
    more = f" (and {len(matches) - MAX_NAMED} more)" if len(matches) > MAX_NAMED else ""
    text = f"{reference.repository} is a tag of {', '.join(matches[:MAX_NAMED])}{more}: write the reference whole"
    return Wording(text, text)
