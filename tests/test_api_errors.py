"""Errors a library caller catches: typed (the standard classes they extend included), and naming the
Python setting that helps, not only the CLI's flag."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import modelpack as mp
from helpers import htpasswd_file
from registry_process import Registry


def test_https_to_a_plain_http_registry_is_a_connection_error_naming_plain_http(registry: Registry) -> None:
    options = mp.ClientOptions(plain_http=False, retries=0)
    with options, pytest.raises(ConnectionError) as caught:
        mp.resolve(registry.repo() + ":1", options=options)
    assert isinstance(caught.value, mp.ModelpackError)
    assert "ClientOptions(plain_http=True)" in str(caught.value)


@pytest.mark.parametrize("timeout", [0, -1.0, float("inf")])
def test_a_client_refuses_a_timeout_that_cannot_bound_a_request(timeout: float) -> None:
    # It was taken as given: 0 or less timed every request out at once, inf killed the transfer thread
    # (a traceback on stderr) and was reported as "cannot connect".
    with pytest.raises(ValueError, match="timeout"):
        mp.Client(plain_http=True, timeout=timeout)
    with pytest.raises(ValueError, match="already holds"):
        mp.Client(options=mp.ClientOptions(), timeout=0)


def test_a_failure_of_the_transfer_thread_is_logged_not_printed(
        registry: Registry, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    # A timeout too big for libcurl, slipped past the options' checks (object.__setattr__): the thread
    # sending requests fails, and says so in the log only.
    options = mp.ClientOptions(plain_http=True, retries=0)
    object.__setattr__(options, "timeout", float("inf"))
    with options, pytest.raises(mp.ModelpackError):
        mp.resolve(registry.repo() + ":1", options=options)
    assert "Traceback" not in capsys.readouterr().err
    assert any("transfer engine failed" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("setting", ["timeout", "connect_timeout", "read_timeout"])
@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1.0, 0, "30", True])
def test_options_refuse_a_wait_that_cannot_end_also_when_set_later(setting: str, value: object) -> None:
    # Checked at construction only: `options.timeout = inf` afterwards was taken, and a wait never ended
    # (or the transfer thread died with it).
    options = mp.ClientOptions()
    with pytest.raises(ValueError, match=f"^{setting}="):
        setattr(options, setting, value)
    with pytest.raises(ValueError, match=f"^{setting}="):
        mp.ClientOptions(**{setting: value})  # type: ignore[arg-type]
    assert getattr(options, setting) == getattr(mp.ClientOptions(), setting)  # left as it was
    options.timeout = 5  # a usable value is taken
    assert options.timeout == 5


@pytest.mark.parametrize(("setting", "value"), [("retries", -1), ("retries", 10**9), ("retries", 2.5),
                                                ("backoff", float("inf")), ("max_backoff", float("nan")),
                                                ("plain_http", "false"), ("insecure", 1), ("plain_http", None)])
def test_options_refuse_retries_and_backoffs_without_bound(setting: str, value: object) -> None:
    # plain_http="false" (an environment variable passed through) was taken, and true: it sent plain HTTP.
    options = mp.ClientOptions()
    with pytest.raises(ValueError, match=f"^{setting}="):
        setattr(options, setting, value)


def test_remote_takes_a_reference_as_text_as_every_verb_does(pushed: tuple[str, str]) -> None:
    # The README's `modelpack.remote(ref, options, mirrors=True)` with a str failed with an AttributeError.
    ref, by_digest = pushed
    with mp.ClientOptions(plain_http=True) as options, mp.remote(ref, options, mirrors=True) as repo:
        assert repo.resolve(ref.rsplit(":", 1)[1]).digest == by_digest.rsplit("@", 1)[1]
    with pytest.raises(mp.errors.InvalidReferenceError, match="names no registry"):
        mp.remote("team/iris:1")


def test_an_auth_refusal_says_what_to_call_in_python_and_what_to_run_on_the_command_line(
        fresh_registry: Callable[..., Registry], tmp_path: Path) -> None:
    # It said "run `modelpack login HOST`" to a library caller too.
    from modelpack.advice import cli_message

    reg = fresh_registry(auth_htpasswd=htpasswd_file(tmp_path / "htpasswd", "alice", "secret-pw"))
    with mp.ClientOptions(plain_http=True, retries=0) as options, \
            pytest.raises(mp.errors.AuthenticationError) as caught:
        mp.resolve(reg.repo() + ":1", options=options)  # not logged in
    error = caught.value
    assert f"modelpack.login('{reg.host}'" in str(error) and "`modelpack login" not in str(error)
    assert str(error).startswith(error.failure) and error.advice is not None
    assert cli_message(error) == f"{error.failure}; run `modelpack login {reg.host}`"


def test_a_model_missing_from_the_store_names_the_parameter_that_reads_the_registry() -> None:
    with pytest.raises(LookupError) as caught:
        mp.inspect("localhost:5000/t/absent:1")
    assert "remote_only=True" in str(caught.value) and "--remote" not in str(caught.value)


def test_kubernetes_names_parameters_not_flags() -> None:
    from modelpack.advice import cli_message

    with pytest.raises(ValueError) as caught:
        mp.kubernetes("localhost:5000/t/m:1", "image-volume", replicas=-1)
    bound = "give 0 to 2147483647 (Kubernetes holds replicas as a 32-bit number)"
    assert str(caught.value) == f"replicas=-1: {bound}"
    assert cli_message(caught.value) == f"--replicas -1: {bound}"
    with pytest.raises(ValueError) as caught:
        mp.kubernetes("localhost:5000/t/m:1", serving_image="localhost:5000/t/s:1")
    assert str(caught.value) == "serving_image applies to kind='image-volume' only (kind='deployment' runs REF itself)"


def test_an_error_with_advice_survives_pickling() -> None:
    # (errors cross process boundaries: multiprocessing, a worker's result)
    import pickle

    from modelpack.advice import cli_message, login

    error = mp.errors.AuthenticationError("h requires authentication", advice=login("h"))
    again = pickle.loads(pickle.dumps(error))
    assert (str(again), cli_message(again), again.advice) == (str(error), cli_message(error), error.advice)


def test_the_fix_an_auth_refusal_names_in_python_works(
        fresh_registry: Callable[..., Registry], tmp_path: Path) -> None:
    # The advice says `ClientOptions(credentials=Credentials(...))`: Credentials was not exported.
    reg = fresh_registry(auth_htpasswd=htpasswd_file(tmp_path / "htpasswd", "alice", "secret-pw"))
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(b"w" * 100)
    with mp.Client(plain_http=True, credentials=mp.Credentials("alice", "secret-pw"),
                   store=tmp_path / "store") as client:
        ref = reg.repo() + ":1"
        digest = client.push(model, ref).descriptor.digest
        assert client.resolve(ref).digest == digest


def test_filters_overrides_and_outputs_are_named_as_parameters(registry: Registry, tmp_path: Path) -> None:
    # They named the CLI's --where, --set and --force to a library caller.
    from modelpack.advice import cli_message

    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(b"w" * 100)
    with mp.Client(plain_http=True, store=tmp_path / "store") as client:
        ref = registry.repo() + ":1"
        client.push(model, ref)
        with pytest.raises(ValueError) as where:
            client.list_versions(ref.rsplit(":", 1)[0], where=["metrics.auc>>1"])
        with pytest.raises(ValueError) as override:
            client.pack(model, ref, ["metrics.auc"])
        (tmp_path / "full").mkdir()
        (tmp_path / "full" / "x").write_text("x")
        with pytest.raises(ValueError) as full:
            client.pull(ref, output=tmp_path / "full")
    assert str(where.value).startswith("where condition 'metrics.auc>>1': expected FIELD OP VALUE")
    assert cli_message(where.value).startswith("--where 'metrics.auc>>1': expected FIELD OP VALUE")
    assert str(override.value).startswith("override 'metrics.auc': expected key=value")
    assert cli_message(override.value).startswith("--set 'metrics.auc': expected key=value")
    assert str(full.value).endswith("; force=True replaces the files that differ")
    assert cli_message(full.value).endswith("; --force replaces the files that differ")
