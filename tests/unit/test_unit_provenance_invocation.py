"""provenance.invocation_id: the CI run's URL as a signed, published provenance may hold it: no credentials
a CI system's configured URL carried, no control characters, no runaway length (else a fresh urn:uuid)."""

from __future__ import annotations

import pytest

from modelpack.provenance import invocation_id

_CI = ("GITHUB_ACTIONS", "GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT",
       "GITLAB_CI", "CI_JOB_URL", "BUILDKITE", "BUILDKITE_BUILD_URL", "JENKINS_URL", "BUILD_URL")


@pytest.mark.parametrize(("env", "expected"), [
    # Jenkins' BUILD_URL repeats the Jenkins URL as configured, a user and token too when it holds them.
    ({"JENKINS_URL": "https://ci:s3cret@jenkins.example.com/", "BUILD_URL": "https://ci:s3cret@jenkins.example.com/job/train/9/"},
     "https://jenkins.example.com/job/train/9/"),
    ({"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://x-access-token:ghs_abc@ghe.example.com",
      "GITHUB_REPOSITORY": "team/train", "GITHUB_RUN_ID": "42"}, "https://ghe.example.com/team/train/actions/runs/42"),
    ({"GITLAB_CI": "true", "CI_JOB_URL": "https://gitlab.example.com:8443/team/train/-/jobs/7"},
     "https://gitlab.example.com:8443/team/train/-/jobs/7"),
    ({"BUILDKITE": "true", "BUILDKITE_BUILD_URL": "https://buildkite.com/org/p/builds/1\x1b]8;;https://evil/\x07"},
     None),
    ({"GITLAB_CI": "true", "CI_JOB_URL": "https://gitlab.example.com/" + "a" * 5000}, None),
    ({"GITLAB_CI": "true", "CI_JOB_URL": "javascript:alert(1)"}, None),
])
def test_the_run_url_holds_no_credentials_nor_control_characters(monkeypatch: pytest.MonkeyPatch,
                                                                 env: dict[str, str], expected: str | None) -> None:
    for name in _CI:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    found = invocation_id()
    if expected is None:
        assert found.startswith("urn:uuid:"), found
    else:
        assert found == expected
