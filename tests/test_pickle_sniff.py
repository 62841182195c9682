"""Raw weights in a `.bin` against pickles and torch files: `build-image --modelcar` refuses a `.bin` that
torch.load could run code from, and no longer one whose first byte merely happens to be a pickle opcode.

The files are made by the real libraries (numpy's `tofile` and `save`, pickle, torch.save when torch is
installed). The oracle is the real unpickler itself, run in a child process under an audit hook: a file
judged safe must never make it look up a class (`pickle.find_class`), whether read by `pickle.load` or by
`torch.load(weights_only=False)`, the most trusting way a runtime loads a `.bin`.
"""

from __future__ import annotations

import collections
import copyreg
import io
import json
import pickle
import pickletools
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from modelpack.image.modelcar import SNIFF_BYTES, unpickled_files
from modelpack.inspection.pickle_sniff import may_run_code
from test_serve_trust import Hostile

OPCODE_BYTES = sorted(ord(op.code.encode("latin-1")) for op in pickletools.opcodes)
EXT_CODES = (0x82, 0x83, 0x84)  # EXT1/2/4: a number looked up in copyreg's registry, empty in a runtime

# Loads each file as a runtime would, counting the classes the unpickler looked up (the audit hook sees
# every one before it is imported); prints {name: [lookups, outcome]} as JSON.
ORACLE = """
import copyreg, json, pickle, sys
lookups = []
sys.addaudithook(lambda event, args: lookups.append(args[:2]) if event == "pickle.find_class" else None)
try:
    import torch
except ImportError:
    torch = None
import joblib, numpy, sklearn, xgboost  # what loads a model here: none may fill copyreg's registry
out = {"copyreg registry": [len(copyreg._inverted_registry), "entries"]}
for path in sys.argv[1:]:
    for how in ("pickle", "torch") if torch else ("pickle",):
        lookups.clear()
        try:
            if how == "torch":
                torch.load(path, weights_only=False)
            else:
                with open(path, "rb") as f:
                    pickle.load(f)
            outcome = "loaded"
        except BaseException as exc:
            outcome = type(exc).__name__
        out[path + " " + how] = [len(lookups), outcome]
print(json.dumps(out))
"""


def _oracle(paths: list[Path]) -> dict[str, list]:
    run = subprocess.run([sys.executable, "-c", ORACLE, *map(str, paths)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.splitlines()[-1])
    assert out.pop("copyreg registry") == [0, "entries"]  # so an EXT opcode fails, looking nothing up
    return out


def _raw_weights(folder: Path, first: int, seed: int = 7) -> Path:
    """A float32 tensor as numpy writes raw weights, its first byte set to `first` (the low byte of a
    little-endian float: any value is some weight)."""
    weights = (np.random.default_rng(seed).standard_normal(4096) * 0.02).astype(np.float32)
    weights.view(np.uint8)[0] = first
    path = folder / f"raw-{first:02x}.bin"
    weights.tofile(path)
    return path


def test_raw_weights_starting_with_any_opcode_byte_are_not_taken_for_pickles(tmp_path: Path) -> None:
    raws = {b: _raw_weights(tmp_path, b) for b in OPCODE_BYTES}
    flagged = unpickled_files({p.name: p for p in raws.values()})
    assert flagged == []  # the first-byte test took all 68 for pickles, the walk before EXT1/2/4's three
    seen = _oracle(list(raws.values()))
    assert len(seen) >= len(raws) and all(lookups == 0 for lookups, _ in seen.values()), seen


def test_numpy_save_and_data_only_pickles_run_nothing_and_are_not_counted(tmp_path: Path) -> None:
    npy = tmp_path / "weights.bin"
    np.save(npy.with_suffix(".npy"), np.arange(100, dtype=np.float32))
    npy.with_suffix(".npy").rename(npy)  # \x93NUMPY: STACK_GLOBAL on an empty stack
    plain = tmp_path / "plain.bin"
    plain.write_bytes(pickle.dumps({"w": [0.5, 1.5], "name": "x"}, protocol=2))
    assert unpickled_files({"weights.bin": npy, "plain.bin": plain}) == []
    seen = _oracle([npy, plain])
    assert [lookups for lookups, _ in seen.values()] == [0] * len(seen)
    assert seen[f"{plain} pickle"][1] == "loaded"  # a real pickle, of data only


@pytest.mark.parametrize("protocol", range(6))
def test_real_pickles_of_every_protocol_are_counted(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.bin"
    path.write_bytes(pickle.dumps(Hostile(marker), protocol=protocol))
    assert unpickled_files({"model.bin": path}) == ["model.bin"]
    assert not marker.exists()


def test_torch_save_files_are_counted_zip_and_legacy(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    state = {"layer.weight": torch.randn(8, 4), "layer.bias": torch.zeros(8)}
    files = {}
    for name, zipped in (("pytorch_model.bin", True), ("legacy.bin", False)):
        files[name] = tmp_path / name
        torch.save(state, files[name], _use_new_zipfile_serialization=zipped)
    assert unpickled_files(files) == ["legacy.bin", "pytorch_model.bin"]
    lookups, outcome = _oracle([files["legacy.bin"]])[f"{files['legacy.bin']} torch"]
    assert outcome == "loaded" and lookups > 0  # torch.load did look classes up: counting it was right


def test_a_head_cut_from_a_longer_file_is_not_taken_for_the_whole_file(tmp_path: Path) -> None:
    """`remote_heads` keeps a remote `.bin`'s first SNIFF_BYTES: a length running past them is not known to
    run past the file, while the same bytes as a whole (shorter) file end the unpickler there."""
    string = 10_000
    data = b"\x80\x02X" + string.to_bytes(4, "little") + b"a" * (SNIFF_BYTES - 7)
    head = tmp_path / "head.bin"
    head.write_bytes(data)  # exactly SNIFF_BYTES: may be a cut
    whole = tmp_path / "whole.bin"
    whole.write_bytes(data[:SNIFF_BYTES - 96])
    assert unpickled_files({"head.bin": head, "whole.bin": whole}) == ["head.bin"]
    assert may_run_code(data, None) and not may_run_code(data, len(data))


@pytest.mark.parametrize("data", [b"\x80\x06", b"\x80\x02T\xff\xff\xff\xff", b"\x95" + (1 << 40).to_bytes(8, "little"),
                                  b"c\xff\xfe\nname\n", b"cos\n\nsystem\n", b"h\x05", b")R", b"t"])
def test_what_the_unpickler_refuses_before_anything_runs(tmp_path: Path, data: bytes) -> None:
    """A protocol above 5, a negative length, a frame past the file, a module line that is not UTF-8 or is
    empty, a memo entry never stored, REDUCE on one item, TUPLE with no MARK: each checked against the real
    unpickler."""
    path = tmp_path / "x.bin"
    path.write_bytes(data + b"\xff" * 64)
    assert not may_run_code(path.read_bytes(), path.stat().st_size)
    seen = _oracle([path])
    assert seen[f"{path} pickle"][0] == 0 and seen[f"{path} pickle"][1] != "loaded"


def test_seeded_random_float32_tensors_are_not_taken_for_pickles(tmp_path: Path) -> None:
    """2,000 tensors as numpy writes raw weights (seeded, 1 to 16 KiB, some shorter than the sniff): the
    walk that took EXT1/2/4 and any persistent id for code counted about 1 % of them."""
    paths = {}
    for seed in range(2000):
        rng = np.random.default_rng(seed)
        weights = (rng.standard_normal(int(rng.integers(256, 4096))) * (0.02, 1.0, 1e-3)[seed % 3])
        paths[f"raw-{seed}.bin"] = tmp_path / f"raw-{seed}.bin"
        weights.astype(np.float32).tofile(paths[f"raw-{seed}.bin"])
    assert unpickled_files(paths) == []
    seen = _oracle([p for p in paths.values() if p.read_bytes()[0] in OPCODE_BYTES])
    assert seen and all(lookups == 0 and outcome != "loaded" for lookups, outcome in seen.values()), seen


def test_a_pickle_naming_a_class_by_extension_code_fails_in_a_runtime(tmp_path: Path) -> None:
    """pickle writes EXT2 for a class registered with copyreg; a loader's registry is empty, so loading it
    fails with nothing looked up, and the file is not counted."""
    copyreg.add_extension("collections", "OrderedDict", 0x1234)
    try:
        data = pickle.dumps(collections.OrderedDict(a=1), protocol=2)
    finally:
        copyreg.remove_extension("collections", "OrderedDict", 0x1234)
    assert b"\x83\x34\x12" in data  # EXT2 0x1234, no GLOBAL
    path = tmp_path / "ext.bin"
    path.write_bytes(data)
    assert unpickled_files({"ext.bin": path}) == []
    lookups, outcome = _oracle([path])[f"{path} pickle"]
    assert (lookups, outcome) == (0, "ValueError")  # "unregistered extension code 4660"


def _legacy_stream(pid: object) -> bytes:
    """torch.save's old format without torch: magic number, protocol, system info, then the object with a
    persistent id (torch's are tuples naming a storage)."""

    class WithIds(pickle.Pickler):
        def persistent_id(self, obj: object) -> object:
            return pid if obj == "tensor" else None

    out = io.BytesIO()
    for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
        pickle.dump(header, out, protocol=2)
    WithIds(out, protocol=2).dump({"weight": "tensor"})
    return out.getvalue()


def test_persistent_ids_count_only_where_torch_load_hands_them_to_its_hook(tmp_path: Path) -> None:
    first = tmp_path / "first.bin"
    first.write_bytes(b"NQ" + np.arange(64, dtype=np.float32).tobytes())  # None, BINPERSID: no hook yet
    fourth = tmp_path / "fourth.bin"
    fourth.write_bytes(_legacy_stream(("module", "x")))  # no GLOBAL: only the id reaches torch's hook
    stream, names = io.BytesIO(fourth.read_bytes()), set()
    for _ in range(4):
        names |= {op.name for op, _, _ in pickletools.genops(stream)}
    assert "BINPERSID" in names and not names & {"GLOBAL", "STACK_GLOBAL", "INST"}
    assert unpickled_files({"first.bin": first, "fourth.bin": fourth}) == ["fourth.bin"]
    lookups, outcome = _oracle([first])[f"{first} pickle"]
    assert (lookups, outcome) == (0, "UnpicklingError")


def test_a_torch_like_zip_and_plain_pickles_of_protocols_2_to_5_are_counted(tmp_path: Path) -> None:
    files = {}
    with zipfile.ZipFile(tmp_path / "pytorch_model.bin", "w") as archive:  # torch.save's layout
        archive.writestr("archive/data.pkl", pickle.dumps({"w": collections.OrderedDict()}, protocol=2))
        archive.writestr("archive/data/0", np.zeros(16, dtype=np.float32).tobytes())
    files["pytorch_model.bin"] = tmp_path / "pytorch_model.bin"
    for protocol in range(2, 6):
        files[f"p{protocol}.bin"] = tmp_path / f"p{protocol}.bin"
        files[f"p{protocol}.bin"].write_bytes(pickle.dumps(collections.OrderedDict(a=1), protocol=protocol))
    assert unpickled_files(files) == sorted(files)


def test_a_remote_head_is_judged_with_the_size_the_manifest_declares(tmp_path: Path) -> None:
    """`build-image --modelcar REF` reads a remote `.bin`'s first SNIFF_BYTES: without the blob's size, a
    length running past them could not be told from one past the file, and 2.7 % of seeded random
    float32 tensors over 4 KiB were refused as pickles; with the manifest's size, none of 500 is."""
    heads, sizes = {}, {}
    for seed in range(500):
        rng = np.random.default_rng(seed)
        weights = (rng.standard_normal(int(rng.integers(1025, 16384))) * 0.02).astype(np.float32).tobytes()
        if seed == 0:
            weights = b"\x8e" + weights[1:]  # BINBYTES8: 8 bytes of weights as its length, far past the file
        heads[f"w{seed}.bin"] = tmp_path / f"w{seed}.bin"
        heads[f"w{seed}.bin"].write_bytes(weights[:SNIFF_BYTES])  # as remote_heads writes it
        sizes[f"w{seed}.bin"] = len(weights)
    assert "w0.bin" in unpickled_files(heads)  # not known to run past the file: counted
    assert unpickled_files(heads, sizes) == []
