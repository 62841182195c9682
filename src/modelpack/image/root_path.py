"""Where an entry of an image layer lands once the links among its parent folders are followed, as a container
runtime places it: containerd resolves each entry's parent folder through the image's symbolic links, bounded
to the image's root (fs.RootPath), and Docker and CRI-O unpack inside a chroot, where the kernel does the
same. A layer's `data/evil.pkl`, below a link `data -> /models`, is written to `/models/evil.pkl`.

Which links stand when an entry is written depends on the layers' order, on whiteouts and on entries that
replace a link: rather than replay that, every place an entry could land is found, each link taken as any
target it was ever given, or as no link at all (a folder made where a link was removed).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

MAX_HOPS = 40  # links followed for one path, as Linux's MAXSYMLINKS: past it the runtime fails (ELOOP)
MAX_WAYS = 100_000  # ways explored for one image's paths: a path below a few links of one target each takes ~4


class Ways:
    """What is left of the ways of resolving paths one image's check may explore (a hostile image's links,
    each given many targets, would make them multiply)."""

    def __init__(self, left: int = MAX_WAYS) -> None:
        self.left = left


def landings(path: str, links: Mapping[str, Collection[str]], ways_left: Ways) -> set[str] | None:
    """Every place the entry named `path` may be written, its parent folders resolved through `links`.

    Args:
        path: the entry's name, relative to the root and normalized (`data/evil.pkl`).
        links: each symbolic link's path (as `path`) and every target it was written with (absolute targets
            start at the image's root; `..` stops there).
        ways_left: the ways still to be explored, shared by the image's paths (spent here).

    Returns:
        The paths it may land at, relative to the root; None when a way of resolving it follows more than
        MAX_HOPS links, or `ways_left` runs out (for the caller to count it as landing anywhere).
    """
    parent, _, base = path.rpartition("/")
    if not links or not parent:
        return {path}
    found: set[str] = set()
    ways: list[tuple[tuple[str, ...], tuple[str, ...], int]] = [((), tuple(parent.split("/")), 0)]
    seen = set(ways)
    while ways:
        resolved, pending, hops = ways.pop()
        while pending:
            part, pending = pending[0], pending[1:]
            if part in ("", "."):
                continue
            if part == "..":
                resolved = resolved[:-1]
                continue
            for target in links.get("/".join((*resolved, part)), ()):
                way = (() if target.startswith("/") else resolved, (*target.split("/"), *pending), hops + 1)
                if hops + 1 > MAX_HOPS or ways_left.left <= 0:
                    return None
                if way not in seen:
                    seen.add(way)
                    ways.append(way)
                    ways_left.left -= 1
            resolved = (*resolved, part)  # the way where it is a folder, no link
        found.add("/".join((*resolved, base)))
    return found
