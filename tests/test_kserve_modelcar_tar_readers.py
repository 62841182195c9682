"""`k8s --kind kserve MODELCAR` checks /models by reading the layers with Python's tarfile; the node's runtime
unpacks them with Go's archive/tar. Each layer here is read by Go (crane export, the oracle) as holding
`models/evil.pkl`, a pickle, while Python's tarfile named it otherwise or missed it: the check passed (exit
0) and KServe would unpickle it. Such a layer is now refused (exit 6), and ordinary long names in GNU and
PAX tars are still read, their pickles found (exit 2)."""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from modelpack.image.layer_entries import WHOLE_AT_MOST
from registry_process import Registry
from test_kserve_modelcar_layers import PICKLE, TAR, TAR_GZIP, _kserve, push_image
from test_serve_trust import assert_one_line

pytestmark = pytest.mark.interop
EVIL = "models/evil.pkl"


def _sealed(header: bytes | bytearray) -> bytes:
    """A 512-byte header with its checksum computed again (after an edit)."""
    block = bytearray(header)
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def _header(name: str, size: int, kind: bytes = tarfile.REGTYPE, fmt: int = tarfile.USTAR_FORMAT) -> bytearray:
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return bytearray(info.tobuf(fmt, "utf-8", "surrogateescape"))


def _data(data: bytes) -> bytes:
    return data + bytes(-len(data) % 512)


def _pax(records: dict[str, str], kind: bytes = tarfile.XHDTYPE) -> bytes:
    body = b""
    for key, value in records.items():
        record = f" {key}={value}\n".encode()
        length = len(record) + len(str(len(record)))
        length += len(str(length)) - len(str(len(record)))
        body += str(length).encode() + record
    return bytes(_header("././@PaxHeader", len(body), kind)) + _data(body)


def _long_name(name: str) -> bytes:
    data = name.encode() + b"\0"
    return bytes(_header("././@LongLink", len(data), tarfile.GNUTYPE_LONGNAME, tarfile.GNU_FORMAT)) + _data(data)


def _pickle_as(name: str, fmt: int = tarfile.USTAR_FORMAT) -> bytes:
    return bytes(_header(name, len(PICKLE), fmt=fmt)) + _data(PICKLE)


def _gnu_prefix() -> bytes:  # a GNU header's atime field, read by Python as a name prefix
    header = _header(EVIL, len(PICKLE), fmt=tarfile.GNU_FORMAT)
    header[345:357] = b"00000000000\0"
    return _sealed(header) + _data(PICKLE)


def _v7_prefix() -> bytes:  # no ustar magic: Go reads no prefix field
    header = _header(EVIL, len(PICKLE))
    header[257:500] = bytes(243)
    header[345:348] = b"xyz"
    return _sealed(header) + _data(PICKLE)


def _size_with_leading_nuls() -> bytes:  # Python: 0 bytes, so the next header is the one that hides the pickle
    readme = _header("models/readme.txt", 0)
    readme[124:136] = b"\0\0\0\x000001000\0"
    return _sealed(readme) + bytes(_header("models/pad.txt", 1024)) + _pickle_as(EVIL)


def _checksum_with_a_leading_nul() -> bytes:  # Python ends the archive there; Go reads on
    header = _header(EVIL, len(PICKLE))
    header[148:156] = b" " * 8
    header[148:156] = b"\0%06o " % sum(header)
    return bytes(_header("models/a.txt", 3)) + _data(b"abc") + bytes(header) + _data(PICKLE)


def _record(key: str, value: str, sign: str = "") -> bytes:
    """One PAX record, `LENGTH key=value\n` (`sign` before the length: Go's ParseInt takes one)."""
    text = f" {key}={value}\n"
    length = len(sign) + len(text) + len(str(len(text)))
    length += len(str(length)) - len(str(len(text)))
    return f"{sign}{length}{text}".encode()


def _pax_body(body: bytes, size: int) -> bytes:  # a PAX header of `size` bytes, whatever the body holds
    return bytes(_header("././@PaxHeader", size, tarfile.XHDTYPE)) + _data(body)


def _pax_records_past_its_size() -> bytes:  # Python parses the whole padded block; Go `size` bytes
    first = _record("path", EVIL)
    return _pax_body(first + _record("path", "models/readme.txt"), len(first)) + _pickle_as("x")


def _long_name_past_its_size() -> bytes:  # Python cuts the name at a NUL in the padded block; Go at `size`
    data = EVIL.encode() + b".txt\0"
    return bytes(_header("././@LongLink", len(EVIL), tarfile.GNUTYPE_LONGNAME, tarfile.GNU_FORMAT)) + _data(data) \
        + _pickle_as("x", tarfile.GNU_FORMAT)


CASES: dict[str, Callable[[], bytes]] = {
    "a GNU header's prefix": _gnu_prefix,
    "a V7 header's prefix": _v7_prefix,
    "GNU.sparse.name": lambda: _pax({"path": EVIL, "GNU.sparse.name": "safe.txt"}) + _pickle_as("x"),
    "a PAX path, then a GNU long name": lambda: _pax({"path": "safe.txt"}) + _long_name(EVIL) + _pickle_as("x"),
    "two PAX headers": lambda: _pax({"path": "safe.txt"}) + _pax({"path": EVIL}) + _pickle_as("x"),
    "two GNU long names": lambda: _long_name("safe.txt") + _long_name(EVIL) + _pickle_as("x", tarfile.GNU_FORMAT),
    "a global PAX path": lambda: _pax({"path": "safe.txt"}, tarfile.XGLTYPE) + _pickle_as(EVIL),
    "a size with leading NULs": _size_with_leading_nuls,
    "a checksum with a leading NUL": _checksum_with_a_leading_nul,
    "PAX records past its size": _pax_records_past_its_size,
    "a PAX record length with a sign": lambda: _pax_body(
        body := _record("path", "models/readme.txt") + _record("path", EVIL, "+"), len(body)) + _pickle_as("x"),
    "a GNU long name past its size": _long_name_past_its_size,
}


def _what_go_reads(crane_bin: Path, image: str, into: Path) -> list[str]:
    """The paths of the image's filesystem as go-containerregistry writes it (Go's archive/tar reading the
    layers), each header's own name (no PAX or GNU header of crane's applied)."""
    subprocess.run([str(crane_bin), "export", "--insecure", image, str(into)], check=True, capture_output=True,
                   timeout=120)
    data, names, at = into.read_bytes(), [], 0
    while at + 512 <= len(data) and data[at:at + 512] != bytes(512):
        header = data[at:at + 512]
        size = int(header[124:136].split(b"\0")[0].strip() or b"0", 8)
        if header[156:157] not in (tarfile.XHDTYPE, tarfile.XGLTYPE):
            names.append(header[:100].split(b"\0")[0].decode())
        at += 512 + -(-size // 512) * 512
    return names


@pytest.mark.parametrize("case", list(CASES))
def test_a_layer_the_runtime_reads_otherwise_is_refused(registry: Registry, tmp_path: Path, crane_bin: Path,
                                                         case: str) -> None:
    layer = tmp_path / "layer.tar"
    media_type = TAR_GZIP if case == "two PAX headers" else TAR  # (one streamed, the others read by ranges:
    # zeros past the archive's end make them larger than a layer read whole)
    layer.write_bytes(CASES[case]() + bytes(1024) + (bytes(WHOLE_AT_MOST) if media_type == TAR else b""))
    image = push_image(registry.repo("car") + ":1", [(media_type, layer)])
    assert EVIL in _what_go_reads(crane_bin, image, tmp_path / "go.tar")  # what the runtime writes to /models
    with tarfile.open(layer) as tar:  # (and what Python's tarfile lists instead)
        assert EVIL not in tar.getnames()
    run = _kserve(image)
    assert_one_line(run.err, 6, run.code, "refused layer", "container runtime")


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_long_names_are_still_read(registry: Registry, tmp_path: Path, fmt: int) -> None:
    deep = "models/" + "d" * 90 + "/" + "e" * 90 + "/model.joblib"
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w", format=fmt) as tar:
        for name, data in {"models/ünïcødé.json": b"{}", deep: PICKLE}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("models/l")
        link.type, link.linkname = tarfile.SYMTYPE, "/" + "t" * 150
        tar.addfile(link)
    run = _kserve(push_image(registry.repo("car") + ":long", [(TAR, layer)]))
    assert_one_line(run.err, 2, run.code, "model.joblib", "unpickle")


def _v7_directory(name: str, size: int) -> bytes:  # an old-style entry (type NUL) whose name ends in "/"
    return bytes(_header(name, size, tarfile.AREGTYPE))


def test_an_old_style_directory_named_as_a_file_is_refused(registry: Registry, tmp_path: Path,
                                                           crane_bin: Path) -> None:
    """Python's tarfile takes a type-NUL entry named `d/` for a directory (by its own name, before the PAX
    path `models/evil.pkl` renames it) and reads its 512 bytes as the next header; Go names it first and
    writes a file of them, which starts with a pickle (the name field of the header Python reads)."""
    inner = bytes(_header(PICKLE.decode(), 0))
    layer = tmp_path / "layer.tar"
    layer.write_bytes(_pax({"path": EVIL}) + _v7_directory("d/", len(inner)) + inner + bytes(1024))
    image = push_image(registry.repo("car") + ":v7", [(TAR, layer)])
    assert EVIL in _what_go_reads(crane_bin, image, tmp_path / "go.tar")
    with tarfile.open(tmp_path / "go.tar") as go, tarfile.open(layer) as python:
        assert go.extractfile(EVIL).read().startswith(PICKLE)  # type: ignore[union-attr]
        assert python.getmember(EVIL).isdir()
    run = _kserve(image)
    assert_one_line(run.err, 6, run.code, "refused layer", "old-style", "container runtime")


@pytest.mark.parametrize("rest", ["data", "renamed"])
def test_an_old_style_directory_with_data_is_refused(registry: Registry, tmp_path: Path, rest: str) -> None:
    """Python reads a V7 directory's bytes as headers: here one whose size covers the pickle's header and
    data, so Python never lists it. Go skips them (crane's Go, which then reads the pickle's header; crane
    export itself stops at a directory holding data, so it cannot show it). And Go since 1.2x decides file or
    directory by the name a PAX header gives, skipping a directory's bytes none: a renamed one is refused too."""
    hidden = _pickle_as(EVIL)
    if rest == "data":
        body = _v7_directory("d/", 512) + bytes(_header("junk", len(hidden))) + hidden
    else:  # Python: a file `models/readme.txt` whose bytes it skips; new Go: a directory, its bytes read
        body = _pax({"path": "models/readme.txt/"}) + _v7_directory("readme", len(hidden)) + hidden
    layer = tmp_path / "layer.tar"
    layer.write_bytes(body + bytes(1024))
    with tarfile.open(layer) as python:
        assert EVIL not in python.getnames()
    run = _kserve(push_image(registry.repo("car") + f":{rest}", [(TAR, layer)]))
    assert_one_line(run.err, 6, run.code, "refused layer", "old-style", "container runtime")
