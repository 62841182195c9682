"""The served application: the protocol's endpoints inside the server's limits, every request counted."""

from __future__ import annotations

from typing import Any

from modelpack.serve.limits import ByteBudget, LimitsMiddleware, ServerLimits
from modelpack.serve.metrics import MetricsMiddleware, ServerMetrics
from modelpack.serve.oip_rest import create_app
from modelpack.serve.served_model import ServedModel


def build_app(model: ServedModel, limits: ServerLimits, metrics: ServerMetrics | None = None,
              budget: ByteBudget | None = None) -> Any:
    """The ASGI application for `model`: metrics outermost (refusals are counted too), then the limits,
    then the REST endpoints.

    Args:
        model: the loaded model.
        limits: concurrency, body size and body deadline.
        metrics: where requests are counted (default: new metrics for `model`).
        budget: the bytes bodies may hold at once, shared with gRPC (default: the limits' own).

    Returns:
        An ASGI application.
    """
    metrics = metrics or ServerMetrics(model.name, model.version, model.digest, model.runtime.platform)
    return MetricsMiddleware(LimitsMiddleware(create_app(model, metrics), limits, budget), metrics)
