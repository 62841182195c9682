"""`-v`: a mirror passed over as unreachable says why. A cache whose certificate the machine does not trust
was logged as 'CACHE (mirror) unreachable; trying the next endpoint', the same line as a powered-off one, so
a platform engineer could not tell a missing CA (fixed with --ca-file or the system's store) from an outage:
every pull silently went to the origin. And a mirror that never answers (a black hole: its 3 s connect
timeout) is said as that, where the error read 'did not answer GET ... within 120 s; raise --timeout 120'."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import modelpack
from hostile_registry import HostileRegistry
from registry_process import Registry, free_port, self_signed_certificate
from test_mirrors import black_hole, make_model, write_conf

__all__ = ["black_hole"]  # the fixture, used by name


def test_a_mirror_passed_over_as_unreachable_says_why(fresh_registry: Callable[..., Registry], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch, black_hole: str) -> None:
    origin = fresh_registry()
    (tmp_path / "tls").mkdir()
    cert, key = self_signed_certificate(tmp_path / "tls")
    cache = fresh_registry(tls=(cert, key), proxy=origin.url)
    refused = f"127.0.0.1:{free_port()}"
    ref = f"{origin.host}/team/m:1"
    assert modelpack("push", "--plain-http", str(make_model(tmp_path / "model")), ref).code == 0
    for mirror, why in ((cache.host, "certificate"), (refused, "connection refused"),
                        (black_hole, f"cannot connect to {black_hole}: no answer within 3 s")):
        # The origin plain HTTP as registries.conf says; the mirror HTTPS, checked against the system's CAs.
        write_conf(tmp_path, monkeypatch, f'[[registry]]\nlocation = "{origin.host}"\ninsecure = true\n'
                                          f'[[registry.mirror]]\nlocation = "{mirror}"\n')
        pulled = modelpack("pull", "-v", ref, "-o", str(tmp_path / f"out-{free_port()}"))
        assert pulled.code == 0, pulled.err
        said = [line for line in pulled.err.splitlines() if mirror in line and "unreachable" in line]
        assert len(said) == 1, said
        assert said[0].startswith(f"modelpack.mirrors: manifest 1: {mirror} (mirror) unreachable ("), said
        assert why in said[0].lower() and said[0].endswith("; trying the next endpoint"), said


def test_a_mirror_that_stops_answering_is_said_to_after_its_stall_not_after_timeout(
        registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # A mirror has one attempt: it waits the stall (read_timeout), which --timeout does not lengthen. The
    # line said 'did not answer GET ... within 120 s; raise --timeout 120 to wait longer' after 30 s.
    import modelpack as mp
    from modelpack.store.options import ClientOptions

    ref = f"{registry.host}/team/{free_port()}:1"
    assert modelpack("push", "--plain-http", str(make_model(tmp_path / "model")), ref).code == 0
    with HostileRegistry() as stalled:
        stalled.routes["/manifests/"] = stalled.never_answer
        write_conf(tmp_path, monkeypatch, f'[[registry]]\nlocation = "{registry.host}"\ninsecure = true\n'
                                          f'[[registry.mirror]]\nlocation = "{stalled.host}"\ninsecure = true\n')
        caplog.set_level("INFO", logger="modelpack.mirrors")
        with ClientOptions(read_timeout=1) as options:
            mp.pull(ref, output=tmp_path / "out", options=options)
    said = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(said) == 1, said
    assert f"{stalled.host} did not answer GET /v2/" in said[0] and "within 1 s)" in said[0], said
    assert "--timeout" not in said[0] and "ClientOptions(timeout" not in said[0], said
