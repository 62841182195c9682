"""A check's option given twice is refused: click keeps the last one without a word, so
`verify --key team.pub --key compliance.pub` checked the second key alone and said "verified" where the
reader took both keys to have passed (`report` and `ui` take `--key` repeated, so the habit is natural).
Only the options that say what a check holds a model to (CHECKED): for the others the last one given wins,
as in most command-line tools, which scripts rely on (a wrapper passing `--workers 1`, a caller adding
`--workers 4` after it).
"""

from __future__ import annotations

from collections.abc import Sequence

import click

# Keys, policies and statement types a verification is held to: the last alone would be checked.
CHECKED = frozenset({"--key", "--verify-key", "--signature-policy", "--type"})


def refuse_repeated(command: click.Command, args: Sequence[str], ctx: click.Context) -> None:
    """Refuse `args` (what follows the command's name) when they give a single-value option twice.

    Args:
        command: the command the words are for (a group: its subcommand's are checked).
        args: the words after the command's name, as typed.
        ctx: the group's context (to find a subcommand).

    Raises:
        click.UsageError: naming the option, the command, and what to do instead (without a context, so the
            CLI's `--help` hint names the command from the command line, not the group).
    """
    if isinstance(command, click.Group):
        names = [word for word in args if not word.startswith("-")]
        sub = command.get_command(ctx, names[0]) if names else None
        if sub is not None:
            refuse_repeated(sub, args[args.index(names[0]) + 1:], ctx)
        return
    valued = {name: option for option in command.params if isinstance(option, click.Option)
              and not option.is_flag and not option.count for name in option.opts + option.secondary_opts}
    seen: dict[str, str] = {}  # a single-value option's first name -> how it was written first
    words = iter(args)
    for word in words:
        if word == "--":
            return
        name = _option_name(word, valued)
        if name is None:
            continue
        option = valued[name]
        if "=" not in word and (word.startswith("--") or len(word) == 2):
            next(words, None)  # its value, whatever it looks like (`-o -`, `--set --x`)
        if option.multiple or not CHECKED & set(option.opts):
            continue
        first = option.opts[0]
        if first in seen:
            also = f" (as {seen[first]})" if seen[first] != name else ""
            raise click.UsageError(f"{name} is given twice{also}: `{command.name}` takes one, and would have used the "
                                   f"last alone; {_instead(command, first)}")  # no ctx: named by argv
        seen[first] = name


def _option_name(word: str, valued: dict[str, click.Option]) -> str | None:
    """The value-taking option `word` names (`--key`, `--key=FILE`, `-o`, `-oFILE`), or None."""
    if not word.startswith("-") or word == "-":
        return None
    name = word.split("=", 1)[0] if word.startswith("--") else word[:2]
    return name if name in valued else None


def _instead(command: click.Command, option: str) -> str:
    if option in ("--key", "--verify-key") and command.name in ("verify", "verify-attestation", "pull"):
        return "run it once per key (`modelpack report --key A --key B` shows what each key verifies)"
    return "give it once"
