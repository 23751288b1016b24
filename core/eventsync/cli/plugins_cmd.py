"""`eventsync plugins`: what is installed, what each plugin provides, and what failed."""

from __future__ import annotations

import subprocess
import sys

import click

from eventsync.cli.context import app, emit_json, emit_table
from eventsync.errors import PluginError


@click.group(invoke_without_command=True)
@click.option("--all", "include_builtins", is_flag=True, help="Include built-in plugins.")
@click.option("--json", "as_json", is_flag=True, help="Print the listing as JSON.")
@click.pass_context
def plugins(ctx: click.Context, include_builtins: bool, as_json: bool) -> None:
    """List installed plugins (sorted by name); `install` / `uninstall` manage them."""
    if ctx.invoked_subcommand is not None:
        return
    infos = app(ctx).plugins.listing(include_builtins=include_builtins)
    if as_json:
        emit_json([info.to_dict() for info in infos])
        return
    if not infos:
        click.echo("no plugins installed (use --all to list the built-ins)")
        return
    emit_table(
        ["name", "version", "receivers", "hooks", "error"],
        [[i.name, i.version or "-", ",".join(sorted(i.receivers)) or "-",
          ",".join(sorted(i.hooks)) or "-", i.error or ""] for i in infos],
    )


@plugins.command("install")
@click.argument("names", nargs=-1, required=True)
@click.option("-U", "--upgrade", is_flag=True, help="Upgrade the packages if installed.")
@click.option("-e", "--editable", is_flag=True, help="Install a local directory in editable mode.")
@click.option("--no-deps", is_flag=True, help="Do not install the packages' dependencies.")
@click.option("--no-build-isolation", is_flag=True,
              help="Build a local directory with the build tools already installed (offline).")
def install(names: tuple[str, ...], upgrade: bool, editable: bool, no_deps: bool,
            no_build_isolation: bool) -> None:
    """Install plugin distributions (names or local paths) with this interpreter's pip.

    Running pip through the interpreter eventsync runs on means the plugin lands where eventsync
    looks for it, whichever `pip` is first on PATH.
    """
    flags = {"--upgrade": upgrade, "--no-deps": no_deps,
             "--no-build-isolation": no_build_isolation}
    args = ["install", *(flag for flag, on in flags.items() if on)]
    for name in names:
        args += ["-e", name] if editable else [name]
    _pip(args)
    click.echo("installed; `eventsync plugins` lists what each plugin provides")


@plugins.command("uninstall")
@click.argument("names", nargs=-1, required=True)
def uninstall(names: tuple[str, ...]) -> None:
    """Uninstall plugin distributions with this interpreter's pip."""
    _pip(["uninstall", "-y", *names])


def _pip(args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", *args], check=False)
    if result.returncode != 0:
        raise PluginError(f"pip {args[0]} failed with exit code {result.returncode}")
