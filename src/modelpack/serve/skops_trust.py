"""Loading .skops files with an allow-list instead of trusting whatever type the file names.

skops calls the types a file names (`cls(*args)`, `cls.__new__` + `__setstate__`), so trusting
`os.system` runs a command at load time. skops trusts scikit-learn's public estimators, numpy dtypes
and ufuncs on its own; of the rest we admit only *classes* (never functions: a FunctionTransformer
holding `check_array` is refused) defined in scikit-learn, numpy's array/scalar/dtype/random types and
scipy's sparse matrices, and nothing from a test, dataset, file-IO or build module.
"""

from __future__ import annotations

import importlib
import zipfile
from pathlib import Path
from typing import Any

from modelpack.errors import IntegrityError, UntrustedContentError
from modelpack.first_few import first_few

_ROOTS = ("sklearn", "numpy", "scipy")
# Modules whose classes touch files, the network or run scripts (memmaps, dataset fetchers, test helpers).
_EXCLUDED_PARTS = frozenset({
    "tests", "testing", "_testing", "conftest", "datasets", "externals", "_build_utils", "__check_build",
    "_show_versions", "distutils", "f2py", "ctypeslib", "_pytesttester", "io", "npyio", "_npyio_impl",
    "_datasource", "format", "memmap",
})
# A .skops file is a zip: its members together may not unpack to more than this.
MAX_UNPACKED_BYTES = 8 * 1024**3
MAX_MEMBERS = 1_000_000


def admitted(name: str) -> bool:
    """Whether the type `name` (as skops reports it, `module.Qualified`) may be trusted.

    Args:
        name: a dotted name from `skops.io.get_untrusted_types`.

    Returns:
        True only for classes on the allow-list (see the module docstring).
    """
    parts = name.split(".")
    if parts[0] not in _ROOTS or len(parts) < 2 or not all(p.isidentifier() for p in parts):
        return False
    if _EXCLUDED_PARTS.intersection(parts):
        return False
    obj = _resolve(parts)
    if not isinstance(obj, type):
        return False
    module = getattr(obj, "__module__", "") or ""
    if module.split(".")[0] not in _ROOTS or _EXCLUDED_PARTS.intersection(module.split(".")):
        return False
    return _admitted_class(obj)


def _admitted_class(cls: type) -> bool:
    import numpy as np

    root = cls.__module__.split(".")[0]
    if root == "sklearn":
        return True
    if root == "numpy":
        if issubclass(cls, np.memmap):  # opens (and can create) a file named by the model
            return False
        random = (np.random.Generator, np.random.RandomState, np.random.BitGenerator, np.random.SeedSequence)
        return issubclass(cls, (np.ndarray, np.generic, np.dtype, *random))
    try:
        from scipy.sparse import sparray, spmatrix
    except ImportError:
        return False
    return issubclass(cls, (sparray, spmatrix))


def _resolve(parts: list[str]) -> Any:
    """The object a dotted name names, importing only the (allow-listed) package modules it needs."""
    for split in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except Exception:  # not a module (or not importable): try a shorter prefix
            continue
        try:
            for attribute in parts[split:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            return None
        return obj
    return None


def load_skops(path: Path) -> Any:
    """Load a .skops file, trusting skops' own defaults plus the allow-listed types it names.

    Args:
        path: the .skops file.

    Returns:
        The loaded object (usually a scikit-learn estimator).

    Raises:
        UntrustedContentError: the file names a type outside the allow-list (named in the message).
        IntegrityError: the file is not a readable .skops archive, or unpacks beyond the caps.
    """
    import skops.io as sio

    _check_archive(path)
    try:
        names = sio.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, RecursionError) as exc:
        raise IntegrityError(f"{path.name}: not a readable .skops file ({type(exc).__name__}: {exc})") from None
    refused = [name for name in names if not admitted(name)]
    if refused:
        shown = first_few(refused, 5)
        raise UntrustedContentError(
            f"{path.name} names types outside the allow-list (scikit-learn classes, numpy arrays/scalars, "
            f"scipy sparse matrices): {shown}; refusing to load it")
    try:
        return sio.load(path, trusted=names)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise IntegrityError(f"{path.name}: cannot load ({type(exc).__name__}: {exc})") from None


def _check_archive(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise IntegrityError(f"{path.name}: not a readable .skops file ({exc})") from None
    if len(members) > MAX_MEMBERS or sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
        raise IntegrityError(f"{path.name}: unpacks to more than {MAX_MEMBERS} files or "
                             f"{MAX_UNPACKED_BYTES // 1024**3} GiB; refusing to load it")
