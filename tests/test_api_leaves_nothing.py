"""A library caller may make thousands of API calls in one process: each call given no options leaves no
connection, pipe or transfer thread behind (returned or raised), and options or a Client the caller holds
let go of theirs when closed."""

from __future__ import annotations

import gc
import hashlib
import os
import threading
from pathlib import Path

import pytest

import modelpack as mp
from fault_proxy import Fault, FaultProxy
from helpers import tree
from modelpack.errors import NotFoundError, UsageError
from registry_process import Registry


def _open_files() -> set[str]:
    """Pipes and sockets this process holds, by kernel identity (fd numbers are reused)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own descriptor, closed already
            continue
        if target.startswith(("pipe:", "socket:")):
            found.add(target)
    return found


def _threads() -> set[threading.Thread]:
    return set(threading.enumerate())


def _model(tmp_path: Path) -> Path:
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.safetensors").write_bytes(os.urandom(20_000))
    return model


def test_calls_given_no_options_leave_no_connection_or_thread(
        registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELPACK_PLAIN_HTTP", "1")
    model = _model(tmp_path)
    repo = registry.repo()
    files, threads = _open_files(), _threads()
    for n in range(3):
        pushed = mp.push(model, f"{repo}:{n}")
        assert mp.resolve(f"{repo}:{n}").digest == pushed.descriptor.digest
        mp.pull(f"{repo}:{n}", output=tmp_path / f"out{n}")
        assert [v.tag for v in mp.list_versions(repo)][: n + 1] == [str(i) for i in range(n + 1)]
        with pytest.raises(NotFoundError):  # a registry's refusal too
            mp.pull(f"{repo}-absent:{n}")
    assert _open_files() - files == set()
    assert [t.name for t in _threads() - threads] == []


def test_closed_options_and_clients_let_go_of_theirs_and_stay_usable(registry: Registry, tmp_path: Path) -> None:
    model = _model(tmp_path)
    ref = registry.repo() + ":1"
    files, threads = _open_files(), _threads()
    with mp.ClientOptions(plain_http=True) as options:
        digest = mp.push(model, ref, options=options).descriptor.digest
    assert mp.resolve(ref, options=options).digest == digest  # closed options open new connections
    options.close()
    with mp.Client(plain_http=True, store=tmp_path / "store") as client:
        assert client.pull(ref).descriptor.digest == digest
    assert _open_files() - files == set()
    assert [t.name for t in _threads() - threads] == []


def test_closing_shared_options_while_threads_use_them_fails_no_call(registry: Registry, tmp_path: Path) -> None:
    model = _model(tmp_path)
    ref = registry.repo() + ":1"
    files, threads = _open_files(), _threads()
    options = mp.ClientOptions(plain_http=True)
    digest = mp.push(model, ref, options=options).descriptor.digest
    done = threading.Event()
    failures: list[BaseException] = []

    def resolve_until_done() -> None:
        while not done.is_set():
            try:
                assert mp.resolve(ref, options=options).digest == digest
            except BaseException as exc:  # any failure is the test's
                failures.append(exc)
                return

    workers = [threading.Thread(target=resolve_until_done) for _ in range(8)]
    for worker in workers:
        worker.start()
    for _ in range(20):
        options.close()  # the next request opens the connections again
    done.set()
    for worker in workers:
        worker.join()
    options.close()
    assert failures == []
    assert _open_files() - files == set()
    assert [t.name for t in _threads() - threads] == []


def test_remote_lineage_and_list_repositories_given_no_options_leave_nothing_behind(
        registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # remote() and list_repositories() made options (or a client) of their own and never closed them: 50
    # calls left 100 sockets and pipes and 50 transfer threads.
    monkeypatch.setenv("MODELPACK_PLAIN_HTTP", "1")
    ref = registry.repo() + ":1"
    digest = mp.push(_model(tmp_path), ref).descriptor.digest
    files, threads = _open_files(), _threads()
    for _ in range(50):
        assert mp.remote(mp.parse_reference(ref)).resolve("1").digest == digest  # dropped unclosed
        with mp.remote(mp.parse_reference(ref)) as repo:
            assert repo.resolve("1").digest == digest
        assert [entry["digest"] for entry in mp.lineage(ref)] == [digest]
        assert next(mp.lineage(ref))["digest"] == digest  # an iterator left unfinished
        assert ref.split("/", 1)[1].rsplit(":", 1)[0] in {r.repository for r in mp.list_repositories(registry.host)}
    gc.collect()  # the unfinished iterators
    assert _open_files() - files == set()
    assert [t.name for t in _threads() - threads] == []


def test_a_repository_from_remote_with_the_callers_options_leaves_them_open(registry: Registry) -> None:
    with mp.ClientOptions(plain_http=True) as options:
        repo = mp.remote(mp.parse_reference(registry.repo() + ":1"), options)
        repo.close()  # closes nothing of the caller's: the options still work, and pooled
        assert repo.client is options.client_for(registry.host)
        assert repo.owned_options is None


def _big_model(tmp_path: Path) -> Path:
    model = tmp_path / "big"
    model.mkdir()
    (model / "w.safetensors").write_bytes(os.urandom(3 << 20))
    return model


def test_close_refuses_new_calls_and_the_last_call_under_way_closes_the_connections(
        registry: Registry, tmp_path: Path) -> None:
    # close() from another thread while a pull is under way: it returns at once with timeout=0 (False: a
    # call still runs), new calls are refused, the pull finishes, and its end closes the connections.
    ref_path = registry.repo().split("/", 1)[1] + ":1"
    model = _big_model(tmp_path)
    mp.push(model, f"{registry.host}/{ref_path}", options=mp.ClientOptions(plain_http=True))
    weight = hashlib.sha256((model / "w.safetensors").read_bytes()).hexdigest()
    files, threads = _open_files(), _threads()
    with FaultProxy(registry.host) as proxy:
        # The weight's GET, not the first blob's: the config, fetched first in some runs, is too small to stall.
        stall = Fault(f"GET .*/blobs/sha256:{weight}", times=1, stall_after=100_000)
        client = mp.Client(plain_http=True, store=tmp_path / "store")
        ref = f"{proxy.host}/{ref_path}"
        client.resolve(ref)
        proxy.faults.append(stall)
        results: list[object] = []
        puller = threading.Thread(target=lambda: results.append(client.pull(ref, output=tmp_path / "out")))
        puller.start()
        while stall.times:  # until the blob's download is under way (and stalled)
            puller.join(0.05)
            assert puller.is_alive(), results
        assert client.close(timeout=0) is False
        with pytest.raises(UsageError, match="closed"):
            client.resolve(ref)
        stall.release.set()
        puller.join()
        assert tree(results[0].output) == tree(tmp_path / "big")  # type: ignore[attr-defined]
        assert client.close() is True  # again: nothing runs
    assert _open_files() - files == set()
    assert [t.name for t in _threads() - threads] == []


def test_close_waits_for_the_calls_under_way_then_closes(registry: Registry, tmp_path: Path) -> None:
    ref_path = registry.repo().split("/", 1)[1] + ":1"
    model = _big_model(tmp_path)
    mp.push(model, f"{registry.host}/{ref_path}", options=mp.ClientOptions(plain_http=True))
    weight = hashlib.sha256((model / "w.safetensors").read_bytes()).hexdigest()
    files, threads = _open_files(), _threads()
    with FaultProxy(registry.host) as proxy:
        # The weight's GET, not the first blob's: the config, fetched first in some runs, is too small to stall.
        stall = Fault(f"GET .*/blobs/sha256:{weight}", times=1, stall_after=100_000)
        proxy.faults.append(stall)
        client = mp.Client(plain_http=True, store=tmp_path / "store")
        output = tmp_path / "out"  # renamed into place at the end of the pull
        puller = threading.Thread(target=lambda: client.pull(f"{proxy.host}/{ref_path}", output=output))
        puller.start()
        while stall.times:
            puller.join(0.05)
            assert puller.is_alive()
        closed: list[tuple[bool, bool]] = []
        closer = threading.Thread(target=lambda: closed.append((client.close(), output.exists())))
        closer.start()
        stall.release.set()
        closer.join()
        puller.join()
        assert closed == [(True, True)]  # close() returned after the pull had ended, and said so
    assert _open_files() - files == set()
    assert [t.name for t in _threads() - threads] == []


def test_close_refuses_a_wait_without_bound() -> None:
    with pytest.raises(ValueError, match="timeout"):
        mp.Client(plain_http=True).close(timeout=float("nan"))


def test_close_from_a_hook_of_a_call_under_way_does_not_wait_for_itself(
        registry: Registry, tmp_path: Path) -> None:
    # close() waited for every call under way, the one calling it too (`warn`, called in the caller's
    # thread): it never returned.
    files, threads = _open_files(), _threads()
    client = mp.Client(plain_http=True, store=tmp_path / "store")
    model = _model(tmp_path)
    (model / "modelpack.yaml").write_text("name: m\nformat: onnx\n")  # no .onnx file: `warn` hears of it
    said: list[bool] = []
    client.push(model, registry.repo() + ":1", warn=lambda line: said.append(client.close()))
    assert said == [False]  # not closed yet: the push was under way; it closed the connections as it ended
    with pytest.raises(UsageError, match="closed"):
        client.resolve(registry.repo() + ":1")
    assert _open_files() - files == set()
    assert [t.name for t in _threads() - threads] == []
