"""Response headers as the curl engine parses them, without urllib3 (see `wire_errors` for why).

Read as urllib3's HTTPHeaderDict reads (the streams' responses carry that one): names match whatever their
case, and a header sent more than once reads as its values joined by ", " (RFC 9110 §5.3).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping


class Headers(Mapping[str, str]):
    """A response's headers, in the order first sent; `add` one per header line."""

    def __init__(self) -> None:
        self._values: dict[str, list[str]] = {}  # lower-cased name -> values, in order
        self._names: dict[str, str] = {}  # lower-cased name -> the name as first sent

    def add(self, name: str, value: str) -> None:
        """One more `name: value` line."""
        key = name.lower()
        self._values.setdefault(key, []).append(value)
        self._names.setdefault(key, name)

    def __getitem__(self, name: str) -> str:
        return ", ".join(self._values[name.lower()])

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._names.values())

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"
