"""Kubernetes resource quantities (apimachinery's `resource.Quantity`), checked before `k8s` writes them:
written as given, a nonsense one (no memory at all, half a byte, more than the API can hold) fails only at
`kubectl apply`, or worse, is accepted and the pod never runs."""

from __future__ import annotations

import re
from decimal import Decimal

# Unsigned, as the API server parses them for requests and limits (below 0 is refused there too).
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_QUANTITY = re.compile(rf"^(?P<number>{_NUMBER})(?:(?P<suffix>[KMGTPE]i|[mkMGTPE])|[eE](?P<exponent>[+-]?\d+))?$")
_SCALE: dict[str, int | Decimal] = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
MAX_VALUE = 2**63 - 1  # the API server keeps a quantity's value (in milli-units for CPU) in an int64
# Docker refuses a memory limit under 6 MiB, and no model server starts in it (Python alone needs more).
MIN_MEMORY = 6 * 2**20


def quantity(text: str) -> Decimal | None:
    """The value of a Kubernetes quantity (`512Mi` -> 536870912, `500m` -> 0.5), or None if it is none.

    Args:
        text: the quantity as the user wrote it.

    Returns:
        Its value in base units (bytes, cores), or None when it is not a non-negative quantity.
    """
    match = _QUANTITY.match(text)
    if match is None:
        return None
    value = Decimal(match["number"])
    if match["exponent"] is not None:
        exponent = int(match["exponent"])
        return value.scaleb(exponent) if abs(exponent) <= 100 else (Decimal(0) if exponent < 0 or not value
                                                                     else Decimal(MAX_VALUE) * 2)
    return value * _SCALE.get(match["suffix"] or "", 1)


def memory_problem(text: str) -> str | None:
    """Why `text` is no memory request and limit a pod can run with, or None if it is one.

    Args:
        text: the quantity as the user wrote it.

    Returns:
        The reason, to follow the quoted value in one line (`'0' is no memory: ...`).
    """
    value = quantity(text)
    if value is None:
        return "is not a Kubernetes quantity of 0 or more: give e.g. 512Mi or 2Gi"
    if text.endswith("m") and value < MIN_MEMORY:  # `500m` for 500 MiB: Kubernetes reads thousandths of a byte
        return f"is {value.normalize():f} bytes (m means thousandths): write Mi for mebibytes, e.g. {text[:-1]}Mi"
    if value == 0:
        return "is no memory at all: give what the model server needs, e.g. 512Mi or 2Gi"
    if value < MIN_MEMORY:
        return "is under 6Mi, a limit Docker refuses and no model server starts in: give e.g. 512Mi or 2Gi"
    if value > MAX_VALUE:
        return "is more bytes than Kubernetes can hold (2^63-1): give e.g. 512Mi or 2Gi"
    return None


def cpu_problem(text: str) -> str | None:
    """Why `text` is no CPU request, or None if it is one (0 is one: no CPU reserved).

    Args:
        text: the quantity as the user wrote it.

    Returns:
        The reason, to follow the quoted value in one line.
    """
    value = quantity(text)
    if value is None:
        return "is not a Kubernetes quantity of 0 or more: give e.g. 500m or 2"
    if value * 1000 > MAX_VALUE:
        return "is more CPU than Kubernetes can hold: give e.g. 500m or 2"
    return None
