"""A deferred import for a module a dependency imports eagerly but we never use on the hot path.

oras-py imports jsonschema when it is imported (~25 ms, a sixth of our start-up) for a manifest check
we never ask it for. Until something touches an attribute of it, `jsonschema` is a stand-in module;
the first attribute access imports the real one and replaces the stand-in everywhere it can. (The
standard library's LazyLoader cannot do this on Python 3.11: a plain `import` statement reads the
module's `__spec__`, which loads it.)
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

DEFERRED = ("jsonschema",)


class _Deferred(types.ModuleType):
    def __getattr__(self, attribute: str) -> Any:
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        real = importlib.import_module(name)
        return getattr(real, attribute)


def defer(*names: str) -> None:
    for name in names:
        if name not in sys.modules and importlib.util.find_spec(name) is not None:
            sys.modules[name] = _Deferred(name)
