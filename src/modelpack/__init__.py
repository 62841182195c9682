"""modelpack: ML models as CNCF ModelPack OCI artifacts.

The public API (`pack`, `push`, `pull`, `unpack`, `inspect`, `list_models`, `tag`, `remove`, `login`,
`logout`, ..., and `Client`) lives in `modelpack.api` and is re-exported here lazily, so importing the
package is cheap; `modelpack.public` lists every public name once.
"""

from __future__ import annotations

from modelpack.public import API_NAMES, OTHER_NAMES
from modelpack.version import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: `python -m modelpack` imports this
if TYPE_CHECKING:  # package before the command's entry point can catch a Ctrl-C (modelpack.cli.entry)
    from typing import Any
del TYPE_CHECKING  # not a name of the package's

__all__ = [*API_NAMES, *OTHER_NAMES, "__version__"]


def __getattr__(name: str) -> Any:
    # Imported on first use: `import modelpack` stays cheap for commands that need little of it.
    if name in API_NAMES:
        from modelpack import api

        return getattr(api, name)
    if name in OTHER_NAMES:
        import importlib

        return getattr(importlib.import_module(OTHER_NAMES[name]), name)
    raise AttributeError(f"module 'modelpack' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
