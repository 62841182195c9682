"""Prometheus metrics of a server, every series labelled with the model's name, version and digest, so
what monitoring sees is tied to exactly one packed model.

With `serve --workers N` each worker process counts into files of its own in one folder (prometheus-client's
multiprocess mode, `SHARED_DIR_ENV`, set by `workers.run_workers` before prometheus-client is imported), and
every worker's /metrics page adds them all up: a scrape sees the whole server, whichever worker answers it.
"""

from __future__ import annotations

import os
import time
from typing import Any

from modelpack.cli.escape import clean

LABELS = ("model", "version", "digest")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SHARED_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own name: it reads it at import


class ServerMetrics:
    """Request counts, errors and latencies of one served model, in a registry of their own."""

    def __init__(self, name: str, version: str | None, digest: str | None, platform: str) -> None:
        """Args:
            name: the model's name in the API.
            version: its version ("" when it has none).
            digest: the artifact's manifest digest ("" when unknown, e.g. a directory never packed).
            platform: the runtime (sklearn, onnxruntime_onnx).
        """
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self._shared = os.environ.get(SHARED_DIR_ENV) or None
        # The version is the artifact's (serve REF): shown escaped, as a terminal reading /metrics would need.
        self._identity = {"model": name, "version": clean(version or ""), "digest": digest or ""}
        info = Gauge("modelpack_model_info", "The served model (value 1).", [*LABELS, "platform"],
                     registry=self.registry, multiprocess_mode="max")
        info.labels(**self._identity, platform=platform).set(1)
        workers = Gauge("modelpack_workers", "Server processes running (serve --workers).", LABELS,
                        registry=self.registry, multiprocess_mode="livesum")
        workers.labels(**self._identity).set(1)
        self._requests = Counter("modelpack_requests", "Requests answered, by endpoint and HTTP status.",
                                 [*LABELS, "endpoint", "code"], registry=self.registry)
        self._errors = Counter("modelpack_request_errors", "Requests answered with an error status (4xx, 5xx).",
                               [*LABELS, "endpoint", "code"], registry=self.registry)
        self._latency = Histogram("modelpack_request_duration_seconds",
                                  "Time from the request's headers to its response, by endpoint.",
                                  [*LABELS, "endpoint"], registry=self.registry,
                                  buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                           1.0, 2.5, 5.0, 10.0))
        # (endpoint, code) -> its request counter, error counter (None for a success) and latency histogram;
        # bounded: endpoints are a fixed set and codes the server's own.
        self._series: dict[tuple[str, int | str], tuple[Any, Any, Any]] = {}

    def observe(self, endpoint: str, code: int | str, seconds: float) -> None:
        """Count one answered request.

        Args:
            endpoint: a fixed name (infer, metadata, ready, health, server, metrics, other), never the
                client's path.
            code: the HTTP status sent, or the gRPC status' name (OK, INVALID_ARGUMENT ...).
            seconds: how long it took.
        """
        series = self._series.get((endpoint, code))
        if series is None:  # labels() looks its child up by a tuple of strings: done once per pair
            labels = {**self._identity, "endpoint": endpoint}
            failed = code != "OK" and (isinstance(code, str) or code >= 400)
            series = self._series[(endpoint, code)] = (
                self._requests.labels(**labels, code=str(code)),
                self._errors.labels(**labels, code=str(code)) if failed else None,
                self._latency.labels(**labels))
        requests, errors, latency = series
        requests.inc()
        if errors is not None:
            errors.inc()
        latency.observe(seconds)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format: with --workers, every worker's added up."""
        from prometheus_client import CollectorRegistry, generate_latest

        if self._shared is None:
            return bytes(generate_latest(self.registry))
        from prometheus_client.multiprocess import MultiProcessCollector

        everyone = CollectorRegistry()
        MultiProcessCollector(everyone, path=self._shared)
        return bytes(generate_latest(everyone))


def endpoint_of(path: str) -> str:
    """A bounded label for a request path (the path itself would let clients add series at will)."""
    parts: list[Any] = path.rstrip("/").split("/")
    if path.startswith("/v2/health/"):
        return "health"
    if path.rstrip("/") == "/v2":
        return "server"
    if path == "/metrics":
        return "metrics"
    if path.startswith("/v2/models/"):
        return {"infer": "infer", "ready": "ready"}.get(parts[-1], "metadata")
    return "other"


class MetricsMiddleware:
    """ASGI middleware counting every answered request (refusals of the limits included) in `metrics`."""

    def __init__(self, app: Any, metrics: ServerMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status, observed = time.perf_counter(), 500, False
        head: Any = None  # the response's start, held back until its body goes (see observing_send)

        def observe() -> None:
            nonlocal observed
            if not observed:
                observed = True
                self.metrics.observe(endpoint_of(scope["path"]), status, time.perf_counter() - started)

        async def observing_send(message: Any) -> None:
            nonlocal status, head
            if message["type"] == "http.response.start":
                # uvicorn writes the status line as soon as it is given: a client that needs no more (one that
                # reads the status) could scrape before the request was counted. Held back, it goes with the body.
                status, head = message["status"], message
                return
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                # Counted before the response's last bytes go: a client that has its answer and then scrapes
                # /metrics (any worker) finds it counted; counted after, a scrape could come first.
                observe()
            if head is not None:
                await send(head)
                head = None
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        finally:
            if head is not None:  # its start never went (the app failed, or ended without a body): uvicorn answers 500
                status = 500
            observe()
