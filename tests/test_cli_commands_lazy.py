"""The top-level commands are imported only when they run: the table naming each command's module
(cli/command_modules.py) must list exactly what each module defines, and help must still list them all."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import modelpack.cli
from modelpack.cli.command_modules import COMMAND_MODULES


def test_the_table_lists_exactly_each_modules_commands() -> None:
    folder = Path(modelpack.cli.__file__).parent
    defined = {}
    for path in sorted(folder.glob("*_commands.py")):
        module = importlib.import_module(f"modelpack.cli.{path.stem}")
        for command in module.COMMANDS:
            defined[command.name] = path.stem
    assert defined == COMMAND_MODULES


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_a_command_imports_its_own_module_only() -> None:
    loaded = _run(
        "import sys\n"
        "from modelpack.cli.main import cli\n"
        "try:\n"
        "    cli.main(['pull', '--help'], prog_name='modelpack', standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(m for m in sys.modules if m.endswith('_commands'))))\n").split()
    assert loaded[-1] == "modelpack.cli.transfer_commands", loaded
    assert [m for m in loaded if m.startswith("modelpack.cli.")] == ["modelpack.cli.transfer_commands"]


def test_help_lists_every_command_and_a_stray_option_names_its_command() -> None:
    out = subprocess.run([sys.executable, "-m", "modelpack", "--help"], capture_output=True, text=True).stdout
    listed = {line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == set(COMMAND_MODULES)
    # An option of some command given before the command: found by looking through every module's commands.
    wrong = subprocess.run([sys.executable, "-m", "modelpack", "--plain-http", "pull", "x"],
                           capture_output=True, text=True)
    assert wrong.returncode == 2
    assert "--plain-http is an option of the command" in wrong.stderr and "modelpack pull --plain-http" in wrong.stderr
