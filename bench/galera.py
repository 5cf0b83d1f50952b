"""Figures of dbsessions on the Galera suite's three-node cluster, for docs/scaling.md.

    python -m bench.galera [--rounds N] [--output docs/benchmarks/galera.json]

Starts the cluster (``tests/galera/cluster.py``) unless it runs, creates a database on it
through HAProxy, and measures, in one run:

- save and read rates of one thread on one node and through HAProxy, with ``wsrep_sync_wait``
  on and off, and on the machine's own MariaDB (3306) beside them;
- stale reads per 1,000 loads on node 2 right after a save on node 1, with and without
  ``wsrep_sync_wait``;
- certification conflicts (retries) and failed saves per 1,000 saves of one session from
  three nodes at once, each save changing its own key, with and without ``TOUCH_INTERVAL``,
  and with everyone writing the same key;
- the longest save on node 2 while a purge runs on node 1.

Nothing here asserts: the Galera suite (tests/galera) checks the behaviour.
"""

import argparse
import json
import logging
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

#: The same rates on the machine's own MariaDB, in a child process (settings are per process).
STANDALONE = "--standalone" in sys.argv
os.environ["DBSESSIONS_GALERA"] = "0" if STANDALONE else "1"
if STANDALONE:
    os.environ["DBSESSIONS_DB"] = "mysql"
os.environ.setdefault("DBSESSIONS_TEST_SUFFIX", "_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")

import django  # noqa: E402

django.setup()

from django.db import connections  # noqa: E402
from django.test.utils import override_settings, setup_databases, teardown_databases  # noqa: E402
from django.utils import timezone  # noqa: E402

from dbsessions.backends.db import SessionStore  # noqa: E402
from dbsessions.models import Attribute, Session  # noqa: E402
from dbsessions.purge import purge_expired  # noqa: E402
from tests.galera.cluster import Cluster, on_node  # noqa: E402

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks" / "galera.json"


class RetryCounter(logging.Handler):
    """Counts the engine's retry warnings (one per certification conflict it retried)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.most = 0
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if "lost a deadlock" in record.getMessage():
            attempt = record.args[2] if isinstance(record.args, tuple) else 0
            with self._lock:
                self.count += 1
                self.most = max(self.most, int(attempt))


def _new_session(**data: Any) -> str:
    session = SessionStore()
    session.update(data)
    session.save()
    assert session.session_key is not None
    return session.session_key


def _set_sync_wait(value: int) -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute(f"SET SESSION wsrep_sync_wait = {int(value)}")


def _rate(operation: Callable[[], None], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        operation()
    return count / (time.perf_counter() - started)


#: Interleaved rounds per place: the machine's speed drifts, so each setting is measured in
#: turn, and the figures are medians.
RATE_ROUNDS = 7


def rates(rounds: int) -> dict[str, dict[str, float]]:
    """One thread's save and read rates per place and wsrep_sync_wait setting, and the cost of
    waiting (the median ratio of paired rounds)."""
    results: dict[str, dict[str, float]] = {}
    places: list[tuple[str, Callable[[], Any]]] = [
        ("node 1", lambda: on_node(1)),
        ("HAProxy", _through_haproxy),
    ]
    if STANDALONE:
        places = [("MariaDB on 3306", _through_haproxy)]
    waits = (0,) if STANDALONE else (0, 1)
    per_round = max(10, rounds // RATE_ROUNDS)
    for place, where in places:
        measured: dict[int, dict[str, list[float]]] = {w: {"save": [], "read": []} for w in waits}
        with where():
            key = _new_session(cart=[])
            counter = iter(range(10**9))

            def save(key: str = key, counter: Any = counter) -> None:
                session = SessionStore(key)
                session["cart"] = next(counter)
                session.save()

            def read(key: str = key) -> None:
                SessionStore(key).load()

            for _ in range(RATE_ROUNDS):
                for wait in waits:
                    _set_sync_wait(wait)
                    measured[wait]["save"].append(_rate(save, per_round))
                    measured[wait]["read"].append(_rate(read, per_round))
        for wait in waits:
            figures = {
                "saves_per_s": round(statistics.median(measured[wait]["save"])),
                "reads_per_s": round(statistics.median(measured[wait]["read"])),
            }
            if wait == 1:
                for what in ("save", "read"):
                    pairs = zip(measured[1][what], measured[0][what], strict=True)
                    ratio = statistics.median(a / b for a, b in pairs)
                    figures[f"{what}s_vs_no_wait"] = round(ratio, 2)
            results[f"{place}, wsrep_sync_wait={wait}"] = figures
    return results


class _through_haproxy:
    """The ``default`` connection as the settings have it (through HAProxy on the cluster)."""

    def __enter__(self) -> None:
        connections["default"].close()

    def __exit__(self, *exc: object) -> None:
        connections["default"].close()


def throughput(threads: int, saves_each: int, spread: bool) -> dict[str, float]:
    """Saves per second of ``threads`` threads, each saving its own session: all on node 1,
    or through HAProxy (round-robin over the three nodes)."""

    def worker(index: int) -> None:
        with on_node(1) if not spread else _through_haproxy():
            key = _new_session(cart=[])
            for i in range(saves_each):
                session = SessionStore(key)
                session["cart"] = i
                session.save()

    started = time.perf_counter()
    errors = _run([lambda i=i: worker(i) for i in range(threads)])
    seconds = time.perf_counter() - started
    return {"saves_per_s": round(threads * saves_each / seconds), "errors": len(errors)}


def stale_reads(rounds: int, wait: int) -> dict[str, float]:
    """Loads on node 2 right after a save on node 1 that miss the save, per 1,000."""
    key = _new_session(n=-1)
    saved: queue.Queue[int | None] = queue.Queue()
    read: queue.Queue[bool] = queue.Queue()
    read_ms: list[float] = []

    def writer() -> None:
        with on_node(1):
            for n in range(rounds):
                session = SessionStore(key)
                session["n"] = n
                session.save()
                saved.put(n)
                read.get(timeout=30)
            saved.put(None)

    stale = 0

    def reader() -> None:
        nonlocal stale
        with on_node(2):
            _set_sync_wait(wait)
            while (n := saved.get(timeout=30)) is not None:
                started = time.perf_counter()
                seen = SessionStore(key).load().get("n")
                read_ms.append((time.perf_counter() - started) * 1000)
                stale += seen != n
                read.put(True)

    _run([writer, reader])
    return {
        "stale_per_1000": round(1000 * stale / rounds, 1),
        "read_ms_p50": round(statistics.median(read_ms), 3),
    }


def _run(targets: list[Callable[[], None]]) -> list[BaseException]:
    errors: list[BaseException] = []

    def wrap(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as exc:  # counted by the caller
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=wrap, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def conflicts(saves_per_node: int, *, same_key: bool, touch_interval: int | None) -> dict:
    """Retries and failures per 1,000 saves of one session from three nodes at once."""
    counter = RetryCounter()
    logger = logging.getLogger("dbsessions")
    logger.addHandler(counter)
    failures = 0
    lock = threading.Lock()
    with override_settings(DBSESSIONS={"RETRIES": 15, "TOUCH_INTERVAL": touch_interval}):
        key = _new_session(cart=[])
        barrier = threading.Barrier(3)

        def writer(number: int) -> None:
            nonlocal failures
            with on_node(number):
                barrier.wait()
                for i in range(saves_per_node):
                    session = SessionStore(key)
                    session["shared" if same_key else f"node{number}"] = i
                    try:
                        session.save()
                    except Exception:
                        with lock:
                            failures += 1

        started = time.perf_counter()
        _run([lambda n=n: writer(n) for n in (1, 2, 3)])
        seconds = time.perf_counter() - started
    logger.removeHandler(counter)
    total = 3 * saves_per_node
    return {
        "saves": total,
        "retries_per_1000": round(1000 * counter.count / total, 1),
        "most_retries_of_one_save": counter.most,
        "failed_per_1000": round(1000 * failures / total, 1),
        "saves_per_s": round(total / seconds),
    }


def purge_stall(expired: int, batch_size: int | None, idle: float = 0.0) -> dict[str, float]:
    """Saves on node 2 (one every 5 ms) while node 1 purges ``expired`` sessions (five
    attributes each, inserted in bulk) in batches of ``batch_size`` (None: sized as the
    purge sizes them); with ``idle``, no purge: the same saves for that many seconds, the
    machine's own noise."""
    past = timezone.now() - timedelta(days=1)
    with on_node(1):
        for start in range(0, expired if not idle else 0, 1000):
            sessions = Session.objects.bulk_create(
                Session(
                    key_hash=f"{start + i:064x}",
                    created_at=past,
                    last_access=past,
                    expires_at=past,
                )
                for i in range(min(1000, expired - start))
            )
            Attribute.objects.bulk_create(
                Attribute(session=session, name=f"a{n}", value=b"x" * 60)
                for session in sessions
                for n in range(5)
            )
    live = _new_session(cart=[])
    latencies: list[float] = []
    stop = threading.Event()

    def saver() -> None:
        with on_node(2):
            i = 0
            while not stop.is_set():
                session = SessionStore(live)
                session["cart"] = i
                started = time.perf_counter()
                session.save()
                latencies.append((time.perf_counter() - started) * 1000)
                i += 1
                time.sleep(0.005)

    result: dict[str, Any] = {}

    def purger() -> None:
        with on_node(1):
            time.sleep(0.3)
            started = time.perf_counter()
            if idle:
                time.sleep(idle)
            else:
                result["sessions"] = purge_expired("default", None, batch_size).sessions
            result["seconds"] = time.perf_counter() - started
        stop.set()

    _run([saver, purger])
    return {
        "purged": result.get("sessions", 0),
        "purge_seconds": round(result.get("seconds", 0.0), 2),
        "saves_during": len(latencies),
        "save_ms_p50": round(statistics.median(latencies), 2),
        "save_ms_p99": round(statistics.quantiles(latencies, n=100)[98], 1),
        "save_ms_max": round(max(latencies), 1),
        "saves_over_100_ms": sum(ms > 100 for ms in latencies),
    }


#: Rounds of the three purge runs, interleaved (the machine's own stalls vary from run to run).
PURGE_ROUNDS = 3


def purge_stalls(expired: int) -> dict[str, dict[str, float]]:
    """Batched purge, one-batch purge and no purge, in turn: per kind the median p50 and p99
    of the saves beside it, the longest save and the saves over 100 ms of all rounds."""
    runs: dict[str, list[dict[str, float]]] = {}
    for _ in range(PURGE_ROUNDS):
        batched = purge_stall(expired, None)
        runs.setdefault("batches sized by the purge", []).append(batched)
        runs.setdefault("one batch", []).append(purge_stall(expired, expired))
        idle = purge_stall(0, None, idle=batched["purge_seconds"])
        runs.setdefault("no purge (the machine's own stalls)", []).append(idle)
    summary: dict[str, dict[str, float]] = {}
    for kind, rounds in runs.items():
        summary[kind] = {
            "purged_per_round": rounds[0]["purged"],
            "purge_seconds": statistics.median(r["purge_seconds"] for r in rounds),
            "save_ms_p50": statistics.median(r["save_ms_p50"] for r in rounds),
            "save_ms_p99": statistics.median(r["save_ms_p99"] for r in rounds),
            "save_ms_max": max(r["save_ms_max"] for r in rounds),
            "saves": sum(r["saves_during"] for r in rounds),
            "saves_over_100_ms": sum(r["saves_over_100_ms"] for r in rounds),
        }
    return summary


def _standalone(rounds: int) -> int:
    old = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    try:
        print(json.dumps(rates(rounds)))
    finally:
        teardown_databases(old, verbosity=0)
    return 0


def _standalone_rates(rounds: int) -> dict[str, dict[str, float]]:
    command = [sys.executable, "-m", "bench.galera", "--standalone", "--rounds", str(rounds)]
    root = Path(__file__).resolve().parent.parent
    output = subprocess.run(command, cwd=root, check=True, capture_output=True, text=True)
    return dict(json.loads(output.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--standalone", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.standalone:
        return _standalone(args.rounds)
    cluster = Cluster()
    started_cluster = not cluster.running()
    if started_cluster:
        cluster.start()
    logging.getLogger("dbsessions").propagate = False
    old = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    try:
        results: dict[str, Any] = {
            "generated_at": timezone.now().strftime("%Y-%m-%d %H:%M UTC"),
            "rounds": args.rounds,
        }
        print("rates ...", file=sys.stderr)
        results["rates"] = {**_standalone_rates(args.rounds), **rates(args.rounds)}
        print("throughput ...", file=sys.stderr)
        each = max(10, args.rounds // 6)
        results["throughput_6_threads"] = {
            "node 1": throughput(6, each, spread=False),
            "HAProxy, three nodes": throughput(6, each, spread=True),
        }
        print("stale reads ...", file=sys.stderr)
        results["stale_reads"] = {
            f"wsrep_sync_wait={wait}": stale_reads(args.rounds, wait) for wait in (0, 1)
        }
        print("conflicts ...", file=sys.stderr)
        per_node = max(1, args.rounds // 3)
        results["conflicts"] = {
            "own key, TOUCH_INTERVAL=None": conflicts(
                per_node, same_key=False, touch_interval=None
            ),
            "own key, TOUCH_INTERVAL=300": conflicts(per_node, same_key=False, touch_interval=300),
            "same key, TOUCH_INTERVAL=None": conflicts(
                per_node, same_key=True, touch_interval=None
            ),
        }
        print("purge stall ...", file=sys.stderr)
        results["purge_stall"] = purge_stalls(max(1000, args.rounds * 20))
    finally:
        teardown_databases(old, verbosity=0)
        if started_cluster:
            cluster.stop()
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
