"""Where unpacking may write: paths under an output root whose folder resolves inside it."""

from __future__ import annotations

from pathlib import Path

from modelpack.errors import UnsafePathError


def inside(root: Path, rel: str) -> Path:
    """`root / rel`, checked once (see `Confined`).

    Raises:
        UnsafePathError: its folder resolves outside `root`.
    """
    return Confined(root).place(rel)


class Confined:
    """Paths under `root` whose folder resolves inside it: a symlink planted by an earlier tar layer
    must not redirect a later file outside the root. Each folder is resolved once (a 2,000-file pull
    resolved 4,000 paths, component by component); only an archive layer can plant a symlink, so
    `forget` after each one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._real_root = root.resolve()
        self._checked: set[Path] = set()

    def place(self, rel: str) -> Path:
        target = self.root / rel
        folder = target.parent
        if folder not in self._checked:
            real = folder.resolve()
            if real != self._real_root and self._real_root not in real.parents:
                raise UnsafePathError(f"refused path {rel!r}: it leads outside the output directory")
            self._checked.add(folder)
        return target

    def forget(self) -> None:
        self._checked.clear()
