"""A command group that answers a command it does not have with the one meant: another tool's word
(`versions`: `ls`), or a near miss (`pul`: `pull`). click said only "No such command 'pul'."."""

from __future__ import annotations

from typing import Any, ClassVar

import click


class NearCommands(click.Group):
    """A group whose unknown commands name ours: `other_words` maps another tool's word to the line saying
    which of ours does it; any other name gets the closest command, if one is close."""

    other_words: ClassVar[dict[str, str]] = {}

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        if args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            if args[0] in self.other_words:
                raise click.UsageError(f"No such command {args[0]!r}: {self.other_words[args[0]]}", ctx)
            import difflib  # (here: `--version` stays fast)

            # click suggests for a mistyped option, not a command (`modelpack pul`).
            near = difflib.get_close_matches(args[0], self.list_commands(ctx), n=1, cutoff=0.6)
            if near:
                raise click.UsageError(f"No such command {args[0]!r}; did you mean {near[0]!r}?", ctx)
        return super().resolve_command(ctx, args)
