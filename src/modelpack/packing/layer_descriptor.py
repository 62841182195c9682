"""A layer's descriptor as pack writes it: its media type, and the annotations naming its path and the file
(or folder) it holds (`org.cncf.model.filepath`, the file metadata, the title); the mtime a tar layer's
entries are given."""

from __future__ import annotations

import json
from datetime import datetime

from modelpack.metadata.mapping import rfc3339
from modelpack.oci import mediatypes as mt
from modelpack.oci.descriptor import Descriptor
from modelpack.packing.select import LayerSource

TYPEFLAG_REG = ord("0")
TYPEFLAG_DIR = ord("5")


def layer_descriptor(source: LayerSource, packing: mt.Packing, digest: str, size: int, epoch: int | None,
                     oras_digest: str) -> Descriptor:
    """A layer's descriptor; `oras_digest` (the tar's digest up to its end-of-archive blocks) is recorded
    for a gzipped folder only."""
    annotations = layer_annotations(source, epoch)
    if source.archive and packing == "tar+gzip":
        # A folder oras pull unpacks as the folder (it reads only gzip); a plain tar stays one file there.
        annotations.update({mt.A_ORAS_UNPACK: "true", mt.A_ORAS_DIGEST: oras_digest})
    return Descriptor(mediaType=mt.layer_media_type(source.kind, packing), digest=digest, size=size,
                      annotations=annotations)


def layer_mtime(source: LayerSource) -> int:
    """The modification time a layer records: its file's, or for a folder the newest of all in it."""
    return max(f.mtime for f in source.files)


def tar_mtime(source: LayerSource, epoch: int | None) -> int:
    """The mtime of every entry of a tar layer: SOURCE_DATE_EPOCH when set, else the layer's own recorded
    mtime. Not the model's `created`: that is the newest file of the whole model, so touching one weight
    file changed every archive's bytes and a new version uploaded them all again. A pull stamps the
    files with the layer's recorded mtime (unpacking._stamp_archive), so the pulled folder packs the same."""
    return epoch if epoch is not None else layer_mtime(source)


def layer_annotations(source: LayerSource, epoch: int | None) -> dict[str, str]:
    """The annotations of a layer holding `source`.

    Args:
        source: the file, or the folder packed as one archive.
        epoch: SOURCE_DATE_EPOCH when set: the recorded mtime is clamped to it.

    Returns:
        Its path (filepath and title), its file metadata (name, mode, size, mtime, typeflag) and, when its
        media type was guessed, the annotation saying so.
    """
    head = source.files[0]
    mtime = layer_mtime(source)
    if source.archive:
        # The folder itself: a directory entry, as modctl and the spec's typeflag describe it.
        mode, size, typeflag = 0o755, 0, TYPEFLAG_DIR
    else:
        mode, size, typeflag = head.mode, head.size, TYPEFLAG_REG
    if epoch is not None:
        mtime = min(mtime, epoch)  # clamp, as reproducible-builds.org specifies
    file_meta = {
        "name": source.relpath.rsplit("/", 1)[-1],
        "mode": mode,
        "uid": 0,
        "gid": 0,
        "size": size,
        "mtime": rfc3339(datetime.fromtimestamp(mtime).astimezone()),
        "typeflag": typeflag,
    }
    annotations = {
        mt.A_FILEPATH: source.relpath,
        mt.A_FILE_METADATA: json.dumps(file_meta, separators=(",", ":")),
        mt.A_TITLE: source.relpath,
    }
    if not source.certain:
        annotations[mt.A_MEDIATYPE_UNTESTED] = "true"
    return annotations
