"""Raw weights in a `.bin` against pickles and torch files: `build-image --modelcar` refuses a `.bin` that
torch.load could run code from, and no longer one whose first byte merely happens to be a pickle opcode.

The files are made by the real libraries (numpy's `tofile` and `save`, pickle, torch.save when torch is
installed). The oracle is the real unpickler itself, run in a child process under an audit hook: a file
judged safe must never make it look up a class (`pickle.find_class`), whether read by `pickle.load` or by
`torch.load(weights_only=False)`, the most trusting way a runtime loads a `.bin`.
"""

from __future__ import annotations

import json
import pickle
import pickletools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modelpack.image.modelcar import SNIFF_BYTES, unpickled_files
from modelpack.inspection.pickle_sniff import may_run_code
from test_serve_trust import Hostile

OPCODE_BYTES = sorted(ord(op.code.encode("latin-1")) for op in pickletools.opcodes)
EXT_CODES = {0x82, 0x83, 0x84}  # EXT1/2/4 name a class through copyreg's registry: counted whatever follows

# Loads each file as a runtime would, counting the classes the unpickler looked up (the audit hook sees
# every one before it is imported); prints {name: [lookups, outcome]} as JSON.
ORACLE = """
import json, pickle, sys
lookups = []
sys.addaudithook(lambda event, args: lookups.append(args[:2]) if event == "pickle.find_class" else None)
try:
    import torch
except ImportError:
    torch = None
out = {}
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
    return json.loads(run.stdout.splitlines()[-1])


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
    flagged = {int(name[4:6], 16) for name in unpickled_files({p.name: p for p in raws.values()})}
    assert flagged == EXT_CODES  # the first-byte test took all 68 for pickles
    seen = _oracle([p for b, p in raws.items() if b not in flagged])
    assert seen and all(lookups == 0 for lookups, _ in seen.values()), seen  # truly nothing looked up


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
