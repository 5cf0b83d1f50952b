"""Concurrent saves on one session: lost updates and errors, per engine.

Each thread has its own database connection and loads, changes and saves the session in a
loop, as concurrent requests of one browser would.
"""

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.engines import ENGINES, store_class
from bench.profiles import Profile
from tests.utils import run_threads


def _hammer(
    store: Any, key: str, threads: int, writes: int, name_of: Callable[[int, int], str]
) -> Counter:
    """Every thread writes ``writes`` times; returns the exceptions raised, by class name."""
    errors: Counter = Counter()
    lock = threading.Lock()

    def worker(t: int) -> None:
        for i in range(writes):
            try:
                session = store(key)
                session[name_of(t, i)] = f"{t}-{i}"
                session.save()
            except Exception as exc:
                with lock:
                    errors[type(exc).__name__] += 1

    crashed = run_threads(worker, threads)
    if crashed:  # the worker catches every error of a save: this is the harness's own bug
        raise crashed[0]
    return errors


def run(profile: Profile, log: Callable[[str], None]) -> list[dict[str, Any]]:
    results = []
    threads, writes = profile.threads, profile.writes_per_thread
    for engine in ENGINES:
        log(f"  concurrency: {engine}")
        store = store_class(engine)

        session = store()
        session["start"] = "x"
        session.save()
        distinct_errors = _hammer(
            store, session.session_key, threads, writes, lambda t, i: f"t{t}-{i}"
        )
        stored = store(session.session_key).load()
        expected = {f"t{t}-{i}" for t in range(threads) for i in range(writes)}
        lost = len(expected - set(stored))

        session = store()
        session["start"] = "x"
        session.save()
        same_errors = _hammer(store, session.session_key, threads, writes, lambda t, i: "same")
        results.append(
            {
                "engine": engine,
                "threads": threads,
                "writes_per_thread": writes,
                "distinct_keys": {
                    "writes": threads * writes,
                    "lost_updates": lost,
                    "errors": sum(distinct_errors.values()),
                    "error_types": dict(distinct_errors),
                },
                "same_key": {
                    "writes": threads * writes,
                    "errors": sum(same_errors.values()),
                    "error_types": dict(same_errors),
                },
            }
        )
    return results
