"""What a CI pipeline meets: parallel jobs attesting one model, library calls, the provenance of a CI run."""

from __future__ import annotations

import datetime
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import modelpack as mp
from helpers import htpasswd_file, modelpack
from modelpack.signatures.lookup import fallback_tag
from modelpack.store import credentials
from modelpack.store.options import ClientOptions
from modelpack.store.registry import RegistryRepository
from registry_process import Registry
from test_signing import keypair

PLAIN = ClientOptions(plain_http=True)


def one_file_model(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"\0" * 64)
    return model


def test_an_attestation_outlives_another_job_rewriting_the_fallback_index(
        registry: Registry, pushed: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Distribution 2.8 has no referrers API: attestations are listed in the index tagged sha256-<hex>,
    # which each writer reads, extends and writes back. Another job that read it before this one wrote
    # writes its own listing over this one's; the attestation must not silently drop out of it.
    _, digest_ref = pushed
    private, public = keypair(tmp_path, "k")
    mp.attest(digest_ref, private, b"pw", {"job": "evaluation"}, "https://example.com/eval/v1", options=PLAIN)
    repository, digest = digest_ref.split("/", 1)[1].split("@")
    tag = fallback_tag(digest)
    session = registry.session()
    index_url = f"{registry.url}/v2/{repository}/manifests/{tag}"
    other_job = session.get(index_url, headers={"Accept": "application/vnd.oci.image.index.v1+json"})
    assert other_job.status_code == 200
    original = RegistryRepository.put_manifest
    rewrites: list[str] = []

    def put_then_other_job_writes(self: RegistryRepository, desc: Any, data: bytes,
                                  tag_name: str | None = None) -> dict[str, str]:
        headers = original(self, desc, data, tag_name)
        if tag_name == tag and not rewrites:
            # The other job's write lands just after this one's, listing only what it read.
            rewrites.append(tag_name)
            put = session.put(index_url, data=other_job.content,
                              headers={"Content-Type": "application/vnd.oci.image.index.v1+json"})
            assert put.status_code == 201, put.text
        return headers

    monkeypatch.setattr(RegistryRepository, "put_manifest", put_then_other_job_writes)
    mp.attest(digest_ref, private, b"pw", {"job": "provenance"}, "https://example.com/prov/v1", options=PLAIN)
    assert rewrites == [tag]
    monkeypatch.setattr(RegistryRepository, "put_manifest", original)

    for type_name in ("https://example.com/eval/v1", "https://example.com/prov/v1"):
        found = mp.verify_attestation(digest_ref, public, type_name, options=PLAIN)
        assert len(found.attestations) == 1, type_name


def test_an_encrypted_key_without_a_password_names_the_parameter_to_a_library_caller(
        pushed: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The API does not read COSIGN_PASSWORD: telling a library caller to set it sends a CI job round in circles.
    _, digest_ref = pushed
    private, _ = keypair(tmp_path, "k")
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    with pytest.raises(mp.errors.UsageError) as caught:
        mp.attest(digest_ref, private, None, {"job": "evaluation"}, "custom", options=PLAIN)
    assert "password=" in str(caught.value)
    assert "set COSIGN_PASSWORD" not in str(caught.value)
    assert "COSIGN_PASSWORD" in mp.advice.cli_message(caught.value)


def test_a_listed_version_gives_its_version_and_metrics_as_ls_json_does(registry: Registry, tmp_path: Path) -> None:
    # A downstream job picks the best run: what `ls --json` has at the top level, a Version has as attributes.
    repo = registry.repo()
    model = one_file_model(tmp_path)
    for run, f1 in (("run-1", 0.91), ("run-2", 0.97)):
        mp.push(model, f"{repo}:{run}", {"version": run, "metrics": {"f1": f1}}, options=PLAIN)
    mp.push(model, f"{repo}:bare", options=PLAIN)
    listed = mp.list_versions(repo, where=["metrics.f1>=0.9"], sort="-metrics.f1", options=PLAIN)
    assert [(v.tag, v.version, v.metrics) for v in listed] == [("run-2", "run-2", {"f1": 0.97}),
                                                                ("run-1", "run-1", {"f1": 0.91})]
    assert listed[0].created == listed[0].metadata["created"]
    bare = mp.list_versions(repo, where=["tag=bare"], options=PLAIN)[0]
    assert (bare.version, bare.metrics) == (None, {})


CI_VARIABLES = ("GITHUB_ACTIONS", "GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT",
                "GITLAB_CI", "CI_JOB_URL", "BUILDKITE", "BUILDKITE_BUILD_URL", "JENKINS_URL", "BUILD_URL")


@pytest.mark.parametrize(("ci", "expected"), [
    ({"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "team/train",
      "GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "2"}, "https://github.com/team/train/actions/runs/42/attempts/2"),
    ({"GITLAB_CI": "true", "CI_JOB_URL": "https://gitlab.example.com/team/train/-/jobs/7"},
     "https://gitlab.example.com/team/train/-/jobs/7"),
    ({}, None),
])
def test_provenance_names_the_ci_run_that_packed(registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               ci: dict[str, str], expected: str | None) -> None:
    # SLSA's invocationId is for finding the run's logs: a CI job's provenance links to the job.
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    model = one_file_model(tmp_path)
    out = tmp_path / "provenance.json"
    pushed = modelpack("push", "--plain-http", "--provenance-out", str(out), str(model), registry.repo() + ":1",
                       env=ci)
    assert pushed.code == 0, pushed.err
    invocation = json.loads(out.read_text())["runDetails"]["metadata"]["invocationId"]
    if expected is None:
        assert invocation.startswith("urn:uuid:")
    else:
        assert invocation == expected


def test_numbers_a_training_run_computed_with_numpy_are_pushed_as_plain_json(registry: Registry,
                                                                              tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    model = one_file_model(tmp_path)
    ref = registry.repo() + ":run-1"
    mp.push(model, ref, {"metrics": {"f1": np.float32(0.93), "accuracy": np.float64(0.95)},
                         "hyperparameters": {"n_estimators": np.int64(100), "learning_rate": np.float32(0.1),
                                             "hidden_layer_sizes": (np.int64(64), 32), "weights": np.array([1, 2])}},
            options=PLAIN)
    info = mp.inspect(ref, remote_only=True, options=PLAIN)
    assert info.metrics == {"f1": 0.93, "accuracy": 0.95}
    listed = mp.list_versions(ref.rsplit(":", 1)[0], options=PLAIN)[0]
    assert listed.metadata["hyperparameters"] == {"n_estimators": 100, "learning_rate": 0.1,
                                                  "hidden_layer_sizes": [64, 32], "weights": [1, 2]}
    # What JSON cannot hold is refused by name, as a usage error, not a serializer's exception.
    with pytest.raises(mp.errors.MetadataError, match=r"when is a datetime\.date"):
        mp.push(model, ref, {"hyperparameters": {"when": datetime.date(2026, 1, 1)}}, options=PLAIN)


def test_an_evaluation_predicate_built_with_numpy_is_attested_as_plain_json(pushed: tuple[str, str],
                                                                            tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    _, digest_ref = pushed
    private, public = keypair(tmp_path, "k")
    evaluation = {"f1": np.float32(0.93), "support": np.int64(150), "confusion": np.array([[48, 2], [1, 99]])}
    mp.attest(digest_ref, private, b"pw", evaluation, "https://example.com/eval/v1", options=PLAIN)
    found = mp.verify_attestation(digest_ref, public, "https://example.com/eval/v1", options=PLAIN)
    assert found.attestations[0].statement["predicate"] == {"f1": 0.93, "support": 150,
                                                            "confusion": [[48, 2], [1, 99]]}
    # An undefined metric (NaN) would be written as `NaN`, which no JSON parser (nor cosign) reads.
    with pytest.raises(mp.errors.UsageError, match=r"predicate\.f1 is not a finite number"):
        mp.attest(digest_ref, private, b"pw", {"f1": float("nan")}, "https://example.com/eval/v1", options=PLAIN)


def test_two_jobs_logging_in_at_once_both_keep_their_entry(fresh_registry: Callable[..., Registry], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Each login reads the auth file, adds its entry and writes the file back: the job that read before the
    # other wrote would write the other's entry away.
    reg = fresh_registry(auth_htpasswd=htpasswd_file(tmp_path / "htpasswd", "ci", "s3cret"))
    first_writing, go = threading.Event(), threading.Event()
    write = credentials._write_config

    def first_waits(config: dict[str, Any], path: Path | None = None) -> Path:
        if threading.current_thread().name == "job-a":
            first_writing.set()
            go.wait(30)
        return write(config, path)

    monkeypatch.setattr(credentials, "_write_config", first_waits)
    saved: dict[str, Any] = {}

    def job(repository: str) -> None:
        saved[repository] = mp.login(f"{reg.host}/{repository}", "ci", "s3cret", options=PLAIN)

    job_a = threading.Thread(target=job, args=("team/a",), name="job-a")
    job_b = threading.Thread(target=job, args=("team/b",), name="job-b")
    job_a.start()
    assert first_writing.wait(30)
    job_b.start()
    job_b.join(3)  # without turns, job b writes now; with them, it waits for job a
    go.set()
    job_a.join(30)
    job_b.join(30)
    assert saved["team/a"].auth_file == saved["team/b"].auth_file
    auths = json.loads(saved["team/a"].auth_file.read_text())["auths"]
    assert {f"{reg.host}/team/a", f"{reg.host}/team/b"} <= set(auths), auths


def test_an_auth_file_that_is_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    # A job whose REGISTRY_AUTH_FILE (or ~/.docker/config.json) is a named pipe: every pull and login read it
    # and waited for a writer, for ever (registries.conf and policy.json were refused so already).
    fifo = tmp_path / "auth.json"
    os.mkfifo(fifo)
    run = modelpack("logout", "registry.example.com", env={"REGISTRY_AUTH_FILE": str(fifo)}, timeout=60)
    assert run.code == 2 and run.err.count("\n") == 1, run.err
    assert f"cannot read auth file {fifo}: it is not a regular file" in run.err


def test_values_nested_past_what_modelpack_reads_back_are_refused(tmp_path: Path) -> None:
    # 70 lists deep were pushed, then dropped by inspect as a malformed annotation (its reader stops at 64
    # levels); a dict holding itself raised RecursionError, no MetadataError.
    model = one_file_model(tmp_path)
    deep: Any = 1
    for _ in range(70):
        deep = [deep]
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    for value in (deep, cyclic):
        with pytest.raises(mp.errors.MetadataError, match="nested more than 32 levels deep"):
            mp.push(model, f"oci:{tmp_path / 'layout'}:1", {"hyperparameters": {"grid": value}})
    assert not (tmp_path / "layout").exists()
