"""`eventsync sync config`: show, set one key, or switch preset."""

from __future__ import annotations

import click

from eventsync.cli.context import app, emit_json
from eventsync.config import SETTINGS, Preset, apply_preset, load_config, set_value


@click.group()
def config() -> None:
    """Show or change config.toml (retention, delivery, presets, limits)."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print the configuration as JSON.")
def show(as_json: bool) -> None:
    """Show the effective configuration (file values over preset over defaults).

    Each line is `KEY = VALUE` with the dotted key `sync config set` takes; `-` means unset.
    """
    cfg = load_config(app(read_only=True).home)
    if as_json:
        emit_json(cfg.to_dict())
        return
    values = cfg.to_dict()
    for setting in SETTINGS:
        value = values[setting.field]
        click.echo(f"{setting.key} = {'-' if value is None else _show(value)}")
    for key in cfg.unknown_keys:
        click.echo(f"warning: unknown key {key} in config.toml (kept, ignored)", err=True)


def _show(value: object) -> str:
    """Values as `sync config set` accepts them back: true/false, comma lists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


@config.command("set")
@click.argument("key")
@click.argument("value")
def set_cmd(key: str, value: str) -> None:
    """Set KEY (dotted, e.g. retry.base_seconds) to VALUE; an empty VALUE removes it."""
    set_value(app().home, key, value)
    click.echo(f"{key} = {value}" if value else f"{key} removed")


@config.command("preset")
@click.argument("name", metavar=f"{{{'|'.join(p.value for p in Preset)}}}")
def preset(name: str) -> None:
    """Switch to a preset: teamspace, external-receiver, local-retention or opt-out."""
    cfg = apply_preset(app().home, name)
    click.echo(f"preset {cfg.preset}: retention {'on' if cfg.retention else 'off'}, "
               f"delivery {cfg.delivery}")
