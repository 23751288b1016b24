"""A PEP 517 backend that packs the `[tool.setuptools] py-modules` of `pyproject.toml` into a
pure-Python wheel, with the `[project]` name, version and entry points.

The tutorial's distribution says `build-backend = "setuptools.build_meta"`, but setuptools cannot
build a wheel offline without the `wheel` package; the test swaps in this backend so the same
`[project]` table installs with `pip install --no-build-isolation --no-index`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib
import zipfile
from pathlib import Path

HERE = Path(__file__).parent


def get_requires_for_build_wheel(config_settings: dict | None = None) -> list[str]:
    return []


def build_wheel(wheel_directory: str, config_settings: dict | None = None,
                metadata_directory: str | None = None) -> str:
    pyproject = tomllib.loads((HERE / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    modules = pyproject["tool"]["setuptools"]["py-modules"]
    stem = f"{re.sub(r'[-_.]+', '_', project['name'])}-{project['version']}"
    info = f"{stem}.dist-info"
    files = {f"{module}.py": (HERE / f"{module}.py").read_bytes() for module in modules}
    files[f"{info}/METADATA"] = (f"Metadata-Version: 2.1\nName: {project['name']}\n"
                                 f"Version: {project['version']}\n").encode()
    files[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: wheel_backend\n"
                              b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    files[f"{info}/entry_points.txt"] = _entry_points(project).encode()
    lines = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*lines, f"{info}/RECORD,,"]) + "\n").encode()
    name = f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(Path(wheel_directory) / name, "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
    return name


def _entry_points(project: dict) -> str:
    groups = project.get("entry-points", {})
    return "".join(f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in eps.items())
                   for group, eps in groups.items())


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
