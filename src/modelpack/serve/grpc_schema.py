"""The Open Inference Protocol's gRPC messages (package `inference`), built at run time from the field
table below (names, numbers and types as the protocol specifies them), so no generated code is needed.

Use `messages()` for the classes: `messages()["ModelInferRequest"]` and so on.
"""

from __future__ import annotations

import functools
from typing import Any

PACKAGE = "inference"
SERVICE = f"{PACKAGE}.GRPCInferenceService"
PARAMETERS = "map"  # a field of type map<string, InferParameter>

# message -> [(field, number, type)]; "T*" is repeated T; a capitalised type is a message of this package.
_MESSAGES: dict[str, list[tuple[str, int, str]]] = {
    "ServerLiveRequest": [],
    "ServerLiveResponse": [("live", 1, "bool")],
    "ServerReadyRequest": [],
    "ServerReadyResponse": [("ready", 1, "bool")],
    "ModelReadyRequest": [("name", 1, "string"), ("version", 2, "string")],
    "ModelReadyResponse": [("ready", 1, "bool")],
    "ServerMetadataRequest": [],
    "ServerMetadataResponse": [("name", 1, "string"), ("version", 2, "string"), ("extensions", 3, "string*")],
    "ModelMetadataRequest": [("name", 1, "string"), ("version", 2, "string")],
    "ModelMetadataResponse.TensorMetadata": [("name", 1, "string"), ("datatype", 2, "string"), ("shape", 3, "int64*")],
    "ModelMetadataResponse": [("name", 1, "string"), ("versions", 2, "string*"), ("platform", 3, "string"),
                              ("inputs", 4, "ModelMetadataResponse.TensorMetadata*"),
                              ("outputs", 5, "ModelMetadataResponse.TensorMetadata*")],
    "ModelInferRequest.InferInputTensor": [("name", 1, "string"), ("datatype", 2, "string"), ("shape", 3, "int64*"),
                                           ("parameters", 4, PARAMETERS), ("contents", 5, "InferTensorContents")],
    "ModelInferRequest.InferRequestedOutputTensor": [("name", 1, "string"), ("parameters", 2, PARAMETERS)],
    "ModelInferRequest": [("model_name", 1, "string"), ("model_version", 2, "string"), ("id", 3, "string"),
                          ("parameters", 4, PARAMETERS), ("inputs", 5, "ModelInferRequest.InferInputTensor*"),
                          ("outputs", 6, "ModelInferRequest.InferRequestedOutputTensor*"),
                          ("raw_input_contents", 7, "bytes*")],
    "ModelInferResponse.InferOutputTensor": [("name", 1, "string"), ("datatype", 2, "string"), ("shape", 3, "int64*"),
                                             ("parameters", 4, PARAMETERS), ("contents", 5, "InferTensorContents")],
    "ModelInferResponse": [("model_name", 1, "string"), ("model_version", 2, "string"), ("id", 3, "string"),
                           ("parameters", 4, PARAMETERS), ("outputs", 5, "ModelInferResponse.InferOutputTensor*"),
                           ("raw_output_contents", 6, "bytes*")],
    # one of these is set (a oneof named parameter_choice)
    "InferParameter": [("bool_param", 1, "bool"), ("int64_param", 2, "int64"), ("string_param", 3, "string"),
                       ("double_param", 4, "double"), ("uint64_param", 5, "uint64")],
    "InferTensorContents": [("bool_contents", 1, "bool*"), ("int_contents", 2, "int32*"),
                            ("int64_contents", 3, "int64*"), ("uint_contents", 4, "uint32*"),
                            ("uint64_contents", 5, "uint64*"), ("fp32_contents", 6, "float*"),
                            ("fp64_contents", 7, "double*"), ("bytes_contents", 8, "bytes*")],
}
# The RPCs of the service: method -> (request message, response message).
METHODS = {name: (f"{name}Request", f"{name}Response")
           for name in ("ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer")}


@functools.cache
def messages() -> dict[str, Any]:
    """The message classes by name (nested ones as "Outer.Inner").

    Raises:
        ImportError: protobuf is not installed.
    """
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    proto = descriptor_pb2.FileDescriptorProto(name="modelpack_open_inference.proto", package=PACKAGE,
                                               syntax="proto3")
    built: dict[str, Any] = {}
    for name in sorted(_MESSAGES, key=lambda n: "." in n):  # outer messages first
        fields = _MESSAGES[name]
        outer, _, inner = name.partition(".")
        message = built[outer].nested_type.add(name=inner) if inner else proto.message_type.add(name=name)
        built[name] = message
        for field, number, kind in fields:
            _add_field(message, name, field, number, kind, descriptor_pb2)
        if name == "InferParameter":
            message.oneof_decl.add(name="parameter_choice")
            for field in message.field:
                field.oneof_index = 0
    service = proto.service.add(name="GRPCInferenceService")
    for method, (request, response) in METHODS.items():
        service.method.add(name=method, input_type=f".{PACKAGE}.{request}", output_type=f".{PACKAGE}.{response}")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
            for name in _MESSAGES}


def _add_field(message: Any, owner: str, field: str, number: int, kind: str, descriptor_pb2: Any) -> None:
    types = descriptor_pb2.FieldDescriptorProto
    repeated = kind.endswith("*") or kind == PARAMETERS
    label = types.LABEL_REPEATED if repeated else types.LABEL_OPTIONAL
    kind = kind.rstrip("*")
    if kind == PARAMETERS:  # a map is a repeated nested entry message with key and value
        entry = message.nested_type.add(name="ParametersEntry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, label=types.LABEL_OPTIONAL, type=types.TYPE_STRING)
        entry.field.add(name="value", number=2, label=types.LABEL_OPTIONAL, type=types.TYPE_MESSAGE,
                        type_name=f".{PACKAGE}.InferParameter")
        message.field.add(name=field, number=number, label=label, type=types.TYPE_MESSAGE,
                          type_name=f".{PACKAGE}.{owner}.ParametersEntry")
    elif kind[0].isupper():
        message.field.add(name=field, number=number, label=label, type=types.TYPE_MESSAGE,
                          type_name=f".{PACKAGE}.{kind}")
    else:
        message.field.add(name=field, number=number, label=label,
                          type=getattr(types, f"TYPE_{kind.upper()}"))
