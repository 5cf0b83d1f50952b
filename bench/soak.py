"""Soak test: the demo site under load for minutes, its connections killed, its sessions purged.

    python -m bench soak                       # 10 minutes per configuration (make bench-soak)
    python -m bench soak --seconds 60 --vendors postgresql --engines db

For each database (PostgreSQL, MariaDB) and engine (``dbsessions.backends.db``, and
``cached_db`` on Redis), in a process of its own (``--child``, Django's settings are per
process): a database of its own is created and migrated, the users the virtual users log in as
are created, and the demo site (``testproject``, ``bench.soak_settings``) is served by gunicorn
sized for two cores (``bench.load.SERVER``). Virtual users (``bench.soak_users``, in
``GENERATORS`` processes) then browse it for the whole run, each checking every page against
the state it expects. Meanwhile:

- every ``--purge-every`` seconds, ``--expired`` expired sessions are planted and
  ``manage.py purge_sessions`` runs in a process of its own (the first half an interval in);
- every ``--kill-every`` seconds, every connection to the soak's database but the harness's own
  is killed (PostgreSQL: ``pg_terminate_backend``; MariaDB: ``KILL``);
- every ``--sample-every`` seconds, each gunicorn worker's resident memory is read from
  ``/proc``.

The pass criteria, per configuration: no server error (5xx) and no dropped connection outside
the ``--kill-window`` seconds after each kill (those inside are counted apart); no lost or
changed session (every user's final check, and every page during the run, showed what the user
expected); every worker's memory flat after the warm-up (its last sample within 10% of its first
one after ``--warmup``, and no worker restarted). Throughput and p50/p99 latency are reported per
``--bucket`` seconds. Writes ``results.json``, ``README.md`` and PNG charts into ``--output``.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "benchmarks" / "soak"
#: SQLite is not part of the soak: one writer at a time, and no connection to kill.
VENDORS = ("postgresql", "mysql")
ENGINES = {"db": "dbsessions.backends.db", "cached_db": "dbsessions.backends.cached_db"}
#: Load generator processes, the users split over them.
GENERATORS = 2
PASSWORD = "soak-password"
#: A worker's last memory sample may be this much above its first one after the warm-up.
MEMORY_GROWTH = 0.10
#: The Redis database of the cached engine's snapshots (``SOAK_REDIS_URL``), emptied first.
REDIS_URL = "redis://127.0.0.1:6379/13"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _names(text: str, known: tuple[str, ...]) -> list[str]:
    names = text.split(",")
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown: {', '.join(unknown)} (known: {', '.join(known)})"
        )
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The soak's options, for ``python -m bench soak`` and ``python -m bench.soak``."""
    add = parser.add_argument
    add("--vendors", type=lambda text: _names(text, VENDORS), default=list(VENDORS),
        help=f"comma-separated databases (default: {','.join(VENDORS)}; not SQLite)")  # fmt: skip
    add("--engines", type=lambda text: _names(text, tuple(ENGINES)), default=list(ENGINES),
        help="comma-separated engines (default: db,cached_db; cached_db on Redis)")  # fmt: skip
    add("--minutes", type=float, default=10.0, help="length of each configuration's run")
    add("--seconds", type=float, help="length of each run in seconds (instead of --minutes)")
    add("--users", type=int, default=32, help="virtual users (default: 32)")
    add("--kill-every", type=float, default=60.0, metavar="S",
        help="seconds between kills of the database connections (default: 60)")  # fmt: skip
    add("--kill-window", type=float, default=2.0, metavar="S",
        help="seconds after each kill whose errors are the kill's (default: 2)")  # fmt: skip
    add("--purge-every", type=float, default=30.0, metavar="S",
        help="seconds between runs of purge_sessions (default: 30)")  # fmt: skip
    add("--expired", type=int, default=200, metavar="N",
        help="expired sessions planted before each purge (default: 200)")  # fmt: skip
    add("--sample-every", type=float, default=5.0, metavar="S",
        help="seconds between samples of the workers' memory (default: 5)")  # fmt: skip
    add("--warmup", type=float, metavar="S",
        help="seconds before the memory's baseline (default: 60, at most a quarter of the run)")  # fmt: skip
    add("--bucket", type=float, default=10.0, metavar="S",
        help="seconds per point of the throughput and latency series (default: 10)")  # fmt: skip
    add("--seed", type=int, default=0, help="seed of the users' choices")
    add("--db-name", default="soak_dbsessions",
        help="the soak's database, created and dropped for each configuration")  # fmt: skip
    add("--output", type=Path, default=OUTPUT,
        help="directory for results.json, README.md and the charts")  # fmt: skip


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    add_arguments(top)
    return top


def task_of(args: argparse.Namespace) -> dict[str, Any]:
    """What each configuration's process runs, from the options."""
    seconds = args.seconds if args.seconds is not None else args.minutes * 60
    warmup = args.warmup if args.warmup is not None else min(60.0, seconds / 4)
    return {
        "seconds": seconds,
        "users": args.users,
        "kill_every": args.kill_every,
        "kill_window": args.kill_window,
        "purge_every": args.purge_every,
        "expired": args.expired,
        "sample_every": args.sample_every,
        "warmup": warmup,
        "bucket": args.bucket,
        "seed": args.seed,
    }


def command(args: argparse.Namespace) -> int:
    """Soak test: each database x engine under load, connections killed, purges running."""
    from bench import machine
    from bench.load import SERVER

    started = time.monotonic()
    task = task_of(args)
    results: dict[str, Any] = {
        "schema": 1,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine.describe(),
        "server": SERVER.describe(),
        "options": task,
        "configs": {},
        "skipped": {},
    }
    for vendor in args.vendors:
        for engine in args.engines:
            name = f"{vendor}-{engine}"
            log(f"soak {name}: {task['seconds']:g} s, {task['users']} users")
            measured = launch(vendor, engine, args.db_name, task)
            if "skipped" in measured:
                log(f"SKIPPED {name}: {measured['skipped']}")
                results["skipped"][name] = measured["skipped"]
            else:
                results["configs"][name] = measured
                log(summary_line(name, measured))
    results["seconds"] = round(time.monotonic() - started, 1)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    names = charts(results, args.output)
    (args.output / "README.md").write_text(readme(results, names))
    failed = [name for name, config in results["configs"].items() if not config["passed"]]
    log(
        f"Wrote {args.output}/results.json, README.md and {len(names)} charts in "
        f"{results['seconds']} s; {len(failed)} configuration(s) failed a criterion"
        + (f" ({', '.join(failed)})." if failed else ".")
    )
    return 0


def summary_line(name: str, r: dict[str, Any]) -> str:
    e, s, m = r["errors"], r["sessions"], r["memory"]
    growth = "n/a" if m["max_growth"] is None else f"{m['max_growth']:+.1%}"
    return (
        f"  {name}: {r['requests']:,} requests, {r['requests_per_s']:.0f}/s, "
        f"p99 {r['latency_ms']['p99']:.0f} ms | 5xx {e['5xx_in_kill_windows']} in kill windows, "
        f"{e['5xx_outside_kill_windows']} outside | sessions {s['matched']}/{s['users']} matched, "
        f"{s['lost']} lost, {s['changed']} changed, {s['mid_run_mismatches']} mid-run "
        f"mismatches | memory {growth} | {'passed' if r['passed'] else 'FAILED'}"
    )


# One configuration, in its own process -----------------------------------------------------


def launch(vendor: str, engine: str, db_name: str, task: dict[str, Any]) -> dict[str, Any]:
    """Run one configuration in a child process; its result (``{"skipped": reason}`` when
    its database or Redis cannot be reached)."""
    with tempfile.TemporaryDirectory(prefix="soak-") as directory:
        env = {
            **os.environ,
            "SOAK_DB": vendor,
            "SOAK_DB_NAME": db_name,
            "SOAK_ENGINE": ENGINES[engine],
            "SOAK_ERROR_LOG": str(Path(directory) / "errors.log"),
            "DJANGO_SETTINGS_MODULE": "bench.soak_settings",
        }
        output = Path(directory) / "result.json"
        run = [sys.executable, "-m", "bench.soak", "--child", json.dumps(task), str(output)]
        subprocess.run(run, cwd=ROOT, env=env, check=True)
        return json.loads(output.read_text())


def _redis() -> Any:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
    client.ping()
    return client


def _create_users(count: int) -> list[str]:
    from django.contrib.auth import get_user_model

    names = [f"soak{n}" for n in range(count)]
    for name in names:
        get_user_model().objects.create_user(name, password=PASSWORD)
    return names


def _plant_expired(count: int) -> int:
    """``count`` sessions of two attributes each, made by the engine, then expired an hour ago."""
    from datetime import timedelta

    from django.utils import timezone

    from dbsessions.backends.db import SessionStore
    from dbsessions.keys import hash_key
    from dbsessions.models import Session

    hashes = []
    for n in range(count):
        store = SessionStore()
        store.update({"visits": n, "cart": {"tea": 1}})
        store.save()
        assert store.session_key is not None
        hashes.append(hash_key(store.session_key))
    past = timezone.now() - timedelta(hours=1)
    return Session.objects.filter(key_hash__in=hashes).update(expires_at=past)


def _expired_left() -> int:
    from django.utils import timezone

    from dbsessions.models import Session

    return Session.objects.filter(expires_at__lt=timezone.now()).count()


def kill_connections(vendor: str) -> int:
    """Kill every connection to this database but this process's own; how many."""
    from django.db import DatabaseError, connection

    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                "current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
            return sum(1 for (killed,) in cursor.fetchall() if killed)
        cursor.execute(
            "SELECT id FROM information_schema.processlist WHERE db = DATABASE() "
            "AND id <> CONNECTION_ID()"
        )
        killed = 0
        for (thread,) in cursor.fetchall():
            try:
                cursor.execute(f"KILL CONNECTION {int(thread)}")
                killed += 1
            except DatabaseError:  # gone meanwhile
                pass
        return killed


def _workers(master: int) -> list[int]:
    from bench.load import _processes

    return sorted(pid for pid, fields, _ in _processes() if int(fields[1]) == master)


def _rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _wait_for_site(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=5):
                return
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    raise RuntimeError("the soak's site did not answer within 60 seconds")


def _start_site(port: int, workdir: Path) -> subprocess.Popen:
    from bench.load import SERVER

    command = [
        sys.executable, "-m", "gunicorn", "testproject.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--worker-class", SERVER.worker_class,
        "--workers", str(SERVER.workers),
        "--threads", str(SERVER.threads),
        "--graceful-timeout", "5",
        "--log-level", "warning",
        "--error-logfile", str(workdir / "gunicorn.log"),
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT)


def _start_users(port: int, accounts: list[str], start: float, task: dict, workdir: Path) -> list:
    users = task["users"]
    shares = [users // GENERATORS + (n < users % GENERATORS) for n in range(GENERATORS)]
    processes, first = [], 0
    for n, share in enumerate(shares):
        if not share:
            continue
        command = [
            sys.executable, "-m", "bench.soak_users", "--port", str(port),
            "--users", str(share), "--first", str(first), "--accounts", ",".join(accounts),
            "--password", PASSWORD, "--start", repr(start), "--seconds", str(task["seconds"]),
            "--seed", str(task["seed"]),
        ]  # fmt: skip
        out = (workdir / f"users-{n}.json").open("w")
        processes.append((subprocess.Popen(command, cwd=ROOT, stdout=out), out))
        first += share
    return processes


class Purges:
    """``manage.py purge_sessions`` runs, one at a time, each after planting expired sessions."""

    def __init__(self, workdir: Path, expired: int, start: float) -> None:
        self.workdir, self.expired, self.start = workdir, expired, start
        self.runs: list[dict[str, Any]] = []
        self.process: subprocess.Popen | None = None
        self.began = 0.0

    def launch(self) -> None:
        now = time.time() - self.start
        if self.process is not None:
            self.runs.append(
                {
                    "t": round(now, 3),
                    "ok": False,
                    "error": "skipped: the previous run was still running",
                }
            )
            return
        planted = _plant_expired(self.expired)
        n = len(self.runs)
        self.out = (self.workdir / f"purge-{n}.out").open("w")
        self.err_path = self.workdir / f"purge-{n}.err"
        self.err = self.err_path.open("w")
        command = [sys.executable, "manage.py", "purge_sessions"]
        self.began = time.time()
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=self.out, stderr=self.err)
        self.current: dict[str, Any] = {"t": round(self.began - self.start, 3), "planted": planted}
        self.runs.append(self.current)

    def poll(self, wait: bool = False) -> None:
        if self.process is None or (not wait and self.process.poll() is None):
            return
        code = self.process.wait()
        self.out.close()
        self.err.close()
        run = self.current
        run["seconds"] = round(time.time() - self.began, 3)
        run["ok"] = code == 0
        run["expired_left"] = _expired_left()
        if code:
            lines = self.err_path.read_text().strip().splitlines()
            run["error"] = lines[-1][:300] if lines else f"exit code {code}"
        self.process = None


def soak_one(vendor: str, task: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """One configuration on its freshly created database (Django set up on soak settings)."""
    from django.conf import settings

    from bench import dbsetup
    from bench.http_load import _free_port

    cached = settings.SESSION_ENGINE.endswith(".cached_db")
    reason = dbsetup.unreachable(vendor)
    if reason:
        return {"skipped": reason}
    if cached:
        try:
            _redis().flushdb()
        except Exception as exc:
            return {"skipped": f"no Redis at {settings.REDIS_URL}: {exc}"}
    dbsetup.create(vendor)
    try:
        accounts = _create_users(task["users"])
        port = _free_port()
        site = _start_site(port, workdir)
        try:
            _wait_for_site(port, site)
            measured = _drive(vendor, site, port, accounts, task, workdir)
        finally:
            site.terminate()
            try:
                site.wait(timeout=20)
            except subprocess.TimeoutExpired:
                site.kill()
                site.wait()
        measured["server_version"] = dbsetup.server_version(vendor)
        measured["engine"] = settings.SESSION_ENGINE
        measured["vendor"] = vendor
        measured["redis_keys"] = _redis().dbsize() if cached else None
        measured["gunicorn_log"] = _gunicorn_problems(workdir / "gunicorn.log")
        return measured
    finally:
        dbsetup.drop(vendor)


def _drive(
    vendor: str, site: subprocess.Popen, port: int, accounts: list[str], task: dict, workdir: Path
) -> dict[str, Any]:
    """The run itself: users, kills, purges and memory samples, on one schedule."""
    start = time.time() + 2.0  # the users' processes start meanwhile
    end = start + task["seconds"]
    users = _start_users(port, accounts, start, task, workdir)
    purges = Purges(workdir, task["expired"], start)
    kills: list[dict[str, Any]] = []
    samples: dict[int, list[list[float]]] = {}
    next_kill = start + task["kill_every"]
    next_purge = start + task["purge_every"] / 2
    next_sample = start
    try:
        while (now := time.time()) < end:
            if now >= next_sample:
                for pid in _workers(site.pid):
                    rss = _rss_kb(pid)
                    if rss is not None:
                        samples.setdefault(pid, []).append([round(now - start, 2), rss])
                next_sample += task["sample_every"]
            if now >= next_kill:
                killed = kill_connections(vendor)
                kills.append({"t": round(now - start, 3), "killed": killed})
                next_kill += task["kill_every"]
            if now >= next_purge:
                purges.launch()
                next_purge += task["purge_every"]
            purges.poll()
            wake = min(next_sample, next_kill, next_purge, end)
            time.sleep(min(0.2, max(0.0, wake - time.time())))
        for pid in _workers(site.pid):
            rss = _rss_kb(pid)
            if rss is not None:
                samples.setdefault(pid, []).append([round(time.time() - start, 2), rss])
        purges.poll(wait=True)
        outputs = []
        for process, out in users:
            code = process.wait(timeout=task["seconds"] + 300)
            out.close()
            if code:
                raise RuntimeError(f"a virtual users' process failed with exit code {code}")
        for n in range(len(users)):
            outputs.append(json.loads((workdir / f"users-{n}.json").read_text()))
    finally:
        for process, _ in users:
            if process.poll() is None:
                process.kill()
                process.wait()
        if purges.process is not None and purges.process.poll() is None:
            purges.process.kill()
    records = [record for output in outputs for record in output["records"]]
    vus = [user for output in outputs for user in output["users"]]
    from django.conf import settings

    server_errors = _server_errors(Path(settings.ERROR_LOG), start) if settings.ERROR_LOG else []
    return analyse(records, vus, kills, purges.runs, samples, server_errors, task)


def _server_errors(path: Path, start: float) -> list[list[Any]]:
    """[t, path, error] of each server error the site logged (``bench.soak_settings``)."""
    if not path.exists():
        return []
    errors = []
    for line in path.read_text().splitlines():
        when, _, rest = line.partition("\t")
        where, _, error = rest.partition("\t")
        errors.append([round(float(when) - start, 3), where, error])
    return errors


def _gunicorn_problems(path: Path) -> list[str]:
    """What gunicorn's log says at warning level and above (worker timeouts, restarts)."""
    if not path.exists():
        return []
    return [line[:300] for line in path.read_text().splitlines() if line.strip()][:50]


# Analysis ---------------------------------------------------------------------------------


def in_windows(start: float, end: float, kills: list[float], window: float) -> bool:
    """Whether a request from ``start`` to ``end`` overlaps a kill's window."""
    return any(start <= kill + window and end >= kill for kill in kills)


def percentiles(latencies_ms: list[float]) -> dict[str, float]:
    from bench.loadgen import percentiles

    return {k: round(v, 2) for k, v in percentiles(latencies_ms).items()}


def buckets(records: list[list[Any]], seconds: float, size: float) -> list[dict[str, Any]]:
    """Throughput, p50 and p99 latency and errors per ``size`` seconds of the run."""
    from bench.soak_users import KINDS

    final = KINDS.index("final")
    count = max(1, math.ceil(seconds / size - 1e-9))
    latencies: list[list[float]] = [[] for _ in range(count)]
    errors = [0] * count
    for start, latency, status, kind in records:
        if kind == final or not 0 <= start < seconds:
            continue
        n = min(int(start // size), count - 1)
        latencies[n].append(latency)
        errors[n] += status == 0 or status >= 500
    series = []
    for n in range(count):
        length = min(size, seconds - n * size)
        cuts = percentiles(latencies[n]) if latencies[n] else {"p50": None, "p99": None}
        series.append(
            {
                "t": round(n * size, 3),
                "requests": len(latencies[n]),
                "requests_per_s": round(len(latencies[n]) / length, 1),
                "p50_ms": cuts["p50"],
                "p99_ms": cuts["p99"],
                "errors": errors[n],
            }
        )
    return series


def memory(samples: dict[int, list[list[float]]], warmup: float) -> dict[str, Any]:
    """Each worker's first sample after the warm-up against its last; flat when every one
    grew by at most ``MEMORY_GROWTH`` and no worker was replaced."""
    workers = []
    for pid, series in sorted(samples.items()):
        after = [s for s in series if s[0] >= warmup]
        first, last = (after[0][1], after[-1][1]) if len(after) >= 2 else (None, None)
        growth = None if first is None else round(last / first - 1, 4)
        workers.append(
            {
                "pid": pid,
                "samples": series,
                "baseline_kb": first,
                "last_kb": last,
                "growth": growth,
            }
        )
    # Workers that were there from the first sample to the last: any other one was started
    # later, in place of one that died.
    ends = [(w["samples"][0][0], w["samples"][-1][0]) for w in workers]
    first_t = min((a for a, _ in ends), default=0.0)
    last_t = max((b for _, b in ends), default=0.0)
    replaced = sum(1 for a, b in ends if a > first_t or b < last_t)
    growths = [w["growth"] for w in workers if w["growth"] is not None]
    max_growth = max(growths) if growths else None
    flat = bool(growths) and max_growth <= MEMORY_GROWTH and replaced == 0
    return {
        "warmup_s": warmup,
        "workers": workers,
        "replaced": replaced,
        "max_growth": max_growth,
        "flat": flat,
    }


def analyse(
    records: list[list[Any]],
    users: list[dict[str, Any]],
    kills: list[dict[str, Any]],
    purges: list[dict[str, Any]],
    samples: dict[int, list[list[float]]],
    server_errors: list[list[Any]],
    task: dict[str, Any],
) -> dict[str, Any]:
    """Every figure and criterion of one configuration's run."""
    from bench.soak_users import KINDS

    window = task["kill_window"]
    kill_times = [kill["t"] for kill in kills]
    purge_spans = [(p["t"], p["t"] + p.get("seconds", 0.0)) for p in purges if "planted" in p]
    by_kind: dict[str, Counter] = {}
    errors = Counter()
    outside: list[dict[str, Any]] = []
    load = []
    for start, latency, status, kind in records:
        name = KINDS[kind]
        by_kind.setdefault(name, Counter())[str(status)] += 1
        if name != "final" and start < task["seconds"]:
            load.append(latency)
        failed = "5xx" if status >= 500 else "dropped" if status == 0 else None
        if failed is None:
            continue
        end = start + latency / 1000
        if in_windows(start, end, kill_times, window):
            errors[f"{failed}_in_kill_windows"] += 1
            continue
        errors[f"{failed}_outside_kill_windows"] += 1
        if len(outside) < 50:
            during_purge = any(a <= end and start <= b for a, b in purge_spans)
            outside.append(
                {"t": start, "kind": name, "status": status, "during_purge": during_purge}
            )
    logged = {"in_kill_windows": Counter(), "outside_kill_windows": Counter()}
    for when, _, error in server_errors:
        where = "in" if in_windows(when, when, kill_times, window) else "outside"
        logged[f"{where}_kill_windows"][error] += 1
    verdicts = Counter(user["final"]["verdict"] for user in users)
    mid_run = sum(user["mismatches"] for user in users)
    sessions = {
        "users": len(users),
        "matched": verdicts["matched"],
        "lost": verdicts["lost"],
        "changed": verdicts["changed"],
        "unanswered": verdicts["unanswered"],
        "mid_run_mismatches": mid_run,
        "resolved_after_failure": sum(user["resolved_after_failure"] for user in users),
        "lost_by_failed_login": sum(user["lost_by_failed_login"] for user in users),
        "logins": sum(user["logins"] for user in users),
        "logouts": sum(user["logouts"] for user in users),
        "unexpected_responses": sum(user["unexpected"] for user in users),
        "examples": [
            {"user": user["index"], **user["final"]}
            for user in users
            if user["final"]["verdict"] != "matched"
        ][:10]
        + [
            {"user": user["index"], "mid_run": example}
            for user in users
            for example in user["mismatch_examples"]
        ][:10],
    }
    error_counts = {
        key: errors[key]
        for key in (
            "5xx_in_kill_windows",
            "5xx_outside_kill_windows",
            "dropped_in_kill_windows",
            "dropped_outside_kill_windows",
        )
    }
    mem = memory(samples, task["warmup"])
    criteria = {
        "no_5xx_outside_kill_windows": error_counts["5xx_outside_kill_windows"] == 0
        and error_counts["dropped_outside_kill_windows"] == 0,
        "sessions_intact": sessions["matched"] == sessions["users"] and mid_run == 0,
        "memory_flat": mem["flat"],
    }
    return {
        "seconds": task["seconds"],
        "requests": len(records),
        "requests_per_s": round(len(load) / task["seconds"], 1),
        "latency_ms": percentiles(load),
        "by_kind": {kind: dict(counts) for kind, counts in sorted(by_kind.items())},
        "errors": {**error_counts, "outside_examples": outside},
        "server_errors": {where: dict(counts) for where, counts in logged.items()},
        "kills": kills,
        "purges": purges,
        "sessions": sessions,
        "memory": mem,
        "buckets": buckets(records, task["seconds"], task["bucket"]),
        "criteria": criteria,
        "passed": all(criteria.values()),
    }


# Charts and summary -----------------------------------------------------------------------


def label(name: str, config: dict[str, Any]) -> str:
    from bench.vendors import vendor_label

    engine = name.split("-", 1)[1]
    suffix = " on Redis" if engine == "cached_db" else ""
    return f"{vendor_label(config['vendor'], config)}, {engine}{suffix}"


def charts(results: dict[str, Any], directory: Path) -> list[str]:
    """Throughput and latency over time per configuration, and the workers' memory."""
    from bench.charts import pyplot

    plt = pyplot()
    names = []
    configs = results["configs"]
    for name, config in configs.items():
        series = config["buckets"]
        ts = [b["t"] + results["options"]["bucket"] / 2 for b in series]
        figure, (rate, latency) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
        rate.plot(ts, [b["requests_per_s"] for b in series], marker=".", color="#2b7bba")
        rate.set_ylabel("requests/s")
        rate.set_ylim(bottom=0)
        for key, colour in (("p50_ms", "#1b9e77"), ("p99_ms", "#d95f02")):
            points = [(t, b[key]) for t, b in zip(ts, series, strict=True) if b[key] is not None]
            latency.plot(*zip(*points, strict=True), marker=".", color=colour, label=key[:3])
        latency.set_ylabel("latency (ms)")
        latency.set_xlabel("seconds into the run")
        latency.set_ylim(bottom=0)
        for axis in (rate, latency):
            for n, kill in enumerate(config["kills"]):
                axis.axvline(
                    kill["t"], color="#c00", ls=":", lw=1, label="kill" if n == 0 else None
                )
            for n, purge in enumerate(p for p in config["purges"] if "seconds" in p):
                axis.axvspan(purge["t"], purge["t"] + purge["seconds"], color="#999", alpha=0.3,
                             label="purge" if n == 0 else None)  # fmt: skip
            axis.grid(alpha=0.3)
        latency.legend(loc="upper right", fontsize="small")
        rate.set_title(f"{label(name, config)}: {results['options']['users']} users")
        figure.tight_layout()
        names.append(f"soak-{name}.png")
        figure.savefig(directory / names[-1], dpi=90)
        plt.close(figure)
    if configs:
        columns = min(2, len(configs))
        rows = math.ceil(len(configs) / columns)
        figure, axes = plt.subplots(
            rows, columns, figsize=(6 * columns, 3.5 * rows), squeeze=False
        )
        for axis, (name, config) in zip(axes.flat, configs.items(), strict=False):
            for worker in config["memory"]["workers"]:
                points = worker["samples"]
                axis.plot([p[0] for p in points], [p[1] / 1024 for p in points], marker=".",
                          label=f"worker {worker['pid']}")  # fmt: skip
            axis.axvline(
                config["memory"]["warmup_s"], color="#666", ls="--", lw=1, label="warm-up"
            )
            axis.set_title(label(name, config), fontsize="medium")
            axis.set_xlabel("seconds into the run")
            axis.set_ylabel("resident memory (MB)")
            axis.grid(alpha=0.3)
            axis.legend(fontsize="x-small")
        for axis in list(axes.flat)[len(configs) :]:
            axis.set_visible(False)
        figure.tight_layout()
        names.append("soak-memory.png")
        figure.savefig(directory / names[-1], dpi=90)
        plt.close(figure)
    return names


def _yes(value: bool) -> str:
    return "yes" if value else "**no**"


def readme(results: dict[str, Any], names: list[str]) -> str:
    """The summary: the pass criteria per configuration, then the charts and any failure."""
    o = results["options"]
    lines = [
        "# Soak test",
        "",
        f"Generated {results['generated_at']} by `python -m bench soak` (`make bench-soak`) on "
        f"{results['machine'].get('cores')} cores: {o['seconds']:g} s per configuration, "
        f"{o['users']} virtual users, gunicorn with {results['server']}. The database "
        f"connections were killed every {o['kill_every']:g} s and `purge_sessions` ran every "
        f"{o['purge_every']:g} s ({o['expired']} expired sessions planted before each run).",
        "",
        "Criteria: no server error (5xx) or dropped connection outside the "
        f"{o['kill_window']:g} s after each kill; every user's session as it expected, at the "
        "final check and on every page during the run; every gunicorn worker's resident memory "
        f"at the end within {MEMORY_GROWTH:.0%} of its first sample after the "
        f"{o['warmup']:g} s warm-up, and no worker replaced.",
        "",
        "| Configuration | Requests | Requests/s | p50 ms | p99 ms | 5xx in kill windows "
        "| 5xx outside | Kills | Purges ok | Sessions matched | Lost | Changed "
        "| Mid-run mismatches | Memory growth | Passed |",
        "|" + "---|" * 15,
    ]
    for name, r in results["configs"].items():
        e, s, m = r["errors"], r["sessions"], r["memory"]
        ok = sum(1 for p in r["purges"] if p.get("ok"))
        growth = "n/a" if m["max_growth"] is None else f"{m['max_growth']:+.1%}"
        cells = [
            label(name, r), f"{r['requests']:,}", f"{r['requests_per_s']:,.0f}",
            f"{r['latency_ms']['p50']:.1f}", f"{r['latency_ms']['p99']:.1f}",
            e["5xx_in_kill_windows"] + e["dropped_in_kill_windows"],
            e["5xx_outside_kill_windows"] + e["dropped_outside_kill_windows"],
            len(r["kills"]), f"{ok}/{len(r['purges'])}", f"{s['matched']}/{s['users']}",
            s["lost"], s["changed"], s["mid_run_mismatches"], growth, _yes(r["passed"]),
        ]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    for name, reason in results["skipped"].items():
        lines.append(f"| {name} | skipped: {reason} |" + " |" * 13)
    lines += ["", "The 5xx columns count dropped connections too.", ""]
    for name, r in results["configs"].items():
        s = r["sessions"]
        lines.append(
            f"- {label(name, r)}: {s['logins']:,} logins, {s['logouts']:,} logouts; after a "
            f"failed request, {s['resolved_after_failure']} page(s) told which state it left, "
            f"{s['lost_by_failed_login']} of them a session lost by a failed login (the key "
            "was rotated, the response with the new cookie was an error)."
        )
    lines.append("")
    if names:
        lines += ["## Charts", ""]
        lines += [f"![{n[:-4]}]({n})" for n in names]
        lines.append("")
    failures = []
    for name, r in results["configs"].items():
        if r["passed"]:
            continue
        failed = ", ".join(k for k, v in r["criteria"].items() if not v)
        failures += [f"### {label(name, r)}", "", f"Failed: {failed}.", ""]
        if r["errors"]["outside_examples"]:
            failures.append("Errors outside the kill windows (seconds into the run):")
            failures += [f"- {x}" for x in r["errors"]["outside_examples"][:10]]
            failures.append("")
        outside = r["server_errors"]["outside_kill_windows"]
        if outside:
            failures.append("Server errors logged outside the kill windows:")
            failures += [f"- {n} x `{error}`" for error, n in outside.items()]
            failures.append("")
        if r["sessions"]["examples"]:
            failures.append("Sessions not as expected:")
            failures += [f"- `{json.dumps(x)}`" for x in r["sessions"]["examples"]]
            failures.append("")
        if not r["memory"]["flat"]:
            failures.append(
                f"Memory: largest growth {r['memory']['max_growth']}, "
                f"{r['memory']['replaced']} worker(s) replaced."
            )
            failures.append("")
    if failures:
        lines += ["## Failures", "", *failures]
    return "\n".join(lines).rstrip() + "\n"


def child(task: dict[str, Any], output: Path) -> None:
    import django
    from django.conf import settings

    django.setup()
    with tempfile.TemporaryDirectory(prefix="soak-run-") as directory:
        result = soak_one(settings.VENDOR, task, Path(directory))
    output.write_text(json.dumps(result))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(json.loads(argv[1]), Path(argv[2]))
        return 0
    return command(parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
