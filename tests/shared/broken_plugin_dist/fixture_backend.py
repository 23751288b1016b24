"""A minimal PEP 517 backend: one module, one `eventsync` entry point, a pure-Python wheel.

setuptools without the `wheel` package cannot build with `--no-build-isolation`, and build
isolation would need the network; this keeps the broken-plugin test self-contained.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

NAME = "eventsync_broken_fixture"
VERSION = "0.0.1"
DIST_INFO = f"{NAME}-{VERSION}.dist-info"
METADATA = f"Metadata-Version: 2.1\nName: eventsync-broken-fixture\nVersion: {VERSION}\n"
WHEEL = "Wheel-Version: 1.0\nGenerator: fixture_backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
ENTRY_POINTS = f"[eventsync]\nbroken = {NAME}\n"


def get_requires_for_build_wheel(config_settings: dict | None = None) -> list[str]:
    return []


def build_wheel(wheel_directory: str, config_settings: dict | None = None,
                metadata_directory: str | None = None) -> str:
    files = {
        f"{NAME}.py": (Path(__file__).parent / f"{NAME}.py").read_bytes(),
        f"{DIST_INFO}/METADATA": METADATA.encode(),
        f"{DIST_INFO}/WHEEL": WHEEL.encode(),
        f"{DIST_INFO}/entry_points.txt": ENTRY_POINTS.encode(),
    }
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in files.items()]
    files[f"{DIST_INFO}/RECORD"] = ("\n".join([*record, f"{DIST_INFO}/RECORD,,"]) + "\n").encode()
    filename = f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(Path(wheel_directory) / filename, "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
    return filename


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
