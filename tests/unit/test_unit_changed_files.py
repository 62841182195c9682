"""api/changed_files: which large files of a new version differ from the version pushed from, told from
three sampled windows. Its verdicts only decide how often a file is read, so whatever it cannot tell (too
small, too many blobs of that size, a source that fails) must come out as "not changed" (hashed first)."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

from modelpack.api import changed_files as cf
from modelpack.errors import TransportError
from modelpack.oci.descriptor import Descriptor
from modelpack.packing.select import LayerSource, SourceFile

SIZE = 1024 * 1024


class _Blobs:
    """A repository serving byte ranges of blobs it holds in memory; counts the ranges asked for."""

    def __init__(self, blobs: dict[str, bytes], fail: bool = False) -> None:
        self.blobs, self.fail, self.asked = blobs, fail, 0

    def open_blob_from(self, desc: Descriptor, start: int) -> io.BytesIO:
        self.asked += 1
        if self.fail:
            raise TransportError("cut")
        return io.BytesIO(self.blobs[desc.digest][start:])


def _blob(data: bytes) -> Descriptor:
    return Descriptor(media_type="application/octet-stream", digest="sha256:" + hashlib.sha256(data).hexdigest(),
                      size=len(data))


def _source(tmp_path: Path, name: str, data: bytes) -> LayerSource:
    (tmp_path / name).write_bytes(data)
    return LayerSource(name, "weight", True, [SourceFile(name, tmp_path / name, 0o644, len(data), 0)])


def test_a_changed_file_is_told_and_an_unchanged_one_is_not(tmp_path: Path) -> None:
    old, same = os.urandom(SIZE), os.urandom(SIZE + 1)
    repo = _Blobs({_blob(old).digest: old, _blob(same).digest: same})
    changed = bytearray(old)
    changed[SIZE // 2 + 10] ^= 1  # one byte inside the middle window
    sources = [_source(tmp_path, "a", bytes(changed)), _source(tmp_path, "u", same)]
    assert cf.changed_files(repo, [_blob(old), _blob(same)], sources) == {"a"}


def test_a_change_outside_every_window_is_not_told(tmp_path: Path) -> None:
    # The windows are a sample: such a file is hashed first (and then sent), as before.
    old = os.urandom(SIZE)
    changed = bytearray(old)
    changed[10] ^= 1
    repo = _Blobs({_blob(old).digest: old})
    assert cf.changed_files(repo, [_blob(old)], [_source(tmp_path, "a", bytes(changed))]) == set()


def test_a_file_differing_from_one_blob_of_its_size_but_equal_to_another_is_not_changed(tmp_path: Path) -> None:
    one, two = os.urandom(SIZE), os.urandom(SIZE)
    repo = _Blobs({_blob(one).digest: one, _blob(two).digest: two})
    assert cf.changed_files(repo, [_blob(one), _blob(two)], [_source(tmp_path, "a", two)]) == set()


def test_what_cannot_be_told_is_not_changed_and_costs_few_requests(tmp_path: Path) -> None:
    data = os.urandom(SIZE)
    many = [os.urandom(SIZE) for _ in range(cf.MAX_BLOBS + 1)]
    repo = _Blobs({_blob(b).digest: b for b in many})
    # A manifest naming more blobs of that size than MAX_BLOBS (a hostile one may name thousands): no request.
    assert cf.changed_files(repo, [_blob(b) for b in many], [_source(tmp_path, "a", data)]) == set()
    assert repo.asked == 0
    # A file too small to sample, a source that fails, a storage that serves no ranges.
    small = os.urandom(cf.WINDOW)
    assert cf.changed_files(_Blobs({_blob(small).digest: small}), [_blob(small)],
                            [_source(tmp_path, "s", os.urandom(cf.WINDOW))]) == set()
    failing = _Blobs({_blob(many[0]).digest: many[0]}, fail=True)
    assert cf.changed_files(failing, [_blob(many[0])], [_source(tmp_path, "a", data)]) == set()
    assert cf.changed_files(object(), [_blob(many[0])], [_source(tmp_path, "a", data)]) == set()
