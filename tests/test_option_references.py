"""A reference given as an option (`--serving-image`, `--base`) that is not one is said naming the option,
before any registry is asked (the port below has nothing listening: asking it would be a connection
error instead); a URL where a reference goes is refused with the way to write it, https:// without advice
to turn TLS off."""

from __future__ import annotations

import pytest

import modelpack
from helpers import modelpack as run
from modelpack.errors import InvalidReferenceError

NOWHERE = "127.0.0.1:9/team/iris:1"  # the discard port: nothing answers there


def test_a_bad_serving_image_is_named_before_anything_is_fetched() -> None:
    with pytest.raises(InvalidReferenceError, match=r"^serving_image='bad ref!!': bad repository name"):
        modelpack.kubernetes(NOWHERE, "image-volume", serving_image="bad ref!!")
    done = run("k8s", NOWHERE, "--kind", "image-volume", "--serving-image", "bad ref!!")
    assert done.code == 2 and done.err.strip() == "error: --serving-image 'bad ref!!': bad repository name 'bad ref!!'"


def test_a_bad_base_is_named_before_anything_is_fetched() -> None:
    done = run("build-image", NOWHERE, "-t", "127.0.0.1:9/team/iris-serve:1", "--base", "http://docker.io/python:3")
    assert done.code == 2, done.err
    assert done.err.startswith("error: --base 'http://docker.io/python:3': write it without http://"), done.err


def test_https_is_refused_without_advice_to_turn_tls_off() -> None:
    done = run("pull", "https://registry.example.com/team/iris:1")
    assert done.code == 2 and "without https://" in done.err and "HTTPS is the default" in done.err
    assert "--plain-http" not in done.err
