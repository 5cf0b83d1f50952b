"""Request-level benchmarks: the benchmark site behind gunicorn, load from another process.

gunicorn runs one worker with threads, so the LocMem cache of ``cached_db`` is one cache for
every request, as a shared cache would be in production.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings

from bench.engines import ENGINES
from bench.profiles import Profile

GUNICORN_THREADS = 4
ROOT = settings.BASE_DIR


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(engine_module: str) -> Iterator[int]:
    port = _free_port()
    env = {**os.environ, "BENCH_ENGINE": engine_module, "DJANGO_SETTINGS_MODULE": "bench.settings"}
    command = [
        sys.executable, "-m", "gunicorn", "bench.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--workers", "1",
        "--threads", str(GUNICORN_THREADS),
        "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        _wait_until_up(port, process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer within 30 seconds")


def _load(port: int, page: str, size: str, profile: Profile) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "bench.loadgen",
        "--port", str(port), "--page", page, "--size", size,
        "--users", str(profile.users), "--seconds", str(profile.request_seconds),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def run(profile: Profile, log: Callable[[str], None]) -> list[dict[str, Any]]:
    results = []
    for engine, module in ENGINES.items():
        log(f"  requests: {engine}")
        with gunicorn(module) as port:
            for size in ("small", "large"):
                for page in ("read", "write"):
                    measured = _load(port, page, size, profile)
                    results.append({"engine": engine, "size": size, "page": page, **measured})
    return results
