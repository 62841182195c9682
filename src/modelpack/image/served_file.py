"""What a serving image will load: its entrypoint runs `modelpack serve /models`, and a directory is its
user's choice, so that command loads a pickle without asking. The question `serve REF` asks of a model
from a registry is therefore asked when the image is built, of the file the image's `serve` will choose."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from modelpack.errors import UntrustedContentError, UsageError


def refuse_unverified_pickle(model: str, files: Mapping[str, Path]) -> None:
    """Refuse a serving image whose served file would be a pickle (no signature was verified).

    Args:
        model: the model's reference, as errors name it.
        files: each file's path under /models, and the file holding its bytes (a store blob or a copy).

    Raises:
        UntrustedContentError: the file `serve /models` would load is a pickle.
    """
    from modelpack.serve import model_file

    try:  # /models holds no modelpack.yaml: `serve /models` chooses with no declared framework
        chosen = model_file.pick(files, None, model)
    except UsageError:
        return  # nothing or several to choose from: `serve /models` refuses it too, loading nothing
    if model_file.is_pickle(Path(chosen)):
        raise UntrustedContentError(
            f"refusing to build a serving image of {model}: the file it would serve ({chosen[:200]}) is a "
            "pickle, which runs code when loaded, and no signature was verified; pass --verify-key KEY to "
            "verify it, or --trust-unverified-pickle to build it anyway")
