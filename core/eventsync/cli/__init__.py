"""The `eventsync` command line.

Errors the user can act on (`EventSyncError`) become one line on stderr and a non-zero exit;
anything else is a bug, reported in one line unless `--debug` asks for the traceback. Plugin
commands are looked up only when a name is not a built-in, so `--help` never pays for loading.
"""

from __future__ import annotations

import sys
import traceback

import click

from eventsync.cli.context import AppContext
from eventsync.errors import EventSyncError
from eventsync.version import __version__

INTERNAL_ERROR_EXIT = 70
ARGV_KEY = "eventsync.argv"


class EventSyncGroup(click.Group):
    """Built-in commands first; plugin commands added the first time they are needed."""

    _plugins_added = False

    def _add_plugin_commands(self, ctx: click.Context) -> None:
        if self._plugins_added:
            return
        self._plugins_added = True
        from eventsync.cli.context import app

        app(ctx).plugins.add_commands(self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self._add_plugin_commands(ctx)
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands(ctx)
        return super().list_commands(ctx)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGV_KEY] = list(args)  # the callback runs after click has consumed them
        return super().parse_args(ctx, args)


@click.group(cls=EventSyncGroup)
@click.version_option(__version__, prog_name="eventsync")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Local-first event delivery: append events, drain them to targets, keep the ledger."""
    ctx.obj = AppContext(debug=debug)
    ctx.call_on_close(ctx.obj.close)
    if not _asks_for_help(ctx):
        ctx.obj.plugins  # noqa: B018 - loading reports every broken plugin, whatever the command


def _asks_for_help(ctx: click.Context) -> bool:
    """`--help` anywhere in the command line: help text must stay fast and needs no plugins."""
    return ctx.resilient_parsing or "--help" in ctx.meta.get(ARGV_KEY, ())


def _register_builtin_commands() -> None:
    from eventsync.cli import auth_cmd, doctor_cmd, events, plugins_cmd, sync

    cli.add_command(auth_cmd.auth)
    cli.add_command(doctor_cmd.doctor)
    cli.add_command(events.events)
    cli.add_command(sync.sync)
    cli.add_command(plugins_cmd.plugins)


_register_builtin_commands()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    sys.exit(run(argv))


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; expected failures print one line, never a trace."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = cli.main(args=args, prog_name="eventsync", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("eventsync: aborted", err=True)
        return 130
    except click.ClickException as exc:
        click.echo(f"eventsync: error: {_one_line(exc.format_message())}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except EventSyncError as exc:
        click.echo(f"eventsync: error: {_one_line(exc)}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("eventsync: interrupted", err=True)
        return 130
    except Exception as exc:  # the last line of defence: never a traceback unless asked
        if "--debug" in args:
            traceback.print_exc()
        click.echo(f"eventsync: internal error: {type(exc).__name__}: {_one_line(exc)}"
                   " (run with --debug for details)", err=True)
        return INTERNAL_ERROR_EXIT
    return code if isinstance(code, int) else 0


def _one_line(exc: BaseException | str) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
