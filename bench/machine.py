"""What the numbers were measured on."""

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


def _first(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def describe() -> dict[str, Any]:
    memory = _first("/proc/meminfo", "MemTotal")
    return {
        "platform": platform.platform(),
        "cpu": _first("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "memory": memory,
        "python": platform.python_version(),
        "packages": {
            name: _version(name)
            for name in ("Django", "dbsessions", "psycopg", "mysqlclient", "gunicorn")
        },
    }
