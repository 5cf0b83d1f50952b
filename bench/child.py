"""One database's benchmarks, in a process of its own (Django's settings are per process).

``launch`` is how the orchestrator (``python -m bench``) starts it; it is not a command of its
own. The child creates its benchmark database first and drops it at the end, whatever happens,
and writes ``{"skipped": reason}`` when the server cannot be reached.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: What one process per database measures, in this order; the purge runs in a process of its own.
SUITE = (
    "store", "driver", "request_sql", "load", "concurrency", "same_key", "metrics",
    "storage", "lifetime", "growth",
)  # fmt: skip
PHASES = (*SUITE, "purge")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def launch(vendor: str, db_name: str, task: dict[str, Any], sqlite_dir: Path | None) -> dict:
    """Run ``task`` (its ``phases`` and their options) in a child process on ``vendor``.

    ``sqlite_dir`` holds SQLite's database file; None leaves it in the settings' default
    directory.
    """
    env = {
        **os.environ,
        "BENCH_DB": vendor,
        "BENCH_DB_NAME": db_name,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
    }
    if sqlite_dir is not None:
        env["BENCH_WORKDIR"] = str(sqlite_dir)
    with tempfile.TemporaryDirectory(prefix="bench-child-") as directory:
        output = Path(directory) / "result.json"
        command = [sys.executable, "-m", "bench.child", json.dumps(task), str(output)]
        subprocess.run(command, cwd=ROOT, env=env, check=True)
        return json.loads(output.read_text())


def _runners(vendor: str, task: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    from bench import concurrency, lifetime, profile, purge, request_sql, storage, store
    from bench.profiles import PROFILES
    from bench.sections import PHASES, module

    mode = PROFILES[task.get("mode", "quick")]
    reporting = {
        phase: lambda phase=phase: module(phase).run(vendor, mode, log) for phase in PHASES
    }
    return {
        **reporting,
        "store": lambda: store.run(mode, log),
        "request_sql": request_sql.run,
        "concurrency": lambda: concurrency.run(mode, log),
        "storage": lambda: storage.run(vendor, mode, log),
        "lifetime": lambda: lifetime.run(mode, log),
        "purge": lambda: purge.run(vendor, log, **task.get("purge", {})),
        "profile": lambda: profile.run(**task["profile"]),
    }


def measure(vendor: str, task: dict[str, Any]) -> dict[str, Any]:
    """Every phase of ``task`` on a fresh benchmark database, with its duration."""
    from bench import dbsetup

    reason = dbsetup.unreachable(vendor)
    if reason:
        return {"skipped": reason}
    runners = _runners(vendor, task)
    dbsetup.create(vendor)
    try:
        result: dict[str, Any] = {"server_version": dbsetup.server_version(vendor), "seconds": {}}
        for phase in task["phases"]:
            started = time.monotonic()
            result[phase] = runners[phase]()
            result["seconds"][phase] = round(time.monotonic() - started, 1)
        return result
    finally:
        dbsetup.drop(vendor)


if __name__ == "__main__":
    import django
    from django.conf import settings

    django.setup()
    task, output = json.loads(sys.argv[1]), Path(sys.argv[2])
    log(f"{settings.VENDOR}: {', '.join(task['phases'])} ({task.get('mode', 'quick')} mode)")
    output.write_text(json.dumps(measure(settings.VENDOR, task)))
