"""Which layers of a model a partial pull or unpack takes: `--include GLOB`, `--exclude GLOB`, `--kind KIND`.

A layer is chosen by the path it restores to (model-spec's filepath, else the OCI title) and by its kind
(weight, weight.config, doc, code, dataset). Globs follow `files.include` in modelpack.yaml: `*` stays in
one path segment, `**` crosses them, a pattern without `/` matches a base name anywhere, and a pattern
naming a folder takes everything below it. A folder packed as one archive layer is taken or left whole.
The config blob is not a layer: it is always fetched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from modelpack.errors import UsageError
from modelpack.formats import layer_kind
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Manifest
from modelpack.packing.globs import matches
from modelpack.unpacking import layer_is_archive, layer_path

MAX_PATTERNS = 256  # a command line of more patterns is a mistake, and each one is tried on every layer


@dataclass(frozen=True)
class LayerSelection:
    """Include and exclude globs and kinds; the empty selection takes every layer.

    `include` and `kinds` add up, as a reader of `--include '*.json' --kind doc` ("configs and docs")
    expects and as KitOps' `--filter` does: a layer is taken when its path matches one of `include` or
    its kind is one of `kinds` (every layer when both are empty); `exclude` then leaves out what it matches.

    Args:
        include: a layer whose path matches one of these is taken.
        exclude: a layer whose path matches one of these is left out (wins over `include` and `kinds`).
        kinds: a layer of one of these kinds is taken.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    @classmethod
    def of(cls, include: Iterable[str] = (), exclude: Iterable[str] = (), kinds: Iterable[str] = ()) -> LayerSelection:
        """A checked selection.

        Raises:
            UsageError: a pattern is empty, has a NUL, climbs out with `..` (no layer path can match it),
                or a kind is not one of model-spec's; more than MAX_PATTERNS patterns.
        """
        selection = cls(tuple(include), tuple(exclude), tuple(kinds))
        if len(selection.include) + len(selection.exclude) > MAX_PATTERNS:
            raise UsageError(f"more than {MAX_PATTERNS} --include/--exclude patterns")
        for option, patterns in (("--include", selection.include), ("--exclude", selection.exclude)):
            for pattern in patterns:
                _check_pattern(option, pattern)
        for kind in selection.kinds:
            if kind not in mt.KINDS:
                raise UsageError(f"--kind {kind!r}: expected one of {', '.join(mt.KINDS)}")
        return selection

    @property
    def everything(self) -> bool:
        return not (self.include or self.exclude or self.kinds)

    def __call__(self, layer: Descriptor) -> bool:
        """Whether `layer` is taken."""
        raw = layer_path(layer)
        path = raw.replace("\\", "/").strip("/") if raw is not None else None
        folder = layer_is_archive(layer)
        if self.include or self.kinds:
            by_kind = bool(self.kinds) and layer_kind(layer.media_type) in self.kinds
            by_path = path is not None and any(_takes(p, path, folder) for p in self.include)
            if not (by_kind or by_path):
                return False
        return path is None or not any(_takes(p, path, folder) for p in self.exclude)

    def __str__(self) -> str:
        parts = [f"--include {p!r}" for p in self.include] + [f"--exclude {p!r}" for p in self.exclude]
        parts += [f"--kind {k}" for k in self.kinds]
        return " ".join(parts) or "(everything)"

    def select(self, manifest: Manifest, where: str) -> Manifest:
        """`manifest` with only the layers taken (itself when the selection takes everything).

        Raises:
            UsageError: the selection takes no layer (said before any blob is fetched).
        """
        if self.everything:
            return manifest
        layers = [layer for layer in manifest.layers if self(layer)]
        self.require_some(len(layers), manifest.layers, where)
        return manifest.replace(layers=layers)

    def require_some(self, taken: int, layers: Sequence[Descriptor], where: str) -> None:
        """Refuse a selection that takes none of `layers` (of the model named `where`).

        Raises:
            UsageError: `taken` is 0 while the model has layers.
        """
        if taken or not layers:
            return
        paths = sorted({layer_path(layer) or layer.digest[:19] for layer in layers})
        shown = ", ".join(paths[:8]) + (f", ... ({len(paths)} in all)" if len(paths) > 8 else "")
        raise UsageError(f"{self} matches none of the {len(layers)} layers of {where} ({shown}); "
                         "nothing was fetched")


def _takes(pattern: str, path: str, folder: bool) -> bool:
    """Whether `pattern` takes the layer at `path`. A folder packed as one archive layer is also taken by
    a pattern for everything below it (`sub/**`, `sub/*`: they match the folder's path plus "/"), the
    way a user who sees the folder `sub` on disk writes it; its members are not listed in the manifest."""
    return matches(pattern, path) or (folder and matches(pattern, path + "/"))


def _check_pattern(option: str, pattern: str) -> None:
    if not pattern.strip() or "\0" in pattern:
        raise UsageError(f"{option} {pattern!r}: an empty pattern (or one with NUL) matches nothing")
    if ".." in pattern.replace("\\", "/").split("/"):
        raise UsageError(f"{option} {pattern!r}: patterns match paths inside the model; '..' never does")


__all__ = ["LayerSelection"]
