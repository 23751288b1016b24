"""What a new user meets first: `--version`, where the home is, and packaging metadata."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import platformdirs
import pytest

from eventsync.home import default_home, resolve_home
from eventsync.version import __version__

ROOT = Path(__file__).resolve().parents[2]


def test_version_prints_name_and_version(cli):
    res = cli("--version")
    assert (res.code, res.out, res.err) == (0, f"eventsync, version {__version__}\n", "")


def test_default_home_is_the_platforms_user_data_dir():
    assert default_home() == Path(platformdirs.user_data_dir("eventsync", appauthor=False))


@pytest.mark.skipif(sys.platform != "linux", reason="XDG_DATA_HOME is the Linux rule")
def test_default_home_follows_xdg_data_home(tmp_path, monkeypatch):
    monkeypatch.delenv("EVENTSYNC_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert resolve_home() == tmp_path / "xdg" / "eventsync"


def test_eventsync_home_wins_over_the_platform_default(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("EVENTSYNC_HOME", str(tmp_path / "mine"))
    assert resolve_home() == tmp_path / "mine"
    assert not (tmp_path / "xdg").exists()


PYPROJECTS = ["pyproject.toml", *sorted(p.relative_to(ROOT).as_posix()
                                       for p in ROOT.glob("*/pyproject.toml"))]


@pytest.mark.parametrize("path", PYPROJECTS)
def test_every_distribution_declares_an_spdx_license_string(path):
    """A TOML-table license makes setuptools print a deprecation warning on every install."""
    project = tomllib.loads((ROOT / path).read_text(encoding="utf-8"))
    assert project["project"]["license"] == "Apache-2.0"
    assert project["build-system"]["requires"] == ["setuptools>=77"]


def test_the_test_extra_gives_plugin_authors_pytest():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert any(req.startswith("pytest") for req in project["project"]["optional-dependencies"]
               ["test"])
    assert "platformdirs>=3.0" in project["project"]["dependencies"]
