"""Under load: the benchmark site behind gunicorn sized for the machine, 8 and 32 virtual users.

Where the "requests" phase runs one worker with LocMem, this one runs several workers, as a
site on two cores would, so the cached engines sit on Redis (one cache for every worker; its
database is emptied before each of their runs). Each engine's server runs for the whole phase;
for each size x users x page every engine takes its turn, the order rotated each round, so
drift hits them alike. Each run's users are split over generator processes that share one
timed window after a warm-up. The no-session page ``/health/`` measures the same servers and
generators without a session: a ceiling for the session pages. Beside the rates, the CPU time
per request of the site's workers, of the database server and of Redis (Linux's ``/proc``, in
the timed window) tells where a request's cost lies, and is steadier than the rates on a
shared machine.

The generator is not what limits the figures: with its socket-level client each process used
under a fifth of a core, and one, two or four processes gave the same rates (busy 2-core
machine, PostgreSQL and SQLite, read-only page at 8 and 32 users).
"""

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.charts import COLOURS, pyplot
from bench.engines import ENGINES
from bench.loadgen import percentiles
from bench.profiles import Profile
from bench.vendors import vendor_label

ROOT = Path(__file__).resolve().parent.parent
USERS = (8, 32)
PAGES = ("read", "write")
PAGE_LABELS = {"read": "read-only", "write": "one-key write"}
#: Our engine against Django's, each pair compared in the targets.
PAIRS = {"dbsessions": "django_db", "dbsessions_cached": "django_cached_db"}
CACHED = ("dbsessions_cached", "django_cached_db")
#: What the database column of the CPU figures counts, by vendor.
DATABASE_CPU = {
    "sqlite": "none, SQLite runs in the workers",
    "postgresql": "the benchmark database's backends",
    "mysql": "the whole server",
}
#: Tables and charts put each of our engines beside the Django engine it is compared with.
ORDER = ("dbsessions", "django_db", "dbsessions_cached", "django_cached_db")
#: The targets are on small sessions; large ones, where a mode runs them, are reported only.
TARGET_SIZE = "small"


@dataclass(frozen=True)
class Mode:
    #: Rounds of every case, seconds of warm-up before each timed run, and its timed seconds.
    rounds: int
    warmup: float
    seconds: float
    sizes: tuple[str, ...] = ("small",)


MODES = {
    "smoke": Mode(1, 0.1, 0.2),
    "quick": Mode(2, 1.0, 3.0),
    "full": Mode(3, 2.0, 6.0, ("small", "large")),
}


@dataclass(frozen=True)
class Server:
    """gunicorn's workers, the same for every engine."""

    worker_class: str
    workers: int
    threads: int

    def describe(self) -> str:
        if self.worker_class == "sync":
            return f"{self.workers} sync workers"
        return f"{self.workers} {self.worker_class} workers x {self.threads} threads"


#: Measured on 2 cores (PostgreSQL, every engine, 8 and 32 users): 2 x cores + 1 = 5 sync
#: workers served about 0.6x the rate of 2 or 3 gthread workers x 4 threads, and half the
#: no-session page's (sync workers close each connection, and serve five requests at a time);
#: 2 and 3 gthread workers were level, so one per core, with fewer database connections.
SERVER = Server("gthread", 2, 4)
#: Load generator processes; each run's users are split over them (see above).
GENERATORS = 2


@dataclass(frozen=True)
class Site:
    """One engine's running server: its port, gunicorn's master process, whether it caches."""

    port: int
    pid: int
    cached: bool


@contextmanager
def gunicorn(engines: list[str], server: Server | None = None) -> Iterator[dict[str, Site]]:
    """Each engine's benchmark site on its own free port (``SERVER`` by default), started
    together; stopped by PID."""
    from bench.http_load import _free_port, _wait_until_up  # it reads Django's settings

    server = server or SERVER
    processes: dict[str, tuple[subprocess.Popen, int]] = {}
    try:
        for engine in engines:
            port = _free_port()
            env = {
                **os.environ,
                "BENCH_ENGINE": ENGINES[engine],
                "BENCH_SESSION_CACHE": "redis" if engine in CACHED else "default",
                "DJANGO_SETTINGS_MODULE": "bench.settings",
            }
            command = [
                sys.executable, "-m", "gunicorn", "bench.wsgi:application",
                "--bind", f"127.0.0.1:{port}",
                "--worker-class", server.worker_class,
                "--workers", str(server.workers),
                "--threads", str(server.threads),
                "--graceful-timeout", "5",
                "--log-level", "warning",
            ]  # fmt: skip
            processes[engine] = (subprocess.Popen(command, cwd=ROOT, env=env), port)
        for process, port in processes.values():
            _wait_until_up(port, process)
        yield {
            engine: Site(port, process.pid, engine in CACHED)
            for engine, (process, port) in processes.items()
        }
    finally:
        for process, _ in processes.values():
            process.terminate()
        for process, _ in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _redis() -> Any:
    """The session cache's Redis (``BENCH_REDIS_URL``): that one database is emptied."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
    client.ping()
    return client


def _sessions(engine: str) -> int:
    """Rows in ``engine``'s session table (ours share one, Django's share theirs)."""
    if engine.startswith("dbsessions"):
        from dbsessions.models import Session
    else:
        from django.contrib.sessions.models import Session
    return Session.objects.count()


def _processes() -> Iterator[tuple[int, list[str], str]]:
    """(pid, fields of ``/proc/<pid>/stat`` after the name, command line) of each process."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, UnicodeDecodeError):
                continue  # gone, or not ours to read
            name, _, fields = stat.partition(" (")[2].rpartition(")")
            yield int(entry.name), fields.split(), f"({name}) {command}"


def _serves_database(command: str, vendor: str, name: str) -> bool:
    if vendor == "postgresql":
        return command.startswith("(postgres)") and f" {name} " in command
    return vendor == "mysql" and command.startswith(("(mariadbd)", "(mysqld)"))


def _watched(site: Site) -> dict[str, list[int]] | None:
    """The processes whose CPU a run counts: the site's gunicorn (``app``), the database
    server's processes that serve it (PostgreSQL: the benchmark database's backends; MariaDB
    and MySQL: the whole server; none for SQLite, which runs in the workers) and, for the
    cached engines, Redis. None without Linux's ``/proc``."""
    from django.conf import settings

    if not Path("/proc/self/stat").exists():
        return None
    groups: dict[str, list[int]] = {"app": []}
    if settings.VENDOR != "sqlite":
        groups["database"] = []
    if site.cached:
        groups["cache"] = []
    name = settings.DATABASES["default"]["NAME"]
    for pid, fields, command in _processes():
        if pid == site.pid or int(fields[1]) == site.pid:
            groups["app"].append(pid)
        elif _serves_database(command, settings.VENDOR, name):
            groups["database"].append(pid)
        elif site.cached and command.startswith("(redis-server)"):
            groups["cache"].append(pid)
    return groups


def _cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of these processes so far; 0 for one that is gone."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def measure(
    site: Site, page: str, size: str, users: int, mode: Mode, generators: int = GENERATORS
) -> dict[str, Any]:
    """One timed run: ``users`` split over ``generators`` processes that share one window.

    Each process seeds its users, says so, and gets the same start time, ``mode.warmup``
    seconds later: until then its users warm the server up, untimed. The CPU time that the
    server's processes spend in the window, per request, is counted from here.
    """
    shares = [users // generators + (n < users % generators) for n in range(generators)]
    command = [
        sys.executable, "-m", "bench.loadgen", "--port", str(site.port), "--page", page,
        "--size", size, "--seconds", str(mode.seconds), "--sync", "--raw",
    ]  # fmt: skip
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
    processes = [
        subprocess.Popen([*command, "--users", str(share)], cwd=ROOT, **pipes)
        for share in shares
        if share
    ]
    what = f"{page} page, {size} sessions, {users} users"
    try:
        for process in processes:
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a load generator could not seed its users ({what})")
        start_at = time.time() + mode.warmup
        for process in processes:  # all of them before waiting for any
            process.stdin.write(f"{start_at}\n")
            process.stdin.flush()
        time.sleep(max(0.0, start_at - time.time()))
        watched = _watched(site)
        if watched is not None:
            cpu = {group: _cpu_seconds(pids) for group, pids in watched.items()}
            time.sleep(max(0.0, start_at + mode.seconds - time.time()))
            cpu = {group: _cpu_seconds(pids) - cpu[group] for group, pids in watched.items()}
        timeout = mode.warmup + mode.seconds + 120
        outputs = [process.communicate(timeout=timeout)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    if any(process.returncode for process in processes):
        raise RuntimeError(f"a load generator failed ({what})")
    parts = [json.loads(output.splitlines()[-1]) for output in outputs]
    if not all(part["requests"] for part in parts):
        raise RuntimeError(f"a load generator sent no request in the timed window ({what})")
    requests = sum(part["requests"] for part in parts)
    return {
        "requests": requests,
        "errors": sum(part["errors"] for part in parts),
        "requests_per_s": sum(part["requests_per_s"] for part in parts),
        "generator_cpu": max(part["cpu"] for part in parts),
        "cpu_ms": None if watched is None else {g: t * 1000 / requests for g, t in cpu.items()},
        "latencies_ms": [x for part in parts for x in part["latencies_ms"]],
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A case's rounds: the median rate, and percentiles over every round's latencies."""
    rates = [run["requests_per_s"] for run in runs]
    return {
        "requests": sum(run["requests"] for run in runs),
        "errors": sum(run["errors"] for run in runs),
        "requests_per_s": statistics.median(rates),
        "runs": [round(rate, 1) for rate in rates],
        "latency_ms": percentiles([x for run in runs for x in run["latencies_ms"]]),
        "generator_cpu": max(run["generator_cpu"] for run in runs),
        "cpu_ms": _cpu_summary([run["cpu_ms"] for run in runs]),
    }


def _cpu_summary(runs: list[dict[str, float] | None]) -> dict[str, float] | None:
    """Median CPU ms per request of each group; None where ``/proc`` was not there."""
    if None in runs:
        return None
    return {group: statistics.median(run[group] for run in runs) for group in runs[0]}


def _rotated(names: list[str], turn: int) -> list[str]:
    turn %= len(names)
    return names[turn:] + names[:turn]


def run(vendor: str, profile: Profile, log: Callable[[str], None]) -> dict[str, Any]:
    """Every engine x size x users x page, plus the no-session page per users, by rounds."""
    mode = MODES[profile.name]
    cache = _redis()
    runs: dict[tuple, list[dict[str, Any]]] = {}
    ceiling: dict[int, list[dict[str, Any]]] = {}
    with gunicorn(list(ENGINES)) as sites:
        for turn in range(mode.rounds):
            for size in mode.sizes:
                for users in USERS:
                    if size == TARGET_SIZE:
                        health = measure(sites["django_db"], "health", size, users, mode)
                        ceiling.setdefault(users, []).append(health)
                    for page in PAGES:
                        figures = []
                        for engine in _rotated(list(ENGINES), turn):
                            if engine in CACHED:
                                cache.flushdb()
                            before = _sessions(engine)
                            measured = measure(sites[engine], page, size, users, mode)
                            measured["new_sessions"] = _sessions(engine) - before
                            if engine in CACHED:
                                measured["redis_keys"] = cache.dbsize()
                            runs.setdefault((engine, size, users, page), []).append(measured)
                            figures.append(f"{engine} {measured['requests_per_s']:,.0f}")
                        log(
                            f"  load, round {turn + 1}/{mode.rounds}, {size}, {users} users, "
                            f"{page}: {', '.join(figures)} req/s"
                        )
    rows = []
    for (engine, size, users, page), case in runs.items():
        row = {"engine": engine, "cache": "redis" if engine in CACHED else None}
        row |= {"size": size, "users": users, "page": page, **_summary(case)}
        # One per user, seeded: a user who lost its cookie would start new ones.
        row["new_sessions"] = [run["new_sessions"] for run in case]
        if engine in CACHED:
            row["redis_keys"] = min(run["redis_keys"] for run in case)
        rows.append(row)
    rows.sort(key=lambda r: (r["size"], r["users"], r["page"], ORDER.index(r["engine"])))
    return {
        "server": {**asdict(SERVER), "cores": os.cpu_count()},
        "generators": GENERATORS,
        "mode": asdict(mode),
        "rows": rows,
        "ceiling": [{"users": users, **_summary(case)} for users, case in ceiling.items()],
    }


def _row(load: dict, engine: str, size: str, users: int, page: str) -> dict[str, Any]:
    for row in load["rows"]:
        if (row["engine"], row["size"], row["users"], row["page"]) == (engine, size, users, page):
            return row
    raise KeyError((engine, size, users, page))


def ratio(load: dict, engine: str, size: str, users: int, page: str) -> float:
    """``engine``'s rate over that of the Django engine it is compared with."""
    ours = _row(load, engine, size, users, page)["requests_per_s"]
    return ours / _row(load, PAIRS[engine], size, users, page)["requests_per_s"]


def checks(vendor: dict) -> list[tuple[str, str, float, bool]]:
    """Each of our engines against Django's, read-only and one-key write, at 8 and 32 users."""
    load, found = vendor["load"], []
    for users in USERS:
        for page in PAGES:
            for ours, base in PAIRS.items():
                value = ratio(load, ours, TARGET_SIZE, users, page)
                target = f"under load, {users} users, {PAGE_LABELS[page]}: req/s {ours} / {base}"
                found.append((target, ">= 1.0x", value, value >= 1.0))
    return found


def _n(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _cpu(row: dict) -> str:
    """CPU ms per request: app / database / cache, "-" for what was not measured."""
    cpu = row.get("cpu_ms")
    if not cpu:
        return "n/a"
    return " / ".join(f"{cpu[g]:.2f}" if g in cpu else "-" for g in ("app", "database", "cache"))


def _table(load: dict) -> list[str]:
    header = ["size", "page", "users", "engine", "cache", "req/s", "vs Django", "p50 ms"]
    header += ["p95 ms", "p99 ms", "errors", "CPU ms/req: app / db / cache"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in load["rows"]:
        lat = row["latency_ms"]
        args = (row["engine"], row["size"], row["users"], row["page"])
        versus = f"{ratio(load, *args):.2f}x" if row["engine"] in PAIRS else ""
        cells = [row["size"], PAGE_LABELS[row["page"]], row["users"], row["engine"]]
        cells += [row["cache"] or "", _n(row["requests_per_s"]), versus]
        cells += [f"{lat[p]:.1f}" for p in ("p50", "p95", "p99")] + [row["errors"], _cpu(row)]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return lines


def markdown(results: dict) -> list[str]:
    out = ["## Under load: gunicorn, 8 and 32 users", ""]
    for name, vendor in results["vendors"].items():
        load = vendor.get("load")
        if not load:
            continue
        server, mode = load["server"], load["mode"]
        workers = Server(server["worker_class"], server["workers"], server["threads"])
        if len(out) == 2:
            out += [
                f"Each engine behind its own gunicorn ({workers.describe()}, for "
                f"{server['cores']} cores), loaded by {load['generators']} generator processes "
                f"whose virtual users each keep their cookie, the cached engines on Redis; "
                f"{mode['rounds']} round(s) of {mode['seconds']:g} s per case after "
                f"{mode['warmup']:g} s of warm-up, engines in turn; req/s is the median of the "
                f"rounds, latencies are over all of them.",
                "",
            ]
        ceiling = ", ".join(
            f"{_n(c['requests_per_s'])} req/s at {c['users']} users" for c in load["ceiling"]
        )
        cpu = max(row["generator_cpu"] for row in load["rows"] + load["ceiling"])
        out += [f"### {vendor_label(name, vendor)}", "", *_table(load), ""]
        out += [
            f"The no-session page (`/health/`, same servers and generators): {ceiling}; the "
            f"busiest generator process used {cpu:.0%} of a core. CPU per request is the "
            f"workers' (app), the database server's (db: {DATABASE_CPU[name]}) and Redis' "
            f"(cache) in the timed window, divided by its requests.",
            "",
        ]
    return out[:-1]


def charts(results: dict, directory: Path) -> list[str]:
    """``load-<vendor>.png``: req/s and p99 latency of each engine, by page and users."""
    plt = pyplot()
    names = []
    for name, vendor in results["vendors"].items():
        load = vendor.get("load")
        if not load:
            continue
        cases = [(u, p) for u in USERS for p in PAGES]
        groups = [f"{PAGE_LABELS[p]}, {u} users" for u, p in cases]
        figure, axes = plt.subplots(1, 2, figsize=(12, 4))
        for axis, title, value in (
            (axes[0], "requests/s", lambda r: r["requests_per_s"]),
            (axes[1], "p99 latency (ms)", lambda r: r["latency_ms"]["p99"]),
        ):
            width = 0.8 / len(ORDER)
            for n, engine in enumerate(ORDER):
                heights = [value(_row(load, engine, TARGET_SIZE, u, p)) for u, p in cases]
                offset = (n - (len(ORDER) - 1) / 2) * width
                positions = [g + offset for g in range(len(groups))]
                axis.bar(positions, heights, width, label=engine, color=COLOURS.get(engine))
            axis.set_xticks(range(len(groups)), groups, fontsize=8)
            axis.grid(axis="y", alpha=0.3)
            axis.set_title(f"{vendor_label(name, vendor)} under load: {title}")
        axes[0].legend(fontsize=8)
        figure.tight_layout()
        names.append(f"load-{name}.png")
        figure.savefig(directory / names[-1], dpi=90)
        plt.close(figure)
    return names
