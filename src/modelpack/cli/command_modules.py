"""The top-level commands, each named with the module that defines it, imported only when it runs (or
when help lists them all): a command's start then pays for its own module alone, not for every command's
(~9 ms of CPU, a sixth of `modelpack --version`). tests/test_cli_commands_lazy.py checks this table
against each module's COMMANDS."""

from __future__ import annotations

import importlib
from collections.abc import MutableMapping

import click

COMMAND_MODULES = {
    "attach": "transfer_commands", "copy": "transfer_commands", "pack": "transfer_commands",
    "pull": "transfer_commands", "push": "transfer_commands", "unpack": "transfer_commands",
    "diff": "catalog_commands", "inspect": "catalog_commands", "lineage": "catalog_commands",
    "list": "catalog_commands", "ls": "catalog_commands", "resolve": "catalog_commands",
    "rm": "catalog_commands", "tag": "catalog_commands",
    "generate-key-pair": "signing_commands", "login": "signing_commands", "logout": "signing_commands",
    "sign": "signing_commands", "verify": "signing_commands",
    "attest": "attest_commands", "sbom": "attest_commands", "verify-attestation": "attest_commands",
    "build-image": "deploy_commands", "k8s": "deploy_commands", "serve": "deploy_commands",
    "init": "init_commands", "report": "report_commands", "ui": "ui_commands", "store": "store_commands",
}


class LazyGroup(click.Group):
    """A group whose commands (COMMAND_MODULES) are imported when first asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMAND_MODULES, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            module = importlib.import_module(f"modelpack.cli.{COMMAND_MODULES[cmd_name]}")
            for command in module.COMMANDS:
                if command.name == cmd_name:
                    self.add_command(command)
        return self.commands.get(cmd_name)

    def all_commands(self) -> MutableMapping[str, click.Command]:
        """Every command, each module imported (for messages that look through them all)."""
        for name in COMMAND_MODULES:
            self.get_command(click.Context(self), name)
        return self.commands
