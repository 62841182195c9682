"""Restore a model's files from the local store into a directory, safely and atomically.

Every path comes from an untrusted artifact: absolute paths, `..` and links that would leave the
output directory are refused. Files are assembled in a temporary directory beside the output and
renamed into place only when all of them are written, so a refused or interrupted unpack leaves
nothing behind.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from modelpack.errors import UnsafePathError, UnsupportedArtifactError, UsageError
from modelpack.formats import default_name, is_foreign_archive
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor, Manifest
from modelpack.streams import ByteStream

CHUNK = 1024 * 1024


def layer_path(layer: Descriptor) -> str | None:
    """The relative path a layer restores to: model-spec's filepath, else the OCI title (oras), else
    the name another tool's format implies (Docker model artifacts)."""
    return layer.annotation(mt.A_FILEPATH, mt.LEGACY_A_FILEPATH, mt.A_TITLE) or default_name(layer.media_type)


def layer_is_archive(layer: Descriptor) -> bool:
    parsed = mt.parse_layer_media_type(layer.media_type)
    if parsed is not None:
        return parsed[1] != "raw"
    if is_foreign_archive(layer.media_type):
        return True
    # oras CLI: a directory pushed as a tar+gzip layer it marks for unpacking.
    return layer.annotation(mt.A_ORAS_UNPACK) == "true"


def safe_relpath(path: str) -> str:
    """Normalise an artifact path, refusing anything that is not plainly inside the output directory."""
    if not path or "\0" in path:
        raise UnsafePathError(f"refused path {path!r}: empty or contains NUL")
    if path.startswith(("/", "\\")):
        raise UnsafePathError(f"refused absolute path {path!r}")
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if any(part == ".." for part in parts):
        raise UnsafePathError(f"refused path {path!r}: it climbs out with '..'")
    clean = [p for p in parts if p not in (".", "")]
    if not clean:
        raise UnsafePathError(f"refused path {path!r}: it names the output directory itself")
    if len(clean[0]) >= 2 and clean[0][1] == ":" and clean[0][0].isascii() and clean[0][0].isalpha():
        raise UnsafePathError(f"refused path {path!r}: it names a drive")
    if any(_is_git_dir(part) for part in clean):
        raise UnsafePathError(f"refused path {path!r}: a .git folder's hooks would run on the next git command")
    return "/".join(clean)


def _is_git_dir(part: str) -> bool:
    """What git's own checkout refuses (verify_dotfile): `.git` in any case, also with the trailing dots
    or spaces Windows drops, and its 8.3 short name `git~1`."""
    name = part.rstrip(". ").lower()
    return name in (".git", "git~1")


class BlobSource(Protocol):
    def open_blob(self, desc: Descriptor) -> ByteStream: ...

    def linkable_path(self, desc: Descriptor) -> Path | None:
        """A verified file holding the blob, which output files may hard-link to; None to copy."""
        ...


def unpack_manifest(manifest: Manifest, blobs: BlobSource, output: Path) -> list[str]:
    """Write every layer of `manifest` under `output` (which must not exist, or be empty). Returns paths.

    Files are hard links to the store's blobs where that is safe (same filesystem, and no other link
    with different permissions shares the blob), so a pull writes each byte to disk once; otherwise
    they are copied. The store re-verifies a blob before handing it out for linking."""
    output = output.absolute()
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UsageError(f"output directory {output} exists and is not empty")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.partial-"))
    written: list[str] = []
    try:
        seen: set[str] = set()
        for layer in manifest.layers:
            if layer_is_archive(layer):  # entries carry their own paths, relative to the model root
                written.extend(_extract_archive(layer, blobs.open_blob, staging))
                continue
            raw_path = layer_path(layer)
            if raw_path is None:
                raise UnsupportedArtifactError(f"layer {layer.digest} names no file path; cannot unpack it")
            rel = safe_relpath(raw_path)
            if rel in seen:
                raise UnsafePathError(f"refused artifact: two layers write {rel!r}")
            seen.add(rel)
            _write_file(layer, rel, blobs, staging)
            written.append(rel)
        os.chmod(staging, 0o755)
        if output.exists():
            output.rmdir()
        os.rename(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return written


def _inside(root: Path, rel: str) -> Path:
    target = root / rel
    # A symlink planted by an earlier tar layer must not redirect a later file outside the root.
    parent = target.parent.resolve()
    if parent != root.resolve() and root.resolve() not in parent.parents:
        raise UnsafePathError(f"refused path {rel!r}: it leads outside the output directory")
    return target


def _write_file(layer: Descriptor, rel: str, blobs: BlobSource, root: Path) -> None:
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target = _inside(root, rel)
    if target.is_symlink() or target.exists():
        raise UnsafePathError(f"refused artifact: {rel!r} is written twice")
    meta = _file_metadata(layer)
    mode = (int(meta["mode"]) & 0o777) if isinstance(meta.get("mode"), int) else 0o644
    stamp = _timestamp(meta.get("mtime"))
    source = blobs.linkable_path(layer)
    if source is not None and _link(source, target, mode, stamp):
        return
    if source is not None:
        shutil.copyfile(source, target)  # sendfile(2): no trip through Python
    else:
        with blobs.open_blob(layer) as src, open(target, "xb") as out:
            shutil.copyfileobj(src, out, CHUNK)
    _set_attributes(target, mode, stamp)


def _link(source: Path, target: Path, mode: int, stamp: float | None) -> bool:
    """Hard-link `target` to `source` unless another link already shares it with other attributes
    (two models holding the same bytes with different modes must not change each other's files)."""
    try:
        st = os.stat(source)
        same_mtime = stamp is None or int(st.st_mtime) == int(stamp)
        if st.st_nlink > 1 and (stat.S_IMODE(st.st_mode) != mode or not same_mtime):
            return False
        os.link(source, target)
    except OSError:  # another filesystem, or links not allowed: copy instead
        return False
    _set_attributes(target, mode, stamp)
    return True


def _set_attributes(target: Path, mode: int, stamp: float | None) -> None:
    os.chmod(target, mode)
    if stamp is not None:
        with contextlib.suppress(OSError, OverflowError):
            os.utime(target, (stamp, stamp))


def _timestamp(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError):
        return None


def _file_metadata(layer: Descriptor) -> dict:
    text = layer.annotation(mt.A_FILE_METADATA, mt.LEGACY_A_FILE_METADATA)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _extract_archive(layer: Descriptor, open_blob: Callable[[Descriptor], ByteStream], root: Path) -> list[str]:
    parsed = mt.parse_layer_media_type(layer.media_type)
    packing = parsed[1] if parsed else ("tar+gzip" if "gzip" in layer.media_type else "tar")
    if packing == "tar+zstd":
        raise UnsupportedArtifactError(f"layer {layer.digest} is zstd-compressed, which modelpack cannot read yet")
    names: list[str] = []
    with open_blob(layer) as blob:
        stream: Any = gzip.GzipFile(fileobj=blob) if packing == "tar+gzip" else blob
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                rel = safe_relpath(member.name)
                if member.issym() or member.islnk():
                    raise UnsafePathError(f"refused archive entry {rel!r}: links are not unpacked")
                if not (member.isfile() or member.isdir()):
                    raise UnsafePathError(f"refused archive entry {rel!r}: not a regular file or folder")
                _inside(root, rel)
                # filter="data" also refuses absolute names and escapes, and drops setuid bits.
                try:
                    tar.extract(member, root, filter="data")
                except tarfile.FilterError as exc:
                    raise UnsafePathError(f"refused archive entry {rel!r}: {exc}") from None
                if member.isfile():
                    names.append(rel)
    return names
