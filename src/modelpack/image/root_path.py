"""Where an entry of an image layer lands once the links among its parent folders are followed, as a container
runtime places it: containerd resolves each entry's parent folder through the image's symbolic links, bounded
to the image's root (fs.RootPath), and Docker and CRI-O unpack inside a chroot, where the kernel does the
same. A layer's `data/evil.pkl`, below a link `data -> /models`, is written to `/models/evil.pkl`.
"""

from __future__ import annotations

from collections.abc import Mapping

MAX_HOPS = 40  # links followed for one path, as Linux's MAXSYMLINKS: past it the runtime fails (ELOOP)


def landing(path: str, links: Mapping[str, str]) -> str | None:
    """Where the entry named `path` is written, its parent folders resolved through `links`.

    Args:
        path: the entry's name, relative to the root and normalized (`data/evil.pkl`).
        links: each symbolic link's path (as `path`) and its target as written (absolute targets start at
            the image's root; `..` stops there).

    Returns:
        The path it lands at, relative to the root; None when resolving it follows more than MAX_HOPS links.
    """
    parent, _, base = path.rpartition("/")
    if not links or not parent:
        return path
    pending, hops = parent.split("/"), 0
    resolved: list[str] = []
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        target = links.get("/".join((*resolved, part)))
        if target is None:
            resolved.append(part)
            continue
        hops += 1
        if hops > MAX_HOPS:
            return None
        if target.startswith("/"):
            resolved = []
        pending = target.split("/") + pending
    return "/".join((*resolved, base))
