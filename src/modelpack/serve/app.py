"""The served application: the protocol's endpoints inside the server's limits, every request counted."""

from __future__ import annotations

from typing import Any

from modelpack.http_hosts import HostCheck, HostNames
from modelpack.serve.limits import ByteBudget, LimitsMiddleware, ServerLimits
from modelpack.serve.metrics import MetricsMiddleware, ServerMetrics
from modelpack.serve.oip_rest import create_app
from modelpack.serve.served_model import ServedModel


def build_app(model: ServedModel, limits: ServerLimits, metrics: ServerMetrics | None = None,
              budget: ByteBudget | None = None, host_names: HostNames | None = None) -> Any:
    """The ASGI application for `model`: the Host check outermost (a rebinding page's request reaches
    nothing, not even the counts), then metrics (refusals are counted too), then the limits, then the REST
    endpoints.

    Args:
        model: the loaded model.
        limits: concurrency, body size and body deadline.
        metrics: where requests are counted (default: new metrics for `model`).
        budget: the bytes bodies may hold at once, shared with gRPC (default: the limits' own).
        host_names: the Host headers answered (`modelpack.http_hosts`); None answers any.

    Returns:
        An ASGI application.
    """
    metrics = metrics or ServerMetrics(model.name, model.version, model.digest, model.runtime.platform)
    app = MetricsMiddleware(LimitsMiddleware(create_app(model, metrics), limits, budget), metrics)
    return app if host_names is None else HostCheck(app, host_names)
