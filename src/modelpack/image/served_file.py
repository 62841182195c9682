"""What a serving image will load: its entrypoint runs `modelpack serve /models`, and a directory is its
user's choice, so that command loads a pickle without asking. The question `serve REF` asks of a model
from a registry is therefore asked when the image is built, of the file the image's `serve` will choose."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from modelpack import advice
from modelpack.errors import UntrustedContentError, UsageError

JSON_HEAD = 64  # bytes of a .json file that say whether it is an XGBoost model (`is_xgboost_model` reads fewer)


def refuse_unverified_pickle(files: Mapping[str, Path], doing: str) -> None:
    """Refuse a serving image whose served file would be a pickle (no signature was verified).

    Args:
        files: each file's path under /models, and the file holding its bytes (a store blob or a copy).
        doing: what is refused, naming the model (e.g. "build a serving image of REF").

    Raises:
        UntrustedContentError: the file `serve /models` would load is a pickle.
    """
    from modelpack.serve import model_file

    try:  # /models holds no modelpack.yaml: `serve /models` chooses with no declared framework
        chosen = model_file.pick(files, None, doing)
    except UsageError:
        return  # nothing or several to choose from: `serve /models` refuses it too, loading nothing
    if model_file.is_pickle(Path(chosen)):
        raise UntrustedContentError(
            f"refusing to {doing}: the file a serving image would serve ({chosen[:200]}) is a "
            "pickle, which runs code when loaded, and no signature was verified", advice=advice.VERIFY_OR_TRUST)
