"""The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`), for one model, on grpcio.

Inputs come as `raw_input_contents` (little-endian bytes, as in the binary tensor extension) or as
typed `contents`; both are checked like REST requests (datatype ranges, element counts). Outputs are
sent as `raw_output_contents`. Errors are gRPC statuses: INVALID_ARGUMENT for a request that breaks the
protocol, NOT_FOUND for an unknown model or version, RESOURCE_EXHAUSTED past the limits: at most `threads`
calls at once (grpcio would queue any number of them, each message in memory), and inference messages
take their size from the byte budget REST bodies take theirs from, before they are parsed (a parsed
message and the arrays made from it cost several times its bytes: 128 calls of 16 MiB at once took the
server from 0.2 to 1.9 GB when the budget was taken after parsing).

ModelInfer's message is read only when a turn to receive is free (`grpc_receive`): gRPC's core holds
a whole message before the budget can be taken, and held one per call at once.

Every call is counted in the metrics, refusals included: those grpcio makes itself past `threads` calls
(the method's endpoint, RESOURCE_EXHAUSTED), messages over `max_message_bytes`, which gRPC's core refuses
(RESOURCE_EXHAUSTED; told from a client leaving mid-message, CANCELLED, by `grpc_receive`), messages too
slow to arrive (DEADLINE_EXCEEDED, `grpc_receive`), and calls whose client's deadline passed while they ran
(DEADLINE_EXCEEDED; grpcio drops the answer).
"""

from __future__ import annotations

import math
import time
from typing import Any

from modelpack.advice import compose, setting
from modelpack.errors import MissingDependencyError, UsageError
from modelpack.serve import binary_tensors
from modelpack.serve.datatypes import NUMPY_TYPES, DatatypeError, check_values, datatype_of
from modelpack.serve.grpc_receive import ReceiveSlots
from modelpack.serve.grpc_schema import METHODS, SERVICE, messages
from modelpack.serve.limits import ByteBudget
from modelpack.serve.metrics import ServerMetrics
from modelpack.serve.protocol import BadRequest
from modelpack.serve.runtimes import GRPC_MISSING
from modelpack.serve.served_model import ServedModel
from modelpack.threads import signals_blocked, worker_pool
from modelpack.version import __version__

# The `contents` field each datatype travels in (FP16 only as raw contents, as the protocol says).
_CONTENTS = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
             "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
             "UINT32": "uint_contents", "UINT64": "uint64_contents", "FP32": "fp32_contents",
             "FP64": "fp64_contents", "BYTES": "bytes_contents"}


def start_grpc(model: ServedModel, metrics: ServerMetrics, host: str, port: int, max_message_bytes: int,
               threads: int = 4, budget: ByteBudget | None = None, call_timeout: float = 30.0,
               receive_timeout: float | None = None) -> tuple[Any, int]:
    """Start a gRPC server for `model` on `host`:`port`.

    Args:
        model: the loaded model.
        metrics: where calls are counted (endpoint `grpc_<Method>`).
        host: address to listen on.
        port: port (0: any free port).
        max_message_bytes: the largest request message.
        threads: calls handled at once; one more is refused (RESOURCE_EXHAUSTED).
        budget: bytes that inference messages (and REST bodies) may hold at once (default: twice
            `max_message_bytes` of its own).
        call_timeout: a connection ends after ten times this (GOAWAY; clients reconnect), and its calls
            still unfinished (an answer the client does not read) this much later; a call waits this long
            for its turn to be received.
        receive_timeout: seconds a message has to arrive once its turn came (default: `call_timeout`).

    Returns:
        (the running grpc.Server, the port it listens on); stop it with `.stop(grace)`.

    Raises:
        MissingDependencyError: grpcio or protobuf is not installed.
        UsageError: the port cannot be bound.
    """
    try:
        import grpc

        classes = messages()
    except ImportError:
        raise MissingDependencyError(GRPC_MISSING) from None
    handlers = {}
    budget = budget or ByteBudget(2 * max_message_bytes)
    # As many of the largest messages as the budget holds are received at once (see grpc_receive).
    service = _Service(model, classes, grpc, budget,
                       ReceiveSlots(budget.total // max(max_message_bytes, 1), call_timeout, max_message_bytes,
                                    receive_timeout))
    for method, (request, response) in METHODS.items():
        read = classes[request].FromString
        # Every message is read when the handler asks for it, within the receive deadline: ModelInfer's
        # one turn at a time, the others' (small) at once. A unary handler's message was read by grpcio
        # with no deadline: a client trickling one held its call until its connection's age ran out.
        handler = _observed(metrics, method, _reading(service.slots, method, getattr(service, method), grpc))
        handlers[method] = grpc.stream_unary_rpc_method_handler(
            handler, request_deserializer=_budgeted(read, budget) if method == "ModelInfer" else read,
            response_serializer=classes[response].SerializeToString)
    # Calls run on our workers (`worker_pool`), born with SIGINT and SIGTERM blocked; gRPC's own threads,
    # made by the server and its start, are born so too: stop signals reach the main thread only.
    with signals_blocked():
        # An answer its client does not read stays in memory while the connection lasts: connections end.
        server = grpc.server(worker_pool(threads, "modelpack-grpc"), maximum_concurrent_rpcs=threads,
                             options=[("grpc.max_receive_message_length", max_message_bytes),
                                      # A call not reading yet may be sent its stream's window, which
                                      # bandwidth probing grows to MiBs (32 such 16 MiB calls: +170 MB).
                                      ("grpc.http2.bdp_probe", 0),
                                      ("grpc.max_connection_age_ms", milliseconds(10 * call_timeout)),
                                      ("grpc.max_connection_age_grace_ms", milliseconds(call_timeout))])
    server.add_generic_rpc_handlers((_CountingRefusals(grpc.method_handlers_generic_handler(SERVICE, handlers),
                                                       server, metrics),))
    bound = bind(server, host, port)
    with signals_blocked():
        server.start()
    return server, bound


def bind(server: Any, host: str, port: int) -> int:
    """Have the gRPC `server` (not started) listen on `host`:`port`; the port it listens on.

    Raises:
        UsageError: the port cannot be bound.
    """
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = int(server.add_insecure_port(address))
    except RuntimeError:
        bound = 0
    if not bound:
        raise UsageError(f"cannot listen on {host}:{port} for gRPC",
                         advice=compose("choose another {}", setting("grpc_port", "--grpc-port")))
    return bound


def milliseconds(seconds: float) -> int:
    """Milliseconds for a gRPC option: a C int (--request-timeout goes up to 1,000,000 s)."""
    return min(int(seconds * 1000), 2 ** 31 - 1)


def _reading(slots: ReceiveSlots, method: str, call: Any, grpc: Any) -> Any:
    """A stream-unary handler that reads the call's one message (`grpc_receive`) and answers it."""

    def handler(requests: Any, context: Any) -> Any:
        turn = method == "ModelInfer"
        return call(slots.first_message(requests, context, grpc.StatusCode, method, turn), context)

    return handler


def _observed(metrics: ServerMetrics, method: str, call: Any) -> Any:
    def handler(request: Any, context: Any) -> Any:
        started, code = time.perf_counter(), "OK"
        try:
            return call(request, context)
        except Exception:
            code = str(getattr(context.code(), "name", None) or "UNKNOWN") if hasattr(context, "code") else "UNKNOWN"
            raise
        finally:
            left = context.time_remaining() if hasattr(context, "time_remaining") else None
            if code == "OK" and left is not None and left <= 0:
                code = "DEADLINE_EXCEEDED"  # the client has given up: grpcio drops the answer
            metrics.observe(f"grpc_{method}", code, time.perf_counter() - started)

    return handler


class _Budgeted:
    """A ModelInfer message (None: refused for the budget) and the bytes of the budget it holds."""

    __slots__ = ("message", "size")

    def __init__(self, message: Any, size: int) -> None:
        self.message, self.size = message, size


def _budgeted(parse: Any, budget: ByteBudget) -> Any:
    """A request deserializer taking the message's bytes from `budget` before parsing it: grpcio calls
    the handler with whatever it returns, so the handler gives them back."""

    def read(data: bytes) -> _Budgeted:
        if not budget.take(len(data)):
            return _Budgeted(None, 0)
        try:
            return _Budgeted(parse(data), len(data))
        except BaseException:
            budget.release(len(data))
            raise

    return read


class _CountingRefusals:
    """A generic handler that counts the calls grpcio refuses itself past `maximum_concurrent_rpcs`.

    grpcio asks its handlers for every call, under the lock its own count is checked under, and then
    refuses the call without running it; the count is read from grpcio's server state (private: when a
    release renames it, such refusals are not counted, and calls are still served).
    """

    def __init__(self, inner: Any, server: Any, metrics: ServerMetrics) -> None:
        self.inner, self.metrics = inner, metrics
        self.state = getattr(server, "_state", None)

    def service(self, details: Any) -> Any:
        handler = self.inner.service(details)
        limit = getattr(self.state, "maximum_concurrent_rpcs", None)
        active = getattr(self.state, "active_rpc_count", None)
        if handler is not None and isinstance(limit, int) and isinstance(active, int) and active >= limit:
            method = str(details.method).rsplit("/", 1)[-1]
            self.metrics.observe(f"grpc_{method}", "RESOURCE_EXHAUSTED", 0.0)
        return handler


class _Service:
    def __init__(self, model: ServedModel, classes: dict[str, Any], grpc: Any, budget: ByteBudget,
                 slots: ReceiveSlots) -> None:
        self.model, self.classes, self.grpc, self.budget, self.slots = model, classes, grpc, budget, slots

    def _known(self, name: str, version: str, context: Any) -> None:
        if not self.model.answers_to(name, version or None):
            context.abort(self.grpc.StatusCode.NOT_FOUND,
                          f"unknown model {name!r}" + (f" version {version!r}" if version else ""))

    def ServerLive(self, request: Any, context: Any) -> Any:
        return self.classes["ServerLiveResponse"](live=True)

    def ServerReady(self, request: Any, context: Any) -> Any:
        return self.classes["ServerReadyResponse"](ready=True)

    def ModelReady(self, request: Any, context: Any) -> Any:
        return self.classes["ModelReadyResponse"](ready=self.model.answers_to(request.name, request.version or None))

    def ServerMetadata(self, request: Any, context: Any) -> Any:
        return self.classes["ServerMetadataResponse"](name="modelpack", version=__version__,
                                                      extensions=["binary_tensor_data"])

    def ModelMetadata(self, request: Any, context: Any) -> Any:
        self._known(request.name, request.version, context)
        info = self.model.describe()
        return self.classes["ModelMetadataResponse"](name=info["name"], versions=info["versions"],
                                                     platform=info["platform"], inputs=info["inputs"],
                                                     outputs=info["outputs"])

    def ModelInfer(self, request: Any, context: Any) -> Any:
        try:
            if request.message is None:
                context.abort(self.grpc.StatusCode.RESOURCE_EXHAUSTED, "the server is busy: the messages of "
                              "other requests fill its memory budget; retry later")
            self._known(request.message.model_name, request.message.model_version, context)
            return self._infer(request.message, context)
        finally:
            self.budget.release(request.size)

    def _infer(self, request: Any, context: Any) -> Any:
        try:
            inputs = _inputs(request)
            wanted = [o.name for o in request.outputs]
            unknown = [name for name in wanted if name not in self.model.output_names()]
            if unknown:
                raise BadRequest(f"unknown output {unknown[0]!r}; the model's outputs are "
                                 f"{', '.join(self.model.output_names())}")
            results = self.model.predict(inputs)
        except (BadRequest, DatatypeError) as exc:
            context.abort(self.grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        response = self.classes["ModelInferResponse"](model_name=self.model.name,
                                                      model_version=self.model.version or "", id=request.id)
        for name, value in results.items():
            if wanted and name not in wanted:
                continue
            import numpy as np

            array = np.asarray(value)
            datatype = datatype_of(array.dtype)
            response.outputs.add(name=name, datatype=datatype, shape=list(array.shape))
            response.raw_output_contents.append(binary_tensors.encode(array, datatype))
        return response


def _inputs(request: Any) -> dict[str, Any]:
    """Checked numpy arrays from a ModelInferRequest's inputs (raw or typed contents)."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise BadRequest(f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs")
    arrays: dict[str, Any] = {}
    for i, tensor in enumerate(request.inputs):
        where = f"input {tensor.name!r}"
        if tensor.datatype not in NUMPY_TYPES:
            raise BadRequest(f"{where}: datatype {tensor.datatype!r} is not one of {', '.join(NUMPY_TYPES)}")
        shape = list(tensor.shape)
        if any(d < 0 for d in shape):
            raise BadRequest(f"{where}: shape must be non-negative integers")
        if tensor.name in arrays:
            raise BadRequest(f"inputs[{i}]: a second input named {tensor.name!r}")
        try:
            arrays[tensor.name] = _array(tensor, shape, raw[i] if raw else None, where)
        except DatatypeError:
            raise
        except ValueError as exc:  # numpy's, e.g. a shape too big to exist: checked above as far as we can
            raise BadRequest(f"{where}: data do not fit {tensor.datatype} {shape}: {exc}") from None
    return arrays


def _array(tensor: Any, shape: list[int], raw: bytes | None, where: str) -> Any:
    """One input's numpy array from its raw bytes or its typed contents."""
    import numpy as np

    if raw is not None:
        return binary_tensors.decode(tensor.datatype, shape, memoryview(raw), where)
    if tensor.datatype == "FP16":
        raise BadRequest(f"{where}: FP16 data must be sent as raw_input_contents")
    values = list(getattr(tensor.contents, _CONTENTS[tensor.datatype]))
    count = math.prod(shape)  # a Python int: numpy's product of int64s wraps around (2**32 * 2**32 == 0)
    if len(values) != count:
        raise BadRequest(f"{where}: {len(values)} values do not fit shape {shape} ({count} values)")
    if tensor.datatype != "BYTES":
        check_values(values, tensor.datatype, where)
    return np.array(values, dtype=NUMPY_TYPES[tensor.datatype]).reshape(shape)
