"""The serve byte budget charges a JSON body's bytes JSON_FACTOR times (what parsing them costs) and binary
tensor bytes once, as they arrive: driven here through the ASGI middleware itself, with a request holding
part of the budget for as long as the test needs (over the network, a loaded machine let the holder's
bytes arrive late or not at all within the test, and the probes fitted)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("starlette")

from modelpack.serve.limits import JSON_FACTOR, ByteBudget, LimitsMiddleware, ServerLimits

MiB = 1024 * 1024


async def _read_all(scope: Any, receive: Any, send: Any) -> None:
    """An app that reads its whole body, then answers 200."""
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def _scope(length: int, json_header: int | None = None) -> dict[str, Any]:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(length).encode())]
    if json_header is not None:
        headers.append((b"inference-header-content-length", str(json_header).encode()))
    return {"type": "http", "method": "POST", "path": "/v2/models/iris/infer", "headers": headers}


async def _request(middleware: LimitsMiddleware, scope: dict[str, Any], chunks: list[bytes],
                   then_wait: asyncio.Event | None = None) -> int:
    """Send `chunks` as the body (then, with `then_wait`, no more until it is set); the status answered."""
    pending = list(chunks)
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending) or then_wait is not None}
        assert then_wait is not None
        await then_wait.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await middleware(scope, receive, send)
    return statuses[0] if statuses else 0


def test_json_bytes_take_eight_times_their_size_of_the_budget_binary_tensors_once() -> None:
    async def scenario() -> tuple[int, int, int, int]:
        budget = ByteBudget(2 * MiB)
        middleware = LimitsMiddleware(_read_all, ServerLimits(max_request_bytes=MiB, request_timeout=600), budget)
        release = asyncio.Event()
        # 200,000 bytes of a JSON body that stays: 1.6 MB of the 2 MiB taken.
        holder = asyncio.create_task(_request(middleware, _scope(1_000_000), [b" " * 200_000], release))
        while budget.free != 2 * MiB - JSON_FACTOR * 200_000:
            await asyncio.sleep(0)
        held = budget.free
        json_probe = await _request(middleware, _scope(100_000), [b"[" * 100_000])  # 800,000 do not fit
        header = b'{"inputs": []}'
        binary = await _request(middleware, _scope(len(header) + 288_000, len(header)),
                                [header, b"\0" * 288_000])  # 288,000 + 8 x 14 fit
        release.set()
        await holder
        return held, json_probe, binary, budget.free

    held, json_probe, binary, free = asyncio.run(scenario())
    assert held == 2 * MiB - 1_600_000
    assert json_probe == 503 and binary == 200
    assert free == 2 * MiB  # every charge given back


def test_a_json_body_alone_takes_at_most_the_whole_budget() -> None:
    # 16 MiB of JSON would be 128 MiB of charge; alone, it still runs (the largest body is not refused).
    async def scenario() -> tuple[int, int]:
        budget = ByteBudget(32 * MiB)
        middleware = LimitsMiddleware(_read_all, ServerLimits(), budget)
        body = b" " * (16 * MiB)
        status = await _request(middleware, _scope(len(body)), [body[i:i + MiB] for i in range(0, len(body), MiB)])
        return status, budget.free

    assert asyncio.run(scenario()) == (200, 32 * MiB)
