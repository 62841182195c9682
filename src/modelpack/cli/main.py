"""Entry point: `modelpack COMMAND ...`, the group of every command (each module of commands lists its
own). Commands import the API lazily so `--version` stays fast."""

from __future__ import annotations

import os
import sys
from typing import Any, ClassVar, NoReturn

import click

from modelpack.cli.command_modules import LazyGroup
from modelpack.cli.common import configure_logging, global_verbose_option, silence_stdout
from modelpack.cli.near_miss_group import NearCommands
from modelpack.cli.repeated_options import refuse_repeated
from modelpack.cli.stops import ignore_stop_signals_once_done, stopped
from modelpack.version import __version__


class _Commands(NearCommands, LazyGroup):
    # Commands a newcomer reaches for by another tool's word, and ours that does it (click said only "No such
    # command 'versions'").
    other_words: ClassVar[dict[str, str]] = {
        **dict.fromkeys(("versions", "tags", "list-versions"), "`modelpack ls REPO` lists a repository's versions"),
        **dict.fromkeys(("delete", "remove", "untag"), "`modelpack rm REF` removes a reference"),
        **dict.fromkeys(("show", "info", "describe"), "`modelpack inspect REF` shows a model"),
        "upload": "`modelpack push` uploads a model", "download": "`modelpack pull` downloads one",
        "models": "`modelpack list` lists the local store's models",
    }

    # A stop (Ctrl-C, SIGTERM) that escapes a command's own handling (say, one landing while it prints its
    # error) becomes click's Abort here: click's main would first write a blank line (for a terminal's
    # `^C` echo), a line more than any stop gets elsewhere. `main` says the stop's one line.
    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt as exc:
            raise click.Abort() from exc

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise click.Abort() from exc

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None:
            refuse_repeated(command, rest, ctx)
        return name, command, rest


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="modelpack")
@global_verbose_option
def cli() -> None:
    """Pack ML models as CNCF ModelPack OCI artifacts, push them to any OCI registry, and pull any
    version back by tag or digest."""


def main() -> NoReturn:
    # standalone_mode=False so a usage mistake (unknown flag, missing argument) is one line too,
    # instead of click's usage block.
    configure_logging()  # (SIGTERM's handler is set earlier, by the entry point: modelpack.cli.entry)
    try:
        code = cli.main(prog_name="modelpack", standalone_mode=False)
    except click.exceptions.Abort as exc:  # outside a command's body (while click parses), or at a prompt
        message, code = stopped(exc.__cause__ or exc)
        click.echo(f"error: {message}", err=True)
    except click.exceptions.NoArgsIsHelpError as exc:  # `modelpack` (or a group) alone: help, not an error
        click.echo(exc.ctx.get_help() if exc.ctx else cli.get_help(click.Context(cli)))
        code = 0
    except click.exceptions.ClickException as exc:
        if _a_command_option_first(exc):
            name = exc.option_name  # type: ignore[attr-defined]
            commands = cli.all_commands()
            command = next((word for word in sys.argv[1:] if word in commands
                            and not isinstance(commands[word], click.Group)), "COMMAND")
            click.echo(f"error: {name} is an option of the command: write it after the command "
                       f"(`modelpack {command} {name} ...`)", err=True)
        elif (split := _key_value_split(exc)) is not None:
            click.echo(f"error: {split} (see `{_command_path(exc)} --help`)", err=True)
        elif (variable := _from_environment(exc)) is not None:
            click.echo(f"error: {variable}", err=True)
        else:
            click.echo(f"error: {exc.format_message()} (see `{_command_path(exc)} --help`)", err=True)
        code = exc.exit_code
    except SystemExit as exc:  # a command's `fail()`
        code = exc.code if isinstance(exc.code, int) else 1
    _exit(code if isinstance(code, int) else 0)


def _a_command_option_first(exc: click.ClickException) -> bool:
    """`modelpack --plain-http pull ...`: an option some command takes, given before the command (only
    -v is the group's own)."""
    if not isinstance(exc, click.NoSuchOption) or exc.ctx is None or exc.ctx.command is not cli:
        return False
    return any(exc.option_name in param.opts for command in cli.all_commands().values()
               for param in getattr(command, "params", ()))


def _key_value_split(exc: click.ClickException) -> str | None:
    """`--set metrics.f1 0.93`, a space for the `=` of an option taking KEY=VALUE: click took `metrics.f1` as
    the value and said only `Got unexpected extra argument (0.93)`. Returns the line saying how to write it."""
    if not isinstance(exc, click.UsageError) or exc.ctx is None or "unexpected extra argument" not in exc.message:
        return None
    opts = {opt for param in exc.ctx.command.params if isinstance(param, click.Option)
            and param.metavar == "KEY=VALUE" for opt in param.opts}
    words = sys.argv[1:]
    for i, word in enumerate(words[:-2]):
        if word in opts and "=" not in words[i + 1] and not words[i + 2].startswith("-"):
            return (f"{word} {words[i + 1]!r}: KEY=VALUE is one word, without spaces: "
                    f"{word} {words[i + 1]}={words[i + 2]}")
    return None


def _from_environment(exc: click.ClickException) -> str | None:
    """`MODELPACK_TIMEOUT=abc` in the environment: click blamed `--timeout`, an option the command line
    never gave. Returns the line naming the variable and its value instead, as modelpack's own variables
    are refused (see modelpack.environment)."""
    if not isinstance(exc, click.BadParameter) or exc.ctx is None or exc.param is None or exc.param.name is None:
        return None
    if exc.ctx.get_parameter_source(exc.param.name) is not click.core.ParameterSource.ENVIRONMENT:
        return None
    names = [exc.param.envvar] if isinstance(exc.param.envvar, str) else list(exc.param.envvar or ())
    variable = next((name for name in names if name in os.environ), None)
    if variable is None:
        return None
    return (f"{variable}={os.environ[variable]!r} (set in the environment): {exc.message.rstrip('.')}; "
            f"change or unset it")


def _command_path(exc: click.ClickException) -> str:
    """The command whose --help answers a usage mistake. Click's parser raises some without their
    context (`pack DIR -t` with no value), so those are named from the command line's words."""
    if isinstance(exc, click.UsageError) and exc.ctx:
        return exc.ctx.command_path
    path = ["modelpack"]
    group: click.Group = cli
    for word in sys.argv[1:]:
        command = group.get_command(click.Context(group), word)
        if command is None:
            if word.startswith("-"):
                continue  # a global option before the command (`modelpack -v pull ...`)
            break
        path.append(word)
        if not isinstance(command, click.Group):
            break
        group = command
    return " ".join(path)


def _exit(code: int) -> NoReturn:
    """Exit with `code`; if stdout was a closed pipe (`modelpack ls | head -1`), the output did not all
    arrive: exit non-zero, without Python's "Exception ignored ... BrokenPipeError" at shutdown. A Ctrl-C
    or SIGTERM before the signals are ignored (while the last output is flushed to a slow reader) ends
    the command as one earlier does, not with a traceback and killed by the signal."""
    try:
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            code = code or 1
            silence_stdout()
        ignore_stop_signals_once_done()  # a signal from now on cannot undo the work's result (see there)
    except KeyboardInterrupt as exc:
        ignore_stop_signals_once_done()  # first: a second Ctrl-C must not cut this line short
        message, code = stopped(exc)
        click.echo(f"error: {message}", err=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
