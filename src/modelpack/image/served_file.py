"""What a serving image will load: its entrypoint runs `modelpack serve /models`, and a directory is its
user's choice, so that command loads a pickle without asking. The question `serve REF` asks of a model
from a registry is therefore asked when the image is built, of the file the image's `serve` will choose."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from modelpack import advice
from modelpack.errors import UntrustedContentError, UsageError
from modelpack.oci.descriptor import Index, Manifest

if TYPE_CHECKING:
    from modelpack.store.target import Storage

METADATA = "modelpack.yaml"  # what `serve DIR` reads its metadata (and framework) from
JSON_HEAD = 64  # bytes of a .json file that say whether it is an XGBoost model (`is_xgboost_model` reads fewer)


def refuse_unverified_pickle(files: Mapping[str, Path], doing: str) -> None:
    """Refuse a serving image whose served file would be a pickle (no signature was verified).

    `serve /models` chooses with the framework `/models/modelpack.yaml` declares, when the model holds a
    file of that name (an artifact another tool pushed may): that file's content is the artifact's, so
    the choice is asked for every framework it could declare.

    Args:
        files: each file's path under /models, and the file holding its bytes (a store blob or a copy).
        doing: what is refused, naming the model (e.g. "build a serving image of REF").

    Raises:
        UntrustedContentError: the file `serve /models` would (or, as its modelpack.yaml says, could) load is
            a pickle.
    """
    from modelpack.serve import model_file

    for framework in (None, *(model_file.FRAMEWORKS if METADATA in files else ())):
        try:
            chosen = model_file.pick(files, framework, doing)
        except UsageError:
            continue  # nothing or several to choose from: `serve /models` refuses it too, loading nothing
        if model_file.is_pickle(Path(chosen)):
            steered = f" (as its {METADATA} may declare framework {framework})" if framework else ""
            raise UntrustedContentError(
                f"refusing to {doing}: the file a serving image would serve{steered} ({chosen[:200]}) is a "
                "pickle, which runs code when loaded, and no signature was verified", advice=advice.VERIFY_OR_TRUST)


def remote_heads(repo: Storage, node: Manifest | Index, folder: Path, heads: dict[str, int]) -> dict[str, Path]:
    """A model still in its registry as `{path: file}`, for the checks of this module and of `modelcar`:
    each file stands as an empty one in `folder` but those whose suffix is in `heads`, which hold that many
    of their first bytes. Files inside archive layers are not seen: check them once unpacked.

    Args:
        repo: the model's repository.
        node: its manifest.
        folder: an empty folder that lives as long as the result is used.
        heads: how many first bytes to read of a file, by its (lower-case) suffix.

    Returns:
        Each file path of the manifest as it is restored (`./modelpack.yaml` is `modelpack.yaml`, which `serve
        /models` reads), and where its head (or nothing) was written.

    Raises:
        IntegrityError: what `pull -o` refuses (`unpacking.file_paths`): a file layer naming no path, or an
            unsafe path, two layers writing one path, a file that is another's folder (UnsafePathError).
    """
    from modelpack.artifact_paths import safe_relpath
    from modelpack.streams import read_at_most
    from modelpack.unpacking import file_paths, layer_path

    layers = node.layers if isinstance(node, Manifest) else []
    restored = file_paths(node) if isinstance(node, Manifest) else {}
    files: dict[str, Path] = {}
    for i, layer in enumerate(layers):
        raw = layer_path(layer)
        if raw is None:
            continue  # an archive layer naming no path (file layers without one are refused above)
        path = restored.get((layer.digest, raw)) or safe_relpath(raw)
        files[path] = folder / str(i)
        with files[path].open("wb") as out:
            if (count := heads.get(Path(path).suffix.lower())) is not None:
                with repo.open_blob(layer) as stream:  # all `count` bytes (or the whole blob): a short
                    out.write(read_at_most(stream, count)[:count])  # head would pass for a whole file
    return files


def titled(node: Manifest | Index, files: dict[str, Path]) -> dict[str, Path]:
    """`files` (from `remote_heads`) under the names an image volume gives them: CRI-O, as `oras pull`, names
    an artifact's file by its layer's `org.opencontainers.image.title`, which modelpack writes as the path
    but an artifact may set to another name (its path `model.onnx`, its title `model.joblib`).

    Args:
        node: the model's manifest.
        files: `remote_heads(..., node, ...)`.

    Returns:
        Each file under its title (its path where it has none).
    """
    from modelpack.artifact_paths import safe_relpath
    from modelpack.oci import mediatypes as mt
    from modelpack.unpacking import layer_path

    out: dict[str, Path] = {}
    for layer in node.layers if isinstance(node, Manifest) else []:
        if (path := layer_path(layer)) is not None:
            out[layer.annotation(mt.A_TITLE) or safe_relpath(path)] = files[safe_relpath(path)]
    return out


def declared_sizes(node: Manifest | Index) -> dict[str, int]:
    """Each file path of a manifest and its size as the manifest declares it (what `remote_heads` cut).

    Args:
        node: the model's manifest.

    Returns:
        {path: size}, for the layers that are single files.
    """
    from modelpack.artifact_paths import safe_relpath
    from modelpack.unpacking import layer_path

    layers = node.layers if isinstance(node, Manifest) else []
    return {safe_relpath(path): layer.size for layer in layers if (path := layer_path(layer)) is not None}
