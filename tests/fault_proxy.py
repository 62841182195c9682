"""An HTTP proxy in front of a real registry that records every request and can inject faults:
cut a response after N bytes, or answer a request with a status of its own (e.g. 503) a set number of
times. Registry behaviour stays the registry's own; the proxy only observes and breaks the wire."""

from __future__ import annotations

import http.client
import json
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from background_server import BackgroundServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization"}


class _QuietServer(ThreadingHTTPServer):
    """Hang-ups mid-request are what several tests do on purpose; anything else is still reported."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError | http.client.HTTPException | TimeoutError):
            super().handle_error(request, client_address)


@dataclass
class Fault:
    """Applies to requests whose "METHOD /path" matches `pattern`, at most `times` times."""

    pattern: str
    times: int = 1
    cut_after: int | None = None  # bytes of response body to send before closing the connection
    cut_request_after: int | None = None  # bytes of request body to read before closing the connection
    # With `status`: read only this many bytes of the request body before answering (then hang up)
    answer_after: int | None = None
    pause_request_after: int | None = None  # bytes of request body forwarded before waiting for `release`
    status: int | None = None  # answer this instead of forwarding
    body: bytes = b""  # with `status`: the answer's body (its length told on HEAD too, as a registry does)
    headers: dict[str, str] = field(default_factory=dict)
    stall_after: int | None = None  # bytes of response body to send before waiting for `release` (30 s at most)
    release: threading.Event = field(default_factory=threading.Event)
    hold: bool = False  # hold the request, unforwarded, until `release` (30 s at most), then hang up
    arrived: threading.Event = field(default_factory=threading.Event)  # set when a held request came
    taken: list[str] = field(default_factory=list)  # the request lines it applied to ("PATCH /v2/...")

    def matches(self, line: str) -> bool:
        return self.times > 0 and re.search(self.pattern, line) is not None


class FaultProxy(BackgroundServer):
    """With `referrers_api=True` it also answers the OCI 1.1 referrers API (GET
    /v2/<name>/referrers/<digest>, and `OCI-Subject` on manifest pushes), from the manifests with a
    `subject` pushed through it: neither registry available here implements that API, and the
    client's path for registries that do needs a test. Everything else is the real registry's."""

    def __init__(self, upstream: str, referrers_api: bool = False) -> None:
        self.upstream = upstream  # host:port of the real registry (plain HTTP)
        self.referrers_api = referrers_api
        self._referrers: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.log: list[tuple[str, int]] = []  # ("GET /v2/...", status)
        self.body_bytes = 0  # response body bytes relayed to clients
        self.faults: list[Fault] = []
        self.proxy_auth: str | None = None  # "Basic ..." a request must carry, else 407
        self._lock = threading.Lock()
        super().__init__(self._handler(), _QuietServer)

    def requests(self, method: str | None = None, contains: str = "") -> list[str]:
        with self._lock:
            return [line for line, _ in self.log if (method is None or line.startswith(method + " "))
                    and contains in line]

    def clear(self) -> None:
        with self._lock:
            self.log.clear()
            self.body_bytes = 0

    def _take_fault(self, line: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(line):
                    fault.times -= 1
                    fault.taken.append(line)
                    return fault
        return None

    def _record(self, line: str, status: int) -> None:
        with self._lock:
            self.log.append((line, status))

    def _handler(self) -> Callable[..., BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                line = f"{self.command} {self.path}"
                if proxy.referrers_api and self.command == "GET" and "/referrers/" in self.path:
                    proxy._record(line, 200)
                    self._answer_referrers()
                    return
                if self.headers.get("Range"):
                    line += f" [Range: {self.headers['Range']}]"
                if proxy.proxy_auth is not None and self.headers.get("Proxy-Authorization") != proxy.proxy_auth:
                    proxy._record(line, 407)
                    self.send_response(407)
                    self.send_header("Proxy-Authenticate", 'Basic realm="proxy"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                fault = proxy._take_fault(line)
                length = int(self.headers.get("Content-Length") or 0)
                if fault is not None and fault.status is not None:
                    early = fault.answer_after is not None
                    if length:
                        self.rfile.read(min(length, fault.answer_after) if early else length)
                    if early:
                        self.close_connection = True  # the rest of the body is never read
                    proxy._record(line, fault.status)
                    self.send_response(fault.status)
                    for key, value in fault.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(fault.body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(fault.body)
                    return
                if fault is not None and fault.hold:
                    fault.arrived.set()
                    fault.release.wait(30)  # the client waits on a write that never reaches the registry
                    proxy._record(line, 0)
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault is not None and fault.cut_request_after is not None:
                    self.rfile.read(min(length, fault.cut_request_after))
                    proxy._record(line, 0)
                    self.close_connection = True
                    self.connection.shutdown(2)  # the client's upload dies mid-body
                    return
                upstream = http.client.HTTPConnection(proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for key, value in headers.items():
                    upstream.putheader(key, value)
                upstream.endheaders()
                remaining = length
                manifest_body = b""
                is_manifest_put = self.command == "PUT" and "/manifests/" in self.path
                pause = fault.pause_request_after if fault is not None else None
                while remaining > 0:
                    if pause is not None and fault is not None and length - remaining >= pause:
                        fault.arrived.set()
                        fault.release.wait(30)  # the client goes on sending into the socket's buffers
                        pause = None
                    chunk = self.rfile.read(min(1 << 20, remaining))
                    if not chunk:
                        break
                    upstream.send(chunk)
                    if is_manifest_put:
                        manifest_body += chunk
                    remaining -= len(chunk)
                resp = upstream.getresponse()
                proxy._record(line, resp.status)
                subject = None
                if proxy.referrers_api and is_manifest_put and resp.status == 201:
                    subject = proxy._remember(self.path, manifest_body, resp.getheader("Docker-Content-Digest"))
                if proxy.referrers_api and self.command == "DELETE" and resp.status == 202:
                    proxy._forget(self.path.split("?")[0].rsplit("/", 1)[-1])
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in HOP_BY_HOP:
                        self.send_header(key, value)
                if subject:
                    self.send_header("OCI-Subject", subject)
                self.end_headers()
                sent = 0
                limit = fault.cut_after if fault is not None else None
                while self.command != "HEAD":
                    chunk = resp.read(1 << 16)
                    if not chunk:
                        break
                    stall = fault.stall_after if fault is not None else None
                    if fault is not None and stall is not None and sent <= stall < sent + len(chunk):
                        self.wfile.write(chunk[: stall - sent])
                        self.wfile.flush()
                        fault.release.wait(30)  # the client holds a blob half received meanwhile
                        chunk, sent = chunk[stall - sent:], stall
                    if limit is not None and sent + len(chunk) >= limit:
                        self.wfile.write(chunk[: limit - sent])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)  # cut mid-body
                        upstream.close()
                        return
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    with proxy._lock:
                        proxy.body_bytes += len(chunk)
                upstream.close()

            def _answer_referrers(self) -> None:
                name, _, digest = self.path.split("?")[0].removeprefix("/v2/").partition("/referrers/")
                body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                   "manifests": proxy._referrers.get((name, digest), [])}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.oci.image.index.v1+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

        return Handler

    def _forget(self, digest: str) -> None:
        """A manifest deleted leaves the referrers lists it was in, as the referrers API requires."""
        with self._lock:
            for key, entries in self._referrers.items():
                self._referrers[key] = [e for e in entries if e["digest"] != digest]

    def _remember(self, path: str, body: bytes, digest: str | None) -> str | None:
        try:
            manifest = json.loads(body)
        except ValueError:
            return None
        subject = manifest.get("subject") if isinstance(manifest, dict) else None
        if not subject or not digest:
            return None
        name = path.removeprefix("/v2/").split("/manifests/")[0]
        entry = {"mediaType": manifest.get("mediaType"), "digest": digest, "size": len(body),
                 "artifactType": manifest.get("artifactType") or manifest["config"]["mediaType"]}
        if manifest.get("annotations"):
            entry["annotations"] = manifest["annotations"]
        with self._lock:
            self._referrers.setdefault((name, subject["digest"]), []).append(entry)
        return str(subject["digest"])



def change_when_held(held: Fault, path: Path, change: str, tail: bytes) -> threading.Thread:
    """A started thread that, once `held`'s request arrives, changes the file at `path` ("same-size": its
    last len(tail) bytes become `tail`; "grows": `tail` is appended; "shrinks": len(tail) bytes are cut
    off), then releases the request. Join it after the command ends (and set `held.release`)."""

    def edit() -> None:
        if not held.arrived.wait(60):
            return
        size = path.stat().st_size
        with path.open("r+b") as f:
            if change == "shrinks":
                f.truncate(size - len(tail))
            else:
                f.seek(size - len(tail) if change == "same-size" else size)
                f.write(tail)
        held.release.set()

    thread = threading.Thread(target=edit)
    thread.start()
    return thread
