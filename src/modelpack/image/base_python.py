"""Which Python a base image runs, so the serving layer is installed for it: read from the config's
`PYTHON_VERSION` (the official `python` images set it), else from the layers' tar listings (the standard
library's `usr/lib/python3.N/os.py` or `usr/local/lib/python3.N/os.py`, the interpreter `usr/bin/python3.N`).

Layers are streamed and only their member names are read; nothing is unpacked.
"""

from __future__ import annotations

import re
import tarfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import zstandard

from modelpack.advice import ANOTHER_BASE, BASE, compose, setting
from modelpack.compression import decompressing
from modelpack.errors import IntegrityError, UsageError
from modelpack.oci.descriptor import Descriptor

_STDLIB = re.compile(r"^(?:\./)?(usr/(?:local/)?lib)/python(3\.\d{1,2})/os\.py$")
_INTERPRETER = re.compile(r"^(?:\./)?(usr/(?:local/)?bin/python(3\.\d{1,2}))$")
_MUSL = re.compile(r"^(?:\./)?lib/ld-musl-")
_ENV_VERSION = re.compile(r"^PYTHON_VERSION=(3\.\d{1,2})(?:\.\d+)?\S*$")
# Docker's and OCI's layer media types, by how they are compressed.
_PACKING = {"gzip": "tar+gzip", "zstd": "tar+zstd"}


@dataclass(frozen=True)
class BasePython:
    """The base image's Python.

    Attributes:
        version: `3.N`, what pip installs wheels for.
        interpreter: its absolute path in the image, e.g. `/usr/bin/python3.11`.
        found_by: how it was found (`env PYTHON_VERSION` or `layers`), recorded in a label.
    """

    version: str
    interpreter: str
    found_by: str


def python_of(config: dict[str, Any], layers: Iterable[Descriptor], open_layer: Callable[[Descriptor], Any],
              image: str) -> BasePython:
    """The Python of a base image.

    Args:
        config: the base image's (checked) config.
        layers: its layers, base first.
        open_layer: a readable stream of one layer's bytes (as stored, possibly compressed).
        image: the base image, for the message.

    Returns:
        Its version and interpreter path.

    Raises:
        UsageError: no Python 3 found, or a musl (Alpine) base, for which the serving layer's wheels are
            not made (exit 2).
        IntegrityError: a layer that is not a readable tar (exit 6).
    """
    for entry in (config.get("config") or {}).get("Env") or []:
        if match := _ENV_VERSION.match(entry):
            # The official images: /usr/local/bin/python3.N (their Debian variants; Alpine is refused below
            # only when the layers are read, so say it here by name too).
            return BasePython(match.group(1), f"/usr/local/bin/python{match.group(1)}", "env PYTHON_VERSION")
    stdlib: str | None = None
    interpreters: dict[str, str] = {}
    musl = False
    for layer in layers:
        for name in member_names(open_layer(layer), layer.media_type):
            if match := _STDLIB.match(name):
                stdlib = match.group(2)
            elif match := _INTERPRETER.match(name):
                interpreters[match.group(2)] = "/" + match.group(1)
            elif _MUSL.match(name):
                musl = True
    if musl:
        raise UsageError(compose("{} {} is a musl (Alpine) image: the serving layer installs manylinux wheels; use "
                                 "a Debian-based Python image such as python:3.11-slim", BASE, str(image)))
    if stdlib is None or stdlib not in interpreters:
        raise UsageError(compose("{} {} has no Python 3 (no usr/lib/python3.N or usr/local/lib/python3.N with its "
                                 "interpreter)", BASE, str(image)), advice=compose(
                             "use a base with python3, or {} if it already runs `modelpack serve`",
                             setting("serving_layer=False", "--no-serving-layer")))
    return BasePython(stdlib, interpreters[stdlib], "layers")


def member_names(stream: Any, media_type: str) -> Iterable[str]:
    """The member names of one layer's tar, read as a stream: the registry's, so its metadata records are
    bounded and a sparse map refused as a model's are (`_BoundedTarInfo`), and no header is kept once read."""
    from modelpack.archives import _BoundedTarInfo

    packing = next((p for suffix, p in _PACKING.items() if media_type.endswith(suffix)), "tar")
    try:
        with stream, tarfile.open(fileobj=decompressing(stream, packing), mode="r|", tarinfo=_BoundedTarInfo) as tar:
            for member in tar:
                tar.members.clear()  # type: ignore[attr-defined]  # (tarfile keeps every header it read)
                yield member.name
    except (tarfile.TarError, EOFError, OSError, zlib.error, zstandard.ZstdError) as exc:
        raise IntegrityError(f"a base image layer is not a readable {packing} ({type(exc).__name__})",
                             advice=ANOTHER_BASE) from None
    except IntegrityError as exc:
        raise IntegrityError(f"a base image layer: {exc}", advice=ANOTHER_BASE) from None
