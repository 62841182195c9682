"""A library caller may make thousands of API calls in one process: each call given no options leaves no
connection, pipe or transfer thread behind (returned or raised), and options or a Client the caller holds
let go of theirs when closed."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import modelpack as mp
from modelpack.errors import NotFoundError
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
