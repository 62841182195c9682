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

from modelpack.advice import Wording, compose, setting
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
            raise UsageError(compose("more than {} {} patterns", str(MAX_PATTERNS),
                                     setting("include/exclude", "--include/--exclude")))
        for option, patterns in (("include", selection.include), ("exclude", selection.exclude)):
            for pattern in patterns:
                _check_pattern(option, pattern)
        for kind in selection.kinds:
            if kind not in mt.KINDS:
                raise UsageError(compose("{}: expected one of {}", setting(f"kinds entry {kind!r}", f"--kind {kind!r}"),
                                         ", ".join(mt.KINDS)))
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
        return self.wording().cli

    def wording(self) -> Wording:
        """The selection as each audience gives it: `include=['*.gguf']`, `--include '*.gguf'`."""
        api = [f"{name}={list(values)!r}" for name, values in
               (("include", self.include), ("exclude", self.exclude), ("kinds", self.kinds)) if values]
        cli = [f"--include {p!r}" for p in self.include] + [f"--exclude {p!r}" for p in self.exclude]
        cli += [f"--kind {k}" for k in self.kinds]
        return Wording(f"the selection {', '.join(api)}" if api else "(everything)", " ".join(cli) or "(everything)")

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
        raise UsageError(compose("{} matches none of the {} layers of {} ({}); nothing was fetched",
                                 self.wording(), str(len(layers)), where, shown))


def _takes(pattern: str, path: str, folder: bool) -> bool:
    """Whether `pattern` takes the layer at `path`. A folder packed as one archive layer is also taken by
    a pattern for everything below it (`sub/**`, `sub/*`: they match the folder's path plus "/"), the
    way a user who sees the folder `sub` on disk writes it; its members are not listed in the manifest."""
    return matches(pattern, path) or (folder and matches(pattern, path + "/"))


def _check_pattern(option: str, pattern: str) -> None:
    given = setting(f"{option} pattern {pattern!r}", f"--{option} {pattern!r}")
    if not pattern.strip() or "\0" in pattern:
        raise UsageError(compose("{}: an empty pattern (or one with NUL) matches nothing", given))
    if ".." in pattern.replace("\\", "/").split("/"):
        raise UsageError(compose("{}: patterns match paths inside the model; '..' never does", given))


__all__ = ["LayerSelection"]
