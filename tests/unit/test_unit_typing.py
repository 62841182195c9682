"""A library caller's type checker sees the API's signatures: `modelpack.push`, `modelpack.ClientOptions`
and `Client(...).pull` are checked under mypy --strict (the package ships py.typed), not silently `Any`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

USER_SCRIPT = '''
import modelpack
from modelpack import ClientOptions

options = ClientOptions(plain_http=True)
modelpack.push("model", "localhost:5000/team/iris:1", options="yes")
copied: str = modelpack.pull("localhost:5000/team/iris:1", options=options).copied
modelpack.Client(plain_http=True).pull("localhost:5000/team/iris:1", outptu="out")
ClientOptions(plain_htttp=True)
reveal_type(modelpack.Client().list_versions)
'''


def test_mypy_strict_checks_a_callers_use_of_the_api(tmp_path: Path) -> None:
    (tmp_path / "user.py").write_text(USER_SCRIPT)
    run = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "user.py"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    lines = run.stdout.splitlines()
    assert any('user.py:6: error: Argument "options" to "push"' in line for line in lines), run.stdout
    assert any("user.py:7: error: Incompatible types in assignment" in line for line in lines), run.stdout
    assert any('user.py:8: error: Unexpected keyword argument "outptu"' in line for line in lines), run.stdout
    assert any('user.py:9: error: Unexpected keyword argument "plain_htttp"' in line for line in lines), run.stdout
    revealed = [line for line in lines if "user.py:10: note: Revealed type" in line]
    assert revealed and revealed[0].endswith("-> list[modelpack.versions.Version]\""), run.stdout
