"""The machine's registries.conf drop-ins (/etc/containers/registries.conf.d,
~/.config/containers/registries.conf.d) do not reach the tests: conftest's autouse fixture points
MODELPACK_REGISTRIES_CONF_D at an empty folder of the test's own, as it points CONTAINERS_REGISTRIES_CONF at
an empty file. Here a hostile drop-in, blocking every loopback registry, sits in the user's folder, where
modelpack reads it without the override (the control), and the test's pull goes through regardless."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HOSTILE = '[[registry]]\nprefix = "127.0.0.1"\nlocation = "127.0.0.1"\nblocked = true\n'


def _inspect(ref: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "modelpack", "inspect", "--remote", "--plain-http", ref],
                          capture_output=True, text=True, env=env, timeout=120)


def test_a_hostile_drop_in_of_the_machine_does_not_reach_the_tests(tmp_path: Path, pushed: tuple[str, str]) -> None:
    home = tmp_path / "home"
    folder = home / ".config" / "containers" / "registries.conf.d"
    folder.mkdir(parents=True)
    (folder / "00-hostile.conf").write_text(HOSTILE)

    as_tests_run = _inspect(pushed[1], {**os.environ, "HOME": str(home)})
    assert as_tests_run.returncode == 0, as_tests_run.stderr

    without = {key: value for key, value in os.environ.items() if key != "MODELPACK_REGISTRIES_CONF_D"}
    as_users_run = _inspect(pushed[1], {**without, "HOME": str(home)})
    assert as_users_run.returncode == 2
    assert "is blocked by" in as_users_run.stderr and "00-hostile.conf" in as_users_run.stderr
