"""The serving layers `build-image` puts on a Python base image: `modelpack[serve]`'s requirements
installed for the base's platform and Python (cached in the local store by platform, Python, modelpack
version and requirements, so a second build reuses it), and modelpack itself with a launcher, under
/opt/modelpack. With them come the settings that make `modelpack serve /models` run: PATH, PYTHONPATH, a
non-root user, and labels recording all of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from modelpack.compression import compressed
from modelpack.errors import ModelpackError
from modelpack.image import pip_target
from modelpack.image.base_python import BasePython, python_of
from modelpack.oci.descriptor import Descriptor
from modelpack.packing.select import SourceFile
from modelpack.packing.tarball import tar_chunks
from modelpack.store.layout_files import read_regular
from modelpack.version import __version__

ROOT = "opt/modelpack"
LIB = f"/{ROOT}/lib"
BIN = f"/{ROOT}/bin"
USER = "10001:10001"
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LABEL = "io.modelpack.serve."
_CACHE_FORMAT = 1
# A cache entry's notes (layer.json, the packages installed) are a few hundred bytes; read no further, and
# only from a regular file: anything else there (a FIFO hung build-image) is no entry, and is rebuilt.
_MAX_NOTE_BYTES = 1 << 20


@dataclass(frozen=True)
class AppendedLayer:
    """A layer written to a file, to append to an image.

    Attributes:
        descriptor: the (compressed) blob.
        diff_id: the digest of its uncompressed tar.
        created_by: for the image's history.
        path: the blob's file.
    """

    descriptor: Descriptor
    diff_id: str
    created_by: str
    path: Path

    def open(self) -> BinaryIO:
        """The blob's bytes."""
        return self.path.open("rb")


@dataclass
class ServingSetup:
    """What a serving image adds to its base: layers, environment, user, labels.

    Attributes:
        layers: appended after the base's layers, before the model's.
        env: `KEY=VALUE` entries replacing the base's of the same key.
        user: the config's User.
        labels: recorded in the config.
    """

    layers: list[AppendedLayer]
    env: list[str]
    user: str
    labels: dict[str, str] = field(default_factory=dict)


def serving_setup(config: dict[str, Any], base_layers: list[Descriptor], open_layer: Callable[[Descriptor], Any],
                  base_name: str, cache_dir: Path, announce: Callable[[str], None] | None = None) -> ServingSetup:
    """The serving layers and settings for one platform image of a base.

    Args:
        config: the base image's checked config.
        base_layers: its layers.
        open_layer: the bytes of one base layer (read only when the config does not name the Python).
        base_name: the base image, for messages.
        cache_dir: where requirement layers are kept between builds.
        announce: told, in one line, before pip installs what the cache lacks (it can take a minute).

    Returns:
        The layers (requirements, then modelpack) and the settings.

    Raises:
        UsageError: the base has no Python 3, or is a musl image.
        ModelpackError: an architecture without manylinux wheels, or pip failed.
    """
    python = python_of(config, base_layers, open_layer, base_name)
    platform = pip_target.wheel_platform(str(config.get("architecture")))
    packages = pip_target.requirements(python.version)
    deps = _requirements_layer(cache_dir, python, platform, packages, announce)
    own = _modelpack_layer(cache_dir, python)
    base_env = dict(entry.split("=", 1) for entry in (config.get("config") or {}).get("Env") or [] if "=" in entry)
    path = base_env.get("PATH") or DEFAULT_PATH
    env = [f"PATH={BIN}:{path}" if BIN not in path.split(":") else f"PATH={path}", f"PYTHONPATH={LIB}",
           "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"]
    labels = {
        f"{LABEL}version": __version__,
        f"{LABEL}python": python.version,
        f"{LABEL}python.interpreter": python.interpreter,
        f"{LABEL}python.found-by": python.found_by,
        f"{LABEL}platform": platform,
        f"{LABEL}pythonpath": LIB,
        f"{LABEL}user": USER,
        f"{LABEL}requirements": ", ".join(packages),
        f"{LABEL}installed": _installed_summary(deps.path.with_name("installed.json")),
    }
    return ServingSetup([deps, own], env, USER, labels)


def _requirements_layer(cache_dir: Path, python: BasePython, platform: str, packages: list[str],
                        announce: Callable[[str], None] | None) -> AppendedLayer:
    """The installed requirements as a layer, from the cache or built (and then cached)."""
    key_doc = {"format": _CACHE_FORMAT, "python": python.version, "platform": platform, "modelpack": __version__,
               "requirements": packages, "compiled": _same_python(python)}
    key = hashlib.sha256(json.dumps(key_doc, sort_keys=True).encode()).hexdigest()[:32]
    entry = cache_dir / key
    cached = _load(entry)
    if cached is not None:
        return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    if announce is not None:  # a first build waits on pip for up to a minute: say so, not nothing
        announce(f"installing {len(packages)} serving packages for Python {python.version} on {platform} "
                 "with pip (once: later builds take them from the local store's cache)")
    work = Path(tempfile.mkdtemp(prefix=".building-", dir=cache_dir))
    try:
        target = work / "lib"
        target.mkdir()
        pip_target.install(target, python.version, platform, packages)
        pip_target.compile_for(target, python.version, LIB)
        (work / "installed.json").write_text(json.dumps(_installed(target)))
        created_by = f"modelpack build-image: pip install --platform {platform} --python-version {python.version} " \
                     f"{' '.join(packages)}"
        _write_layer(work / "layer.tar.gz", _tree(target, f"{ROOT}/lib"), created_by)
        (work / "key.json").write_text(json.dumps(key_doc, sort_keys=True))
        shutil.rmtree(target)
        return _keep(work, entry)  # a concurrent build that got there first wins, this one is dropped
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def _modelpack_layer(cache_dir: Path, python: BasePython) -> AppendedLayer:
    """modelpack's own files and its launcher, built on every run (small; the same files give the same digest)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".self-", dir=cache_dir))
    target = work / "lib"
    target.mkdir()
    pip_target.copy_self(target)
    pip_target.compile_for(target, python.version, LIB)
    launcher = work / "modelpack"
    launcher.write_text(f"#!{python.interpreter}\n# modelpack's CLI, installed by modelpack build-image\n"
                        f"import sys\nsys.path.insert(0, {LIB!r})\nfrom modelpack.cli.entry import main\n"
                        "sys.exit(main())\n")
    launcher.chmod(0o755)
    files = [*_tree(target, f"{ROOT}/lib"), SourceFile(f"{ROOT}/bin", work, 0o755, 0, 0, is_dir=True),
             SourceFile(f"{ROOT}/bin/modelpack", launcher, 0o755, launcher.stat().st_size, 0)]
    files.sort(key=lambda f: f.relpath)
    layer_dir = Path(tempfile.mkdtemp(prefix=".self-layer-", dir=cache_dir))
    try:
        layer = _write_layer(layer_dir / "layer.tar.gz", files, f"modelpack build-image: modelpack {__version__}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _keep(layer_dir, cache_dir / f"self-{layer.descriptor.digest.split(':')[1][:32]}")


def _keep(made: Path, entry: Path) -> AppendedLayer:
    """Move a layer just made into the cache as `entry` (atomic rename; when another build put it there
    first, this copy is dropped) and read it back from there.

    Raises:
        OSError: the cached layer cannot be read back.
    """
    try:
        made.rename(entry)
    except OSError:
        shutil.rmtree(made, ignore_errors=True)
    loaded = _load(entry)
    if loaded is None:
        raise OSError(f"the serving layer cache {entry} could not be read back")
    return loaded


def _tree(root: Path, prefix: str) -> list[SourceFile]:
    """Every folder and regular file under `root` as tar members named under `prefix`, sorted, readable by
    all (the image runs as a non-root user); symbolic links are followed."""
    files = [SourceFile(prefix, root, 0o755, 0, 0, is_dir=True)]
    for folder, dirs, names in os.walk(root):
        rel = Path(folder).relative_to(root).as_posix()
        base = prefix if rel == "." else f"{prefix}/{rel}"
        for name in dirs:
            files.append(SourceFile(f"{base}/{name}", Path(folder) / name, 0o755, 0, 0, is_dir=True))
        for name in names:
            path = Path(folder) / name
            stat = path.stat()
            mode = 0o755 if stat.st_mode & 0o111 else 0o644
            files.append(SourceFile(f"{base}/{name}", path.resolve(), mode, stat.st_size, 0))
    return sorted(files, key=lambda f: f.relpath)


def _write_layer(path: Path, files: Iterable[SourceFile], created_by: str) -> AppendedLayer:
    """A gzip-compressed reproducible tar of `files`, written to `path`, with its digests."""
    raw = hashlib.sha256()
    packed = hashlib.sha256()
    size = 0

    def hashed(chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            raw.update(chunk)
            yield chunk

    with path.open("wb") as out:
        for chunk in compressed(hashed(tar_chunks(files, 0)), "gzip"):
            packed.update(chunk)
            size += len(chunk)
            out.write(chunk)
    layer = AppendedLayer(Descriptor(mediaType=GZIP_LAYER, digest=f"sha256:{packed.hexdigest()}", size=size),
                          f"sha256:{raw.hexdigest()}", created_by, path)
    path.with_name("layer.json").write_text(json.dumps({
        "digest": layer.descriptor.digest, "size": size, "diff_id": layer.diff_id, "created_by": created_by}))
    return layer


def _load(entry: Path) -> AppendedLayer | None:
    """A cached layer, or None when absent or not whole (its size is checked; the digest is checked by
    the registry when the blob is pushed)."""
    try:
        doc = json.loads(read_regular(entry / "layer.json", _MAX_NOTE_BYTES, "a cached layer's note"))
        path = entry / "layer.tar.gz"
        if path.stat().st_size != doc["size"]:
            return None
        return AppendedLayer(Descriptor(mediaType=GZIP_LAYER, digest=doc["digest"], size=doc["size"]),
                             doc["diff_id"], doc["created_by"], path)
    except (OSError, ValueError, KeyError, TypeError, ModelpackError):
        return None


def _installed(target: Path) -> list[str]:
    """`name==version` of every distribution pip installed into `target`."""
    found = []
    for info in sorted(target.glob("*.dist-info")):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        found.append(f"{name}=={version}")
    return found


def _installed_summary(path: Path) -> str:
    try:
        return ", ".join(json.loads(read_regular(path, _MAX_NOTE_BYTES, "a cached layer's note")))
    except (OSError, ValueError, TypeError, ModelpackError):
        return ""


def _same_python(python: BasePython) -> bool:
    return f"{sys.version_info.major}.{sys.version_info.minor}" == python.version
