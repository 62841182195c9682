"""The Open Inference Protocol (V2) request check: a KServe V1 body is named as such, with the V2 shape
to send instead (a newcomer's first curl from KServe's V1 examples got only "needs 'inputs'")."""

from __future__ import annotations

import pytest

pytest.importorskip("numpy")

from modelpack.serve.protocol import BadRequest, parse_request


def test_a_v1_body_is_named_with_the_v2_shape_to_send() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_request({"instances": [[5.1, 3.5, 1.4, 0.2]]}, ["output-0"])
    message = str(caught.value)
    assert "'instances' is KServe's V1 protocol" in message and '{"inputs": [{"name"' in message


@pytest.mark.parametrize("body", [{}, {"inputs": []}, [1, 2], {"inputs": {"name": "x"}}])
def test_other_bodies_without_inputs_get_the_plain_line(body: object) -> None:
    with pytest.raises(BadRequest, match="non-empty 'inputs' array"):
        parse_request(body, ["output-0"])
