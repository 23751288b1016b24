"""EventSyncConfig: retention x delivery, four presets, and the other knobs, in `config.toml`.

The file is read with `tomllib` and written with `tomli-w`, atomically (temp file + rename in the
same directory) and 0600, since operators put endpoints and sometimes secrets beside settings.
A malformed file is an error naming file, line and column, never a silent fall-back to defaults.
Keys eventsync does not know are kept on save and reported, so a typo is visible instead of lost.
"""

from __future__ import annotations

import enum
import math
import os
import re
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from eventsync.errors import ConfigError
from eventsync.home import CONFIG_NAME, resolve_home


class Preset(enum.StrEnum):
    """Named retention x delivery combinations."""

    TEAMSPACE = "teamspace"
    EXTERNAL_RECEIVER = "external-receiver"
    LOCAL_RETENTION = "local-retention"
    OPT_OUT = "opt-out"


PRESETS: dict[Preset, dict[str, Any]] = {
    Preset.TEAMSPACE: {"retention.enabled": True, "delivery.mode": "teamspace"},
    Preset.EXTERNAL_RECEIVER: {"retention.enabled": True, "delivery.mode": "external"},
    Preset.LOCAL_RETENTION: {"retention.enabled": True, "delivery.mode": "none"},
    Preset.OPT_OUT: {"retention.enabled": False, "delivery.mode": "none"},
}
AUTO = "auto"
MAX_TABLE_DEPTH = 32
NONE = "none"
_MODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no",
                                                     "off", "0"):
        return value.lower() in ("true", "yes", "on", "1")
    raise ValueError("expected true or false")


def _positive_int(value: Any) -> int:
    try:
        number = int(value) if isinstance(value, str) else value
    except ValueError:
        number = None
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ValueError("expected a whole number of at least 1")
    return number


def _positive_float(value: Any) -> float:
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        number = None
    if (isinstance(number, bool) or not isinstance(number, int | float) or not number > 0
            or not math.isfinite(number)):
        raise ValueError("expected a number greater than 0")
    return float(number)


def _mode(value: Any) -> str:
    if not isinstance(value, str) or not _MODE_RE.match(value):
        raise ValueError("expected `auto`, `none` or a receiver type name")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a target name")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected text")
    return value


def _types(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of event types")
    return tuple(value)


def _preset(value: Any) -> str:
    return parse_preset(value).value


@dataclass(frozen=True)
class Setting:
    """One known key: where it lives in the file, how to parse it, which field it fills."""

    key: str
    field: str
    parse: Callable[[Any], Any]


SETTINGS = (
    Setting("preset", "preset", _preset),
    Setting("sync.active_target", "active_target", _name),
    Setting("retention.enabled", "retention", _bool),
    Setting("delivery.mode", "delivery", _mode),
    Setting("delivery.batch_size", "batch_size", _positive_int),
    Setting("retry.base_seconds", "retry_base_seconds", _positive_float),
    Setting("retry.max_seconds", "retry_max_seconds", _positive_float),
    Setting("queue.max_size", "max_queue_size", _positive_int),
    Setting("coalesce.types", "coalesce_types", _types),
    Setting("gc.policy", "gc_policy", _text),
    Setting("gc.older_than", "gc_older_than", _text),
    Setting("gc.max_events", "gc_max_events", _positive_int),
    Setting("work.lease_ttl_seconds", "lease_ttl_seconds", _positive_float),
    Setting("work.heartbeat_seconds", "heartbeat_seconds", _positive_float),
    Setting("work.max_workers", "max_workers", _positive_int),
    Setting("work.max_per_host", "max_per_host", _positive_int),
)
_BY_KEY = {s.key: s for s in SETTINGS}


@dataclass(frozen=True)
class EventSyncConfig:
    """Everything configurable, with the defaults a fresh home gets."""

    preset: str | None = None
    retention: bool = True
    delivery: str = AUTO
    active_target: str | None = None
    batch_size: int = 500
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 300.0
    max_queue_size: int = 100_000  # spec-kitty's eviction cap ([sync] max_queue_size)
    coalesce_types: tuple[str, ...] = ()
    gc_policy: str = "keep-all"
    gc_older_than: str | None = None
    gc_max_events: int | None = None
    lease_ttl_seconds: float = 60.0
    heartbeat_seconds: float = 10.0
    max_workers: int = 4
    max_per_host: int = 2
    unknown_keys: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["coalesce_types"] = list(self.coalesce_types)
        data["unknown_keys"] = list(self.unknown_keys)
        return data

    @property
    def delivers(self) -> bool:
        return self.delivery != NONE


def parse_preset(value: Any) -> Preset:
    """A preset from `TEAMSPACE`, `external_receiver`, `Local-Retention` and the like."""
    text = str(value).strip().lower().replace("_", "-")
    try:
        return Preset(text)
    except ValueError:
        names = ", ".join(p.value for p in Preset)
        raise ConfigError(f"unknown preset {value!r} (presets: {names})") from None


def config_path(home: Path) -> Path:
    return Path(home) / CONFIG_NAME


def read_raw(home: Path) -> dict[str, Any]:
    """The file as TOML data; `{}` when there is none. Malformed -> file, line and column."""
    path = config_path(home)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{path}: cannot be read as TOML ({type(exc).__name__}: "
                          f"{str(exc)[:120]})") from None


def load_config(home: Path) -> EventSyncConfig:
    """Parse and validate `config.toml`; presets fill in what the file does not say."""
    raw = read_raw(home)
    flat = _flatten(raw, config_path(home))
    values: dict[str, Any] = {}
    preset_name = flat.get("preset")
    if preset_name is not None:
        for key, value in PRESETS[_parse(config_path(home), "preset", preset_name,
                                         "preset")].items():
            values[_BY_KEY[key].field] = value
    unknown = []
    for key, value in flat.items():
        setting = _BY_KEY.get(key)
        if setting is None:
            unknown.append(key)
            continue
        values[setting.field] = _parse(config_path(home), key, value, setting.field)
    if values.get("active_target") == "":
        values["active_target"] = None
    return EventSyncConfig(**values, unknown_keys=tuple(sorted(unknown)))


def set_value(home: Path, key: str, value: str) -> EventSyncConfig:
    """Validate and store one dotted key; an empty value removes the key."""
    setting = _BY_KEY.get(key)
    if setting is None:
        known = ", ".join(s.key for s in SETTINGS)
        raise ConfigError(f"unknown config key {key!r} (known keys: {known})")
    raw = read_raw(home)
    if value == "":
        _delete(raw, key)
    else:
        parsed = _parse(config_path(home), key, value, setting.field)
        _assign(raw, key, list(parsed) if isinstance(parsed, tuple) else parsed)
    save_raw(home, raw)
    return load_config(home)


def apply_preset(home: Path, name: str) -> EventSyncConfig:
    """Switch preset; the keys the preset decides are reset so the preset really applies."""
    preset = parse_preset(name)
    raw = read_raw(home)
    for key in PRESETS[preset]:
        _delete(raw, key)
    raw["preset"] = preset.value
    save_raw(home, raw)
    return load_config(home)


def save_raw(home: Path, raw: dict[str, Any]) -> None:
    """Atomic replace, 0600; unknown keys are written back untouched."""
    path = config_path(home)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            tomli_w.dump(raw, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _parse(path: Path, key: str, value: Any, field_name: str) -> Any:
    setting = _BY_KEY[key]
    try:
        return setting.parse(value)
    except (ConfigError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: {key} = {value!r}: {exc}") from None


def _flatten(raw: dict[str, Any], path: Path | None = None) -> dict[str, Any]:
    """Dotted keys for nested tables. Iterative, and tables nested deeper than any real
    setting are refused: the file could not be written back, and a typo that deep is no key."""
    flat: dict[str, Any] = {}
    stack: list[tuple[str, int, dict[str, Any]]] = [("", 0, raw)]
    while stack:
        prefix, depth, table = stack.pop()
        if depth > MAX_TABLE_DEPTH:
            raise ConfigError(f"{path or CONFIG_NAME}: tables nested deeper than "
                              f"{MAX_TABLE_DEPTH} levels ({prefix[:60]}...)")
        for key, value in table.items():
            dotted = f"{prefix}{key}"
            if isinstance(value, dict):
                stack.append((dotted + ".", depth + 1, value))
            else:
                flat[dotted] = value
    return flat


def _assign(raw: dict[str, Any], key: str, value: Any) -> None:
    *tables, leaf = key.split(".")
    node = raw
    for table in tables:
        node = node.setdefault(table, {})
        if not isinstance(node, dict):
            raise ConfigError(f"config key {table!r} is a value, not a table; fix config.toml")
    node[leaf] = value


def _delete(raw: dict[str, Any], key: str) -> None:
    *tables, leaf = key.split(".")
    node: Any = raw
    for table in tables:
        node = node.get(table) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(leaf, None)


@dataclass(frozen=True)
class RedeliveryHorizon:
    """How long after a first post eventsync may post the same event again.

    A drainer killed after posting holds its lease for up to `lease_ttl_seconds` before another
    host reclaims it; an event whose answer was lost (a timeout) is retried after at most
    `retry_max_seconds`. A receiver that deduplicates within a time window (NATS JetStream's
    duplicate window, say) needs that window to be at least `seconds` long.
    """

    lease_ttl_seconds: float
    retry_max_seconds: float

    @property
    def seconds(self) -> float:
        return self.lease_ttl_seconds + self.retry_max_seconds


def redelivery_horizon(home: str | os.PathLike[str] | None = None) -> RedeliveryHorizon:
    """The horizon under the settings of `home` (a receiver passes `target.home`)."""
    config = load_config(resolve_home(home, create=False))
    return RedeliveryHorizon(config.lease_ttl_seconds, config.retry_max_seconds)
