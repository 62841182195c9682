"""A download resumed into the local store (see store/resumable_ingest.py) asks the registry for the rest
with one Range request; what answers it is hostile. A 206 of another range, of another total, a 200 with
the whole blob, a 416, a Content-Range no int() can read: the blob is fetched again from its first byte,
never appended to the kept bytes. A range longer than asked (or endless) is read to its end only; a part
sent for a request of the whole blob is refused unwritten; a dripping or oversized answer fails within
the stall bound, keeping what was received; a resumed range redirected to storage carries its Range and
none of the registry's credentials; a mirror serving a blob only whole completes a resumed pull without
the origin. Loopback servers answer what no real registry sends (hostile_registry)."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

import modelpack as mp
from hostile_registry import HostileRegistry, model_content, reply, serve_content, weights_digest
from modelpack.errors import RegistryError, TransportError
from modelpack.store import resumable_ingest
from modelpack.store.client import ClientOptions
from modelpack.store.layout import LayoutStore
from registry_process import free_port
from test_credentials_hosts import assert_never_saw_the_secret, basic_only, login_to
from test_mirrors import mirrored, write_conf

MIB = 1024 * 1024
PLAIN = ClientOptions(plain_http=True, backoff=0.01, timeout=3)
BLOB = os.urandom(3 * MIB + 12345)
SIZE = len(BLOB)
KEPT = MIB + 4321  # what an earlier process left in ingest/
REST = f"bytes {KEPT}-{SIZE - 1}/{SIZE}"
Answer = Callable[[BaseHTTPRequestHandler], None]


@pytest.fixture(autouse=True)
def resume_small_blobs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(resumable_ingest, "RESUME_MIN_BYTES", MIB)
    yield


def _kept_partial(layer: str) -> Path:
    store = LayoutStore()
    store.ingest_dir.mkdir(parents=True, exist_ok=True)
    partial = store.ingest_dir / f"{layer.split(':')[1]}.partial"
    partial.write_bytes(BLOB[:KEPT])
    return partial


def _send(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(body)


def _endless(handler: BaseHTTPRequestHandler) -> None:
    """The rest asked for, then more bytes with no end (no Content-Length)."""
    _send(handler, 206, {"Content-Range": REST, "Connection": "close"}, BLOB[KEPT:])
    junk = b"J" * 65536
    try:
        for _ in range(16_000):  # 1 GiB at most: a client that reads on fails the test, not the machine
            handler.wfile.write(junk)
    except OSError:
        pass
    handler.close_connection = True


LIES: dict[str, Answer] = {
    "another start": lambda h: reply(h, 206, BLOB[KEPT - 10:],
                                     {"Content-Range": f"bytes {KEPT - 10}-{SIZE - 1}/{SIZE}"}),
    "another total": lambda h: reply(h, 206, BLOB[KEPT:], {"Content-Range": f"bytes {KEPT}-{SIZE - 1}/{SIZE + 5}"}),
    "200 whole": lambda h: reply(h, 200, BLOB),
    "416": lambda h: reply(h, 416, b"", {"Content-Range": f"bytes */{SIZE}"}),
    "5000 digits": lambda h: reply(h, 206, BLOB[KEPT:], {"Content-Range": f"bytes {'9' * 5000}-{SIZE - 1}/{SIZE}"}),
}


def _blob_route(on_range: Answer, on_whole: Answer, ranges: list[str]) -> Answer:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        ranges.append(handler.headers.get("Range", ""))
        (on_range if handler.headers.get("Range") else on_whole)(handler)

    return answer


def _pull(on_range: Answer, on_whole: Answer = lambda h: reply(h, 200, BLOB)) -> tuple[str, list[str], Path]:
    """Pull the model with a kept partial of its blob; (the blob's digest, the Range of each GET, the partial)."""
    content = model_content(BLOB)
    layer = weights_digest(content)
    partial = _kept_partial(layer)
    ranges: list[str] = []
    with HostileRegistry() as registry:
        registry.routes[f"GET /v2/a/b/blobs/{layer}"] = _blob_route(on_range, on_whole, ranges)
        registry.routes[r"^(GET|HEAD) /v2/a/b/"] = serve_content(content)
        try:
            mp.pull(f"{registry.host}/a/b:1", options=PLAIN)
        finally:
            registry.stop.set()
    return layer, ranges, partial


@pytest.mark.parametrize("lie", list(LIES))
def test_a_lying_answer_to_the_resumed_range_restarts_the_blob_from_its_start(lie: str) -> None:
    layer, ranges, partial = _pull(LIES[lie])
    assert ranges == [f"bytes={KEPT}-{SIZE - 1}", ""]  # the rest, refused; then the whole blob, once
    assert LayoutStore().blob_path(layer).read_bytes() == BLOB  # not the kept bytes with the whole appended
    assert not partial.exists()


@pytest.mark.parametrize("answer", [lambda h: reply(h, 206, BLOB[KEPT:] + b"J" * 100_000, {"Content-Range": REST}),
                                    _endless], ids=["longer than asked", "endless"])
def test_a_resumed_range_is_read_to_its_end_and_no_further(answer: Answer) -> None:
    layer, ranges, _ = _pull(answer)
    assert ranges == [f"bytes={KEPT}-{SIZE - 1}"]
    assert LayoutStore().blob_path(layer).read_bytes() == BLOB


def test_a_part_sent_for_the_whole_blob_is_refused_unwritten() -> None:
    """The range refused (416), the whole blob is asked for, and a 206 of its rest comes back: those bytes
    were written as the blob's start (to be kept and resumed from by the next pull)."""
    part = lambda h: reply(h, 206, BLOB[KEPT:], {"Content-Range": REST})  # noqa: E731
    with pytest.raises(RegistryError, match=r"with a part of it \(HTTP 206\)"):
        _pull(LIES["416"], part)
    partial = LayoutStore().ingest_dir / f"{weights_digest(model_content(BLOB)).split(':')[1]}.partial"
    assert not partial.exists() or partial.stat().st_size == 0


def test_a_part_that_is_the_whole_blob_is_taken() -> None:
    whole = lambda h: reply(h, 206, BLOB, {"Content-Range": f"bytes 0-{SIZE - 1}/{SIZE}"})  # noqa: E731
    layer, ranges, _ = _pull(LIES["416"], whole)
    assert ranges == [f"bytes={KEPT}-{SIZE - 1}", ""]
    assert LayoutStore().blob_path(layer).read_bytes() == BLOB


def _endless_headers(handler: BaseHTTPRequestHandler) -> None:
    """A 206 whose headers never end: one header of 60 KB after another (the same bytes, sent again)."""
    handler.wfile.write(f"HTTP/1.1 206 Partial Content\r\nContent-Range: {REST}\r\n".encode())
    line = b"X-Pad: " + b"y" * 60_000 + b"\r\n"
    try:
        for _ in range(20_000):
            handler.wfile.write(line)
    except OSError:
        pass
    handler.close_connection = True


def _dripping(handler: BaseHTTPRequestHandler) -> None:
    """The rest's headers, then a byte every half second: far below any stall bound."""
    handler.send_response(206)
    handler.send_header("Content-Range", REST)
    handler.send_header("Content-Length", str(SIZE - KEPT))
    handler.end_headers()
    for byte in BLOB[KEPT:KEPT + 200]:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        if handler.server.stop_event.wait(0.5):  # type: ignore[attr-defined]
            return


def _silent(handler: BaseHTTPRequestHandler) -> None:
    handler.server.stop_event.wait()  # type: ignore[attr-defined]


@pytest.mark.parametrize(("answer", "error"), [
    (_endless_headers, RegistryError),  # named as such: "sent response headers over 300 KiB", not a cut
    (_dripping, TransportError), (_silent, TransportError)], ids=["endless headers", "dripping body", "no answer"])
def test_a_hostile_resumed_range_fails_bounded_and_keeps_what_was_received(answer: Answer,
                                                                          error: type[Exception]) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(error, match=None if error is TransportError else "response headers over 300 KiB"):
            _pull_stoppable(answer)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * MIB, peak  # headers are capped (300 KiB in all), not gathered without end
    partial = LayoutStore().ingest_dir / f"{weights_digest(model_content(BLOB)).split(':')[1]}.partial"
    assert partial.read_bytes()[:KEPT] == BLOB[:KEPT] and partial.stat().st_size <= KEPT + 200


def test_a_resumed_range_sent_in_tiny_pieces_is_received_in_bounded_memory() -> None:
    def tiny(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(206)
        handler.send_header("Content-Range", REST)
        handler.send_header("Content-Length", str(SIZE - KEPT))
        handler.end_headers()
        rest = memoryview(BLOB)[KEPT:]
        for at in range(0, len(rest), 7):
            handler.wfile.write(rest[at:at + 7])

    tracemalloc.start()
    try:
        layer, ranges, _ = _pull(tiny)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ranges == [f"bytes={KEPT}-{SIZE - 1}"]
    assert LayoutStore().blob_path(layer).read_bytes() == BLOB
    assert peak < 16 * MIB, peak


def _pull_stoppable(answer: Answer) -> None:
    def with_stop(handler: BaseHTTPRequestHandler) -> None:
        handler.server.stop_event = stop  # type: ignore[attr-defined]
        answer(handler)

    content = model_content(BLOB)
    layer = weights_digest(content)
    _kept_partial(layer)
    with HostileRegistry() as registry:
        stop = registry.stop
        registry.routes[f"GET /v2/a/b/blobs/{layer}"] = with_stop
        registry.routes[r"^(GET|HEAD) /v2/a/b/"] = serve_content(content)
        try:
            mp.pull(f"{registry.host}/a/b:1", options=ClientOptions(plain_http=True, backoff=0.01, timeout=2,
                                                                     retries=1))
        finally:
            stop.set()


def test_a_resumed_range_redirected_to_storage_keeps_its_range_and_not_the_credentials() -> None:
    content = model_content(BLOB)
    layer = weights_digest(content)
    partial = _kept_partial(layer)
    asked: list[str] = []

    def storage_answer(handler: BaseHTTPRequestHandler) -> None:
        asked.append(handler.headers.get("Range", ""))
        reply(handler, 206, BLOB[KEPT:], {"Content-Range": REST})

    with HostileRegistry() as registry, HostileRegistry() as storage:
        storage.routes[""] = storage_answer
        redirect = lambda h: reply(h, 307, b"", {"Location": f"http://localhost:{storage.port}/b?sig=x"})  # noqa: E731
        registry.routes[f"GET /v2/a/b/blobs/{layer}"] = basic_only(redirect)
        registry.routes[r"^(GET|HEAD) /v2/a/b/"] = basic_only(serve_content(content))
        registry.routes["/v2/"] = basic_only(lambda h: reply(h, 200, b"{}"))
        login_to(registry.host)
        mp.pull(f"{registry.host}/a/b:1", options=PLAIN)
    assert asked == [f"bytes={KEPT}-{SIZE - 1}"]  # the Range went on with the redirect; only the rest asked for
    assert_never_saw_the_secret(storage)
    assert storage.authorizations() == []
    assert LayoutStore().blob_path(layer).read_bytes() == BLOB
    assert not partial.exists()


@pytest.mark.parametrize("lie", ["200 whole", "416"])
def test_a_mirror_serving_the_blob_only_whole_completes_a_resumed_pull_without_the_origin(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lie: str) -> None:
    """An air-gapped node: the origin unreachable, a mirror that serves blobs but not their ranges. The
    mirror's refusal of the range marked it dead and the origin's failure was final: the kept download
    failed every pull of it (until `store gc`)."""
    content = model_content(BLOB)
    layer = weights_digest(content)
    partial = _kept_partial(layer)
    origin = f"127.0.0.1:{free_port()}"  # nothing listens there
    ranges: list[str] = []
    with HostileRegistry() as mirror:
        mirror.routes[f"GET /v2/a/b/blobs/{layer}"] = _blob_route(LIES[lie], lambda h: reply(h, 200, BLOB), ranges)
        mirror.routes[r"^(GET|HEAD) /v2/a/b/"] = serve_content(content)
        write_conf(tmp_path, monkeypatch, mirrored(origin, mirror.host, insecure=True))
        mp.pull(f"{origin}/a/b:1", options=PLAIN)
    assert ranges == [f"bytes={KEPT}-{SIZE - 1}", ""]  # the rest, refused; the whole blob from the mirror
    assert LayoutStore().blob_path(layer).read_bytes() == BLOB
    assert not partial.exists()
