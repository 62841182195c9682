"""Whether a modelcar's base has the shell KServe runs in it.

KServe starts a modelcar twice, both times with `args` only (no `command`): an init container with
`sh -c "[ -d /models ] ... ls -A /models ..."` and the sidecar with `sh -c "ln -sf /proc/$$/root/models
/mnt/models && sleep infinity"`, which keeps the pod's model mounted. A base without `sh` (distroless,
scratch) gives a pod whose containers fail to start, so such a base is refused when the modelcar is built.
The layers' tar listings are read (names only, whiteouts applied); nothing is unpacked.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable
from typing import Any

from modelpack.errors import UsageError
from modelpack.oci.descriptor import Descriptor

SHELL_BASE_HINT = "docker.io/library/busybox:1.36 (the default: drop --base), or any base with sh, ln and sleep"
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
MAX_PATH_FOLDERS = 32  # a config's PATH is the registry's: only so many folders are looked in


def shell_paths(config: dict[str, Any]) -> set[str]:
    """Where `sh` is looked up: each folder of the config's PATH, and /bin and /usr/bin (runtimes add those
    when no PATH is set; merged-/usr images list `usr/bin/sh` under a `bin` symlink)."""
    folders = ["/bin", "/usr/bin"]
    for entry in (config.get("config") or {}).get("Env") or []:
        if isinstance(entry, str) and entry.startswith("PATH="):
            folders += [f for f in entry[5:].split(":") if f.startswith("/") and len(f) <= 256]
    return {posixpath.normpath(posixpath.join(f, "sh")).lstrip("/") for f in folders[:2 + MAX_PATH_FOLDERS]}


def require_shell(config: dict[str, Any], layers: Iterable[Descriptor], open_layer: Callable[[Descriptor], Any],
                  image: object) -> None:
    """Refuse a modelcar base in which KServe's `sh -c ...` finds no `sh`.

    Args:
        config: the base image's (checked) config.
        layers: its layers, base first.
        open_layer: a readable stream of one layer's bytes (as stored, possibly compressed).
        image: the base image, for the message.

    Raises:
        UsageError: no `sh` on the base's PATH (exit 2).
        IntegrityError: a layer that is not a readable tar (exit 6).
    """
    from modelpack.image.base_python import member_names

    wanted = shell_paths(config)
    present: set[str] = set()
    for layer in layers:
        added: set[str] = set()
        removed: set[str] = set()
        for raw in member_names(open_layer(layer), layer.media_type):
            name = posixpath.normpath("/" + raw).lstrip("/")
            folder, base = posixpath.split(name)
            if base == _OPAQUE:  # the folder's lower-layer content is gone
                removed |= {p for p in present if p.startswith(folder + "/")}
            elif base.startswith(_WHITEOUT):
                gone = posixpath.join(folder, base[len(_WHITEOUT):])
                removed |= {p for p in present if p == gone or p.startswith(gone + "/")}
            elif name in wanted:
                added.add(name)
        present = (present - removed) | added
    if not present:
        raise UsageError(f"--base {image} has no shell (no sh in {', '.join('/' + p for p in sorted(wanted))}): "
                         "KServe runs a modelcar as `sh -c \"ln -sf ... /mnt/models && sleep infinity\"`; use "
                         f"{SHELL_BASE_HINT}")
