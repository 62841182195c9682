"""The model a server answers for: its identity (name, version, digest), its metadata and inference."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelpack.serve.protocol import BadRequest, encode_response, output_tensor, parse_request
from modelpack.serve.runtimes import Runtime
from modelpack.serve.signature_check import check_inputs


@dataclass
class ServedModel:
    """A loaded model under the name and version it answers to, with the digest it was packed as."""

    name: str
    runtime: Runtime
    version: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    digest: str | None = None
    _outputs: list[str] | None = field(default=None, init=False, repr=False)
    _inputs: list[dict[str, Any]] | None = field(default=None, init=False, repr=False)

    def describe(self) -> dict[str, Any]:
        """The protocol's model metadata, with the artifact's digest and metadata in `parameters`."""
        inputs, outputs = self.runtime.signature()
        info: dict[str, Any] = {"name": self.name, "versions": [self.version] if self.version else [],
                                "platform": self.runtime.platform, "inputs": inputs, "outputs": outputs}
        parameters: dict[str, Any] = {key: self.metadata[key] for key in ("framework", "format", "metrics", "created")
                                      if key in self.metadata}
        if self.digest:
            parameters["digest"] = self.digest
        if parameters:
            info["parameters"] = parameters
        return info

    def answers_to(self, name: str, version: str | None) -> bool:
        """Whether a request path's model name and (optional) version are this model's."""
        return name == self.name and version in (None, self.version)

    def output_names(self) -> list[str]:
        if self._outputs is None:  # asked on every request; a runtime's signature does not change
            self._outputs = [str(o["name"]) for o in self.runtime.signature()[1]]
        return self._outputs

    def predict(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The model's outputs (numpy arrays by name) for inputs whose data fill their shapes.

        Raises:
            BadRequest: the inputs are not the ones the model declares (`signature_check`), or the model
                refuses them.
        """
        if self._inputs is None:  # a runtime's signature does not change
            self._inputs = self.runtime.signature()[0]
        check_inputs(inputs, self._inputs, self.runtime.named_inputs)
        try:
            return self.runtime.predict(inputs)
        except (ValueError, TypeError) as exc:
            raise BadRequest(f"the model refused the input: {exc}") from None
        except Exception as exc:  # runtimes raise their own types for bad input (onnxruntime's Fail, ...)
            raise BadRequest(f"the model refused the input: {type(exc).__name__}: {exc}") from None

    def infer(self, request: Any, binary: memoryview | None = None) -> tuple[bytes, int | None]:
        """A protocol response to a decoded request.

        Args:
            request: the request's JSON header, decoded.
            binary: the binary tensor data that followed it, if any.

        Returns:
            The response body, and the length of its JSON header when binary outputs follow it.

        Raises:
            BadRequest: the request breaks the protocol or the model refuses its inputs.
        """
        parsed = parse_request(request, self.output_names(), binary)
        results = self.predict(parsed.inputs)
        wanted = parsed.outputs or dict.fromkeys(results, parsed.binary_outputs)
        outputs, blobs = [], []
        for name, value in results.items():
            if name in wanted:
                tensor, blob = output_tensor(name, value, wanted[name])
                outputs.append(tensor)
                if blob is not None:
                    blobs.append(blob)
        response: dict[str, Any] = {"model_name": self.name, "outputs": outputs}
        if self.version:
            response["model_version"] = self.version
        if parsed.id is not None:
            response["id"] = parsed.id
        return encode_response(response, blobs)
