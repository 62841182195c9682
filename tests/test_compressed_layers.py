"""tar+zstd (and tar+gzip) layers: written on request for doc, code and dataset layers, read for every
kind (also when the oras CLI pushed them), under the archive bomb limits."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard

import modelpack as mp
from helpers import modelpack, tree
from hostile_artifacts import publish
from modelpack.oci import digest as digests
from modelpack.store.options import ClientOptions
from registry_process import Registry
from test_data_safety import MIB, _archive_layer, _pull_refused

PLAIN = ClientOptions(plain_http=True)
ZSTD_DATASET = "application/vnd.cncf.model.dataset.v1.tar+zstd"


def _model(root: Path, compress: str | None = None) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "data" / "train.csv").write_text("".join(f"{i},{i * i}\n" for i in range(20000)))
    (root / "data" / "test.csv").write_text("1,1\n")
    (root / "README.md").write_text("# compressed\n" * 100)
    (root / "infer.py").write_text("print('hello')\n")
    (root / "infer.py").chmod(0o755)
    (root / "config.json").write_text('{"hidden_size": 8}\n')
    (root / "model.safetensors").write_bytes(bytes(range(256)) * 400)
    files = f"files: {{archives: [data]{', compress: ' + compress if compress else ''}}}\n"
    (root / "modelpack.yaml").write_text("name: squeezed\n" + files)
    return root


def _zstd_tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return zstandard.ZstdCompressor().compress(buffer.getvalue())


@pytest.mark.parametrize("compress", ["zstd", "gzip"])
def test_compressed_layers_round_trip(registry: Registry, tmp_path: Path, compress: str) -> None:
    model = _model(tmp_path / "m", compress)
    ref = registry.repo() + ":1"
    pushed = modelpack("push", "--plain-http", str(model), ref)
    assert pushed.code == 0, pushed.err
    info = mp.inspect(ref, remote_only=True, options=PLAIN)
    kinds = {f.path: f.media_type for f in info.files}
    suffix = "tar+zstd" if compress == "zstd" else "tar+gzip"
    assert kinds == {
        "README.md": f"application/vnd.cncf.model.doc.v1.{suffix}",
        "infer.py": f"application/vnd.cncf.model.code.v1.{suffix}",
        "data": f"application/vnd.cncf.model.dataset.v1.{suffix}",
        "config.json": "application/vnd.cncf.model.weight.config.v1.raw",
        "model.safetensors": "application/vnd.cncf.model.weight.v1.raw",
    }
    data_layer = next(f for f in info.files if f.path == "data")
    csv_bytes = sum(f.stat().st_size for f in (model / "data").iterdir())
    assert data_layer.size < csv_bytes * 0.7  # compressed
    out = tmp_path / "out"
    pulled = modelpack("pull", "--plain-http", ref, "-o", str(out))
    assert pulled.code == 0, pulled.err
    assert tree(out) == tree(model)
    # The config's diffIDs are the uncompressed tars' digests, as the image spec defines them.
    packed = mp.describe(model)
    assert pushed.out.strip().endswith(packed.descriptor.digest)
    diff_ids = json.loads(packed.config_bytes)["modelfs"]["diffIds"]
    for layer, diff_id in zip(packed.layers, diff_ids, strict=True):
        if layer.descriptor.media_type.endswith(".raw"):
            assert diff_id == layer.descriptor.digest
        else:
            with layer.open() as stream:
                compressed = stream.read()
            unpacked = (zstandard.ZstdDecompressor().stream_reader(io.BytesIO(compressed)).read() if compress == "zstd"
                        else gzip.decompress(compressed))
            assert diff_id == digests.of_bytes(unpacked) != layer.descriptor.digest


def test_compress_option_matches_the_metadata_field(registry: Registry, tmp_path: Path) -> None:
    model = _model(tmp_path / "m")
    by_option = modelpack("pack", "--compress", "zstd", str(model), "-t", registry.repo() + ":a")
    assert by_option.code == 0, by_option.err
    (model / "modelpack.yaml").write_text("name: squeezed\nfiles: {archives: [data], compress: zstd}\n")
    by_field = modelpack("pack", str(model), "-t", registry.repo() + ":b")
    assert by_field.code == 0, by_field.err
    assert by_option.out == by_field.out  # the same digest: reproducible, and the option is the field
    plain = modelpack("pack", str(tmp_path / "m"), "-t", registry.repo() + ":c", "--set", "files.compress=gzip")
    assert plain.code == 0 and plain.out != by_field.out
    refused = modelpack("push", "--compress", "zstd", registry.repo() + ":a")
    assert refused.code == 2 and "--compress only apply when pushing a directory" in refused.err
    bad = modelpack("pack", str(model), "-t", registry.repo() + ":d", "--set", "files.compress=brotli")
    assert bad.code == 2 and "files.compress" in bad.err


@pytest.mark.interop
def test_a_tar_zstd_layer_pushed_by_oras_is_restored(registry: Registry, oras_bin: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "dataset.tar.zst").write_bytes(_zstd_tar({"eval/a.jsonl": b'{"q": 1}\n', "eval/b.jsonl": b'{"q": 2}\n'}))
    ref = registry.repo() + ":oras"
    proc = subprocess.run([str(oras_bin), "push", "--plain-http", ref, f"dataset.tar.zst:{ZSTD_DATASET}"],
                          capture_output=True, text=True, cwd=src, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    pulled = modelpack("pull", "--plain-http", ref, "-o", str(out))
    assert pulled.code == 0, pulled.err
    assert (out / "eval" / "a.jsonl").read_bytes() == b'{"q": 1}\n'
    assert (out / "eval" / "b.jsonl").read_bytes() == b'{"q": 2}\n'


def _zstd_bomb(unpacked: int) -> bytes:
    """A tar+zstd layer of a tiny fraction of its unpacked size: one file of zeros as repeated frames."""
    info = tarfile.TarInfo("zeros.bin")
    info.size = unpacked
    zeros = zstandard.ZstdCompressor(level=19).compress(b"\0" * MIB)
    return zstandard.ZstdCompressor().compress(info.tobuf(tarfile.GNU_FORMAT)) + zeros * (unpacked // MIB)


def test_a_zstd_bomb_is_refused_before_it_is_written(registry: Registry, tmp_path: Path) -> None:
    ref = registry.repo() + ":bomb"
    layer = _archive_layer(_zstd_bomb(2 * 1024 * MIB), ZSTD_DATASET)
    assert layer[0].size < MIB
    publish(ref, [layer])
    err = _pull_refused(ref, tmp_path)
    assert "MODELPACK_ARCHIVE_MAX_RATIO" in err and "unpacks to more than" in err


def test_zstd_entry_count_is_capped(registry: Registry, tmp_path: Path) -> None:
    ref = registry.repo() + ":many"
    publish(ref, [_archive_layer(_zstd_tar({f"d/{i}.txt": b"" for i in range(300)}), ZSTD_DATASET)])
    err = _pull_refused(ref, tmp_path, env={"MODELPACK_ARCHIVE_MAX_ENTRIES": "200"})
    assert "more than 200 archive entries" in err


def test_a_corrupt_zstd_stream_is_refused_in_one_line(registry: Registry, tmp_path: Path) -> None:
    ref = registry.repo() + ":corrupt"
    data = _zstd_tar({"a.txt": b"x" * 5000})
    broken = data[:12] + bytes(b ^ 0xFF for b in data[12:40]) + data[40:]
    assert digests.of_bytes(broken) != digests.of_bytes(data)
    publish(ref, [_archive_layer(broken, ZSTD_DATASET)])
    assert "not a readable archive" in _pull_refused(ref, tmp_path)


def test_compressed_media_types_are_documented(tmp_path: Path) -> None:
    spec = (Path(__file__).resolve().parents[1] / "specs" / "format.md").read_text()
    for compress in ("gzip", "zstd"):
        packed = mp.describe(_model(tmp_path / compress, compress))
        for layer in packed.manifest.layers:
            assert f"`{layer.media_type}`" in spec
