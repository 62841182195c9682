"""The scikit-learn version a pickle or joblib file records (inspection/pickle_versions), read from its
opcodes: real estimators saved by pickle (protocols 2-5) and joblib (arrays written between the opcodes),
and hostile files that must run nothing, stop within their bounds and say nothing."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from modelpack.inspection import pickle_versions
from modelpack.inspection.pickle_versions import pickled_sklearn_version

sklearn = pytest.importorskip("sklearn")
joblib = pytest.importorskip("joblib")
np = pytest.importorskip("numpy")


def _estimators() -> dict[str, object]:
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    x, y = rng.random((200, 5)), rng.integers(0, 3, 200)
    return {
        "linear": LinearRegression().fit(x, y),  # the version after coef_ and intercept_
        "tree": DecisionTreeClassifier().fit(x, y),  # arrays of a structured dtype (the tree's nodes)
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression()).fit(x, np.array(["a", "b", "c"])[y]),
    }


@pytest.mark.parametrize("kind", ["linear", "tree", "pipeline"])
def test_the_version_of_an_estimator_saved_by_pickle_or_joblib(tmp_path: Path, kind: str) -> None:
    estimator = _estimators()[kind]
    for protocol in (2, 4, 5):
        path = tmp_path / f"m{protocol}.pkl"
        path.write_bytes(pickle.dumps(estimator, protocol=protocol))
        assert pickled_sklearn_version(path, path.name) == sklearn.__version__
    path = tmp_path / "m.joblib"
    joblib.dump(estimator, path)  # uncompressed, each array's bytes written after its wrapper's opcodes
    assert b"NumpyArrayWrapper" in path.read_bytes()
    assert pickled_sklearn_version(path, path.name) == sklearn.__version__
    for compress in (3, "gzip", "bz2", "xz"):  # not read
        joblib.dump(estimator, tmp_path / "c.joblib", compress=compress)
        assert pickled_sklearn_version(tmp_path / "c.joblib", "c.joblib") is None


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


class _Estimator:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __getstate__(self) -> dict[str, object]:
        return {"evil": _Evil(self.marker), "_sklearn_version": "6.6.6"}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)


def test_a_global_of_os_system_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    data = pickle.dumps(_Estimator(marker), protocol=2)
    assert b"system" in data
    (tmp_path / "evil.pkl").write_bytes(data)
    assert pickled_sklearn_version(tmp_path / "evil.pkl", "evil.pkl") == "6.6.6"  # (text, as any label)
    assert not marker.exists()
    pickle.loads(data)  # the marker is real: unpickling does run it
    assert marker.exists()


def test_a_cut_file_says_nothing_or_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "m.joblib"
    joblib.dump(_estimators()["linear"], path)
    whole = path.read_bytes()
    build = whole.index(b"ub.", whole.index(b"_sklearn_version")) + 1  # the estimator's BUILD: its state given
    for cut in [*range(0, len(whole), 7), build, build + 1]:
        (tmp_path / "cut.joblib").write_bytes(whole[:cut])
        found = pickled_sklearn_version(tmp_path / "cut.joblib", "cut.joblib")
        assert found == (sklearn.__version__ if cut > build else None), cut


def test_an_array_longer_than_the_file_stops_the_walk(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    path = tmp_path / "m.joblib"
    joblib.dump(LinearRegression().fit([[0.0, 1.0, 2.0], [1.0, 0.0, 2.0], [2.0, 2.0, 0.0]], [0.0, 1.0, 2.0]), path)
    data = path.read_bytes()
    shape = b"K\x03\x85"  # coef_'s shape (the first array's): BININT1 3, TUPLE1
    assert shape in data
    huge = b"\x8a\x08" + (2**61).to_bytes(8, "little") + b"\x85"  # LONG1 2**61, TUPLE1
    path.write_bytes(data.replace(shape, huge, 1))
    assert pickled_sklearn_version(path, path.name) is None


@pytest.mark.parametrize("data", [
    b"\x80\x04\x8e" + (2**62).to_bytes(8, "little") + b"x" * 100,  # BINBYTES8 of 2**62 bytes
    b"\x80\x04}" + b")" + b"\x85" * 300_000 + b"Ns.",  # a dict key nested 300,000 tuples deep
    b"\x80\x04" + b"(" * 300_000 + b".",  # 300,000 MARKs
    b"\x80\x04h\x05.",  # a memo entry never stored
    b"\x80\x040.",  # a pop from an empty stack
    b"\xff\xfe not a pickle",
    b"",
])
def test_hostile_pickles_say_nothing(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "x.pkl").write_bytes(data)
    assert pickled_sklearn_version(tmp_path / "x.pkl", "x.pkl") is None


def test_the_walk_stops_after_its_opcodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    estimator = pickle.dumps(_Estimator(tmp_path / "ran"), protocol=4)
    (tmp_path / "late.pkl").write_bytes(estimator[:2] + b"N0" * 600 + estimator[2:])  # 1,200 opcodes first
    monkeypatch.setattr(pickle_versions, "MAX_OPCODES", 1_000)
    assert pickled_sklearn_version(tmp_path / "late.pkl", "late.pkl") is None
    monkeypatch.setattr(pickle_versions, "MAX_OPCODES", 2_000)
    assert pickled_sklearn_version(tmp_path / "late.pkl", "late.pkl") == "6.6.6"


def test_the_walk_stops_after_its_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    padding = pickle.dumps(b"\0" * 10_000, protocol=4)[2:-1] + b"0"  # 10 KB of bytes pushed, then popped
    estimator = pickle.dumps(_Estimator(tmp_path / "ran"), protocol=4)
    (tmp_path / "late.pkl").write_bytes(estimator[:2] + padding + estimator[2:])
    monkeypatch.setattr(pickle_versions, "MAX_READ", 8_000)
    assert pickled_sklearn_version(tmp_path / "late.pkl", "late.pkl") is None
    monkeypatch.setattr(pickle_versions, "MAX_READ", 20_000)
    assert pickled_sklearn_version(tmp_path / "late.pkl", "late.pkl") == "6.6.6"


def test_a_shape_numpy_cannot_have_is_not_multiplied() -> None:
    # Two 32 MB dimensions (LONG4) took hours to multiply (4 MB ones: 24 s), the walk deaf to Ctrl-C meanwhile.
    dtype = pickle_versions._Object(pickle_versions._Global("numpy", "dtype"), ("f8", False, True))
    assert pickle_versions._array_bytes({"shape": (3, 2), "dtype": dtype}) == 48
    assert pickle_versions._array_bytes({"shape": (2**63, 2**63), "dtype": dtype}) is None
    assert pickle_versions._array_bytes({"shape": (2**63 - 1, 1), "dtype": dtype}) == (2**63 - 1) * 8


def test_a_huge_integer_is_no_dict_key() -> None:
    # An int's hash is not cached: a 32 MB one set as a key 300,000 times (one memo GET, None, SETITEM
    # each) hashed 45 ms a time, hours in all.
    made: dict[object, object] = {}
    pickle_versions._set_items(made, [2**64 + 1, "big", 2**64 - 1, "small", "_sklearn_version", "1.5.0"])
    assert made == {2**64 - 1: "small", "_sklearn_version": "1.5.0"}
