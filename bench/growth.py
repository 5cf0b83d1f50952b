"""Cost as the store grows: read and one-key-save latency at 10,000, 100,000 and 1,000,000
live sessions.

The tables are emptied, then filled (``bench.fill``: set-based ``INSERT ... SELECT``, in
transactions of ``CHUNK`` sessions) up to each size of ``SIZES`` in turn, each step adding to
what the last one left. After each step the tables are analyzed (and vacuumed on PostgreSQL)
and the fill's dirty pages written out (``fill.settle``), as on a maintained table, and then
``dbsessions.backends.db.SessionStore`` is timed one operation at a time on sessions drawn
uniformly from the whole table, so that the database's buffer pool misses as often as random
access over that many sessions makes it (its size is in the results; PostgreSQL's misses may
still be found in the operating system's page cache):

- read: load a session and read one key;
- save: load a session, change one key (``cart``) and save.

Reads and saves alternate, with a ``SELECT 1`` round trip after each pair (the control: what
the machine's drift alone does to a latency between sizes); ``WARMUP`` untimed operations of
each come first at every size. Each point records the percentiles, the sessions counted in
the table, whether every load found its session, the buffer pool's hits and misses during the
timed operations (and per read and per save, over ``WARMUP`` more of each in a row), the size
of each table and index, and the plan of the load query (PostgreSQL: run, with its buffers).
The targets: at the largest size, p50 at most 1.25x and p99 at most 1.5x the smallest size's,
on PostgreSQL and MariaDB.
"""

import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import fill
from bench.profiles import Profile
from bench.sqlcount import capture
from bench.vendors import vendor_label

#: Live sessions measured, by profile name, each size filled on top of the one before.
SIZES = {
    "smoke": (200, 2_000),
    "quick": (10_000, 100_000, 1_000_000),
    "full": (10_000, 100_000, 1_000_000),
}
#: Timed operations of each kind per size, and untimed ones before them.
SAMPLES = {"smoke": 20, "quick": 3_000, "full": 10_000}
WARMUP = {"smoke": 5, "quick": 300, "full": 1_000}
#: Sessions per INSERT ... SELECT transaction.
CHUNK = 100_000
OPERATIONS = ("read", "save")
#: Where the targets apply, and the targets themselves: (percentile, most largest / smallest).
TARGET_VENDORS = ("postgresql", "mysql")
TARGETS = (("p50", 1.25), ("p99", 1.5))
PERCENTILES = ("p50", "p95", "p99")


def _grow(vendor: str, first: int, last: int, newest: int, log: Callable[[str], None]) -> dict:
    """Fill sessions ``first`` to ``last``, then analyze and settle; the seconds each took."""
    from django.db import transaction

    from dbsessions.conf import app_settings

    started = time.monotonic()
    for start in range(first, last + 1, CHUNK):
        stop = min(last, start + CHUNK - 1)
        with transaction.atomic():
            fill.fill(vendor, start, stop, newest=newest, app_name=app_settings.APP_NAME)
        log(f"  growth: filled {stop:,} sessions ({time.monotonic() - started:.0f} s)")
    inserted = time.monotonic()
    fill.analyze(vendor)
    analyzed = time.monotonic()
    settled = fill.settle(vendor)
    return {
        "sessions_added": last - first + 1,
        "insert_s": round(inserted - started, 1),
        "analyze_s": round(analyzed - inserted, 1),
        "settle_s": settled.pop("seconds"),
        "settle": settled,
    }


def _count() -> dict[str, int]:
    """Live sessions of this app in the table, and their attributes."""
    from django.db import connection
    from django.utils import timezone

    from dbsessions.conf import app_settings

    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM dbsessions_session WHERE app_name = %s AND expires_at > %s",
            [app_settings.APP_NAME, now],
        )
        sessions = int(cursor.fetchone()[0])
        cursor.execute("SELECT COUNT(*) FROM dbsessions_attribute")
        attributes = int(cursor.fetchone()[0])
    return {"sessions": sessions, "attributes": attributes}


def buffer_pool(vendor: str) -> dict[str, Any]:
    """The database's own cache: its size in bytes, and the settings that decide it."""
    from django.db import connection

    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(
                "SELECT setting::bigint * current_setting('block_size')::bigint, "
                "current_setting('shared_buffers'), current_setting('effective_cache_size') "
                "FROM pg_settings WHERE name = 'shared_buffers'"
            )
            size, shared, effective = cursor.fetchone()
            settings = {"shared_buffers": shared, "effective_cache_size": effective}
        elif vendor == "mysql":
            cursor.execute(
                "SELECT @@innodb_buffer_pool_size, @@innodb_flush_method, @@innodb_page_size"
            )
            size, method, page = cursor.fetchone()
            settings = {
                "innodb_buffer_pool_size": f"{int(size) // 2**20}MB",
                "innodb_flush_method": method,
                "innodb_page_size": int(page),
            }
        else:
            cursor.execute("PRAGMA cache_size")
            cache = int(cursor.fetchone()[0])
            cursor.execute("PRAGMA page_size")
            page = int(cursor.fetchone()[0])
            # A negative cache_size is in KiB; the operating system caches the file beside it.
            size = -cache * 1024 if cache < 0 else cache * page
            settings = {"cache_size": f"{size // 1024:,} KiB per connection", "page_size": page}
    return {"bytes": int(size), "settings": settings}


def _cache_counters(vendor: str) -> dict[str, int]:
    """Cumulative page lookups and misses of the buffer pool ({} on SQLite).

    PostgreSQL: the two tables' heap and index blocks (``pg_statio_user_tables``), a miss being
    a read from the operating system, which may find it in its page cache. MariaDB/MySQL: the
    whole server's InnoDB counters, a miss being a read from disk.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute("SELECT pg_stat_force_next_flush()")  # this backend's, when idle
            cursor.execute(
                "SELECT SUM(heap_blks_hit + COALESCE(idx_blks_hit, 0)), "
                "SUM(heap_blks_read + COALESCE(idx_blks_read, 0)) "
                "FROM pg_statio_user_tables WHERE relname = ANY(%s)",
                [list(fill.TABLES)],
            )
            hits, reads = (int(v or 0) for v in cursor.fetchone())
            return {"lookups": hits + reads, "misses": reads}
        if vendor == "mysql":
            cursor.execute(
                "SELECT variable_name, variable_value FROM information_schema.GLOBAL_STATUS "
                "WHERE variable_name IN "
                "('INNODB_BUFFER_POOL_READ_REQUESTS', 'INNODB_BUFFER_POOL_READS')"
            )
            status = {name.lower(): int(value) for name, value in cursor.fetchall()}
            return {
                "lookups": status["innodb_buffer_pool_read_requests"],
                "misses": status["innodb_buffer_pool_reads"],
            }
    return {}


class Operations:
    """The timed operations, on the filled sessions."""

    def __init__(self) -> None:
        from dbsessions.backends.db import SessionStore

        self.store = SessionStore
        self.counter = 0

    def read(self, key: str) -> bool:
        """Load and read one key; whether the session was found."""
        return self.store(key).get("_auth_user_id") is not None

    def control(self, key: str) -> bool:
        """A ``SELECT 1`` round trip, whatever the table's size: drift of the machine."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() is not None

    def save(self, key: str) -> bool:
        """Load, change one key and save; whether the session was found (else no save)."""
        session = self.store(key)
        if "cart" not in session:
            return False
        self.counter += 1
        session["cart"] = f"{self.counter:089d}"  # 91 bytes serialized, as the filled ones
        session.save()
        return True


def _misses(
    vendor: str, operations: Operations, sessions: int, count: int, seed: int
) -> dict[str, float]:
    """Buffer pool misses per operation of each kind, over ``count`` untimed ones in a row."""
    chosen = random.Random(seed)
    result = {}
    for op in OPERATIONS:
        before = _cache_counters(vendor)
        for _ in range(count):
            getattr(operations, op)(fill.session_key(chosen.randint(1, sessions)))
        after = _cache_counters(vendor)
        result[op] = round((after["misses"] - before["misses"]) / count, 2)
    return result


def _percentiles(seconds: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    ms = {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98]}
    ms.update(mean=statistics.fmean(seconds), max=max(seconds))
    return {name: round(value * 1000, 4) for name, value in ms.items()}


def _time(
    operations: Operations, sessions: int, samples: int, warmup: int, seed: int
) -> dict[str, dict[str, Any]]:
    """``samples`` timed reads and saves, alternating, on sessions drawn from 1 to
    ``sessions``, and as many control round trips between them."""
    chosen = random.Random(seed)
    timed: dict[str, list[float]] = {op: [] for op in (*OPERATIONS, "control")}
    found = dict.fromkeys(timed, 0)
    for i in range(warmup + samples):
        for op in timed:
            key = fill.session_key(chosen.randint(1, sessions))
            operation = getattr(operations, op)
            start = time.perf_counter()
            hit = operation(key)
            elapsed = time.perf_counter() - start
            if i >= warmup:
                timed[op].append(elapsed)
                found[op] += hit
    return {
        op: {
            "samples": samples,
            "found": found[op],
            "missing": samples - found[op],
            **_percentiles(timed[op]),
        }
        for op in timed
    }


def _plan(vendor: str, sessions: int) -> list[str]:
    """The load query's plan for one filled session (PostgreSQL: run, with its buffers)."""
    from django.db import connection
    from django.utils import timezone

    from dbsessions.conf import app_settings
    from dbsessions.dialects import dialect_for
    from dbsessions.keys import hash_key

    explain = {
        "postgresql": "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, COSTS OFF) ",
        "mysql": "EXPLAIN ",
        "sqlite": "EXPLAIN QUERY PLAN ",
    }[vendor]
    key = fill.session_key(random.Random(-sessions).randint(1, sessions))
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params = [hash_key(key), app_settings.APP_NAME, now]
    with connection.cursor() as cursor:
        cursor.execute(explain + dialect_for(connection).load_sql, params)
        columns = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    if vendor == "postgresql":
        return [row[0] for row in rows]
    if vendor == "mysql":
        return [", ".join(f"{c}={v}" for c, v in zip(columns, row, strict=True)) for row in rows]
    return [str(row[-1]) for row in rows]


def _ratio(points: list[dict], op: str, percentile: str) -> float:
    return points[-1]["ops"][op][percentile] / points[0]["ops"][op][percentile]


def _measure(
    vendor: str, operations: Operations, sessions: int, samples: int, warmup: int
) -> dict[str, Any]:
    """The timed operations at one size, and the buffer pool's hits and misses during them."""
    before = _cache_counters(vendor)
    ops = _time(operations, sessions, samples, warmup, seed=sessions)
    after = _cache_counters(vendor)
    if not before:
        return {"ops": ops, "cache": {}}
    lookups = after["lookups"] - before["lookups"]
    misses = after["misses"] - before["misses"]
    cache = {
        "lookups": lookups,
        "misses": misses,
        "hit_ratio": 1 - misses / lookups if lookups else None,
        "misses_per_op": misses / (len(OPERATIONS) * (samples + warmup)),
        "misses_per": _misses(vendor, operations, sessions, warmup, seed=-sessions),
    }
    return {"ops": ops, "cache": cache}


def run(vendor: str, profile: Profile, log: Callable[[str], None]) -> dict[str, Any]:
    """Fill up to each size in turn and time reads and saves there."""
    sizes, samples, warmup = SIZES[profile.name], SAMPLES[profile.name], WARMUP[profile.name]
    started = time.monotonic()
    fill.empty(vendor)
    operations = Operations()
    points = []
    for n, sessions in enumerate(sizes):
        log(f"  growth: filling to {sessions:,} sessions")
        grown = _grow(vendor, sizes[n - 1] + 1 if n else 1, sessions, sizes[-1], log)
        tables = fill.sizes(vendor)
        point = {
            "sessions": sessions,
            "counted": _count(),
            "fill": grown,
            "tables": tables,
            "bytes": sum(fill.total(table, vendor) for table in tables.values()),
        }
        log(f"  growth: timing {samples:,} reads and saves over {sessions:,} sessions")
        point.update(_measure(vendor, operations, sessions, samples, warmup))
        point["plan"] = _plan(vendor, sessions)
        points.append(point)
        read, save = point["ops"]["read"], point["ops"]["save"]
        log(
            f"  growth {sessions:,}: read p50 {read['p50']:.2f} ms p99 {read['p99']:.2f} ms, "
            f"save p50 {save['p50']:.2f} ms p99 {save['p99']:.2f} ms"
        )
    key = fill.session_key(1)
    return {
        "vendor": vendor,
        "sizes": list(sizes),
        "samples": samples,
        "warmup": warmup,
        "attributes_per_session": len(fill.ATTRIBUTES),
        "buffer_pool": buffer_pool(vendor),
        "sql": {op: capture(lambda op=op: getattr(operations, op)(key)) for op in OPERATIONS},
        "points": points,
        "ratios": {
            op: {p: round(_ratio(points, op, p), 3) for p, _ in TARGETS}
            for op in (*OPERATIONS, "control")
        },
        "fill_seconds": round(
            sum(p["fill"][k] for p in points for k in ("insert_s", "analyze_s", "settle_s")), 1
        ),
        "seconds": round(time.monotonic() - started, 1),
    }


def checks(vendor_results: dict) -> list[tuple[str, str, float, bool]]:
    """Largest over smallest size, p50 and p99 of each operation, where the targets apply."""
    growth = vendor_results.get("growth")
    if not growth or growth["vendor"] not in TARGET_VENDORS:
        return []
    smallest, largest = growth["sizes"][0], growth["sizes"][-1]
    rows = []
    for op in OPERATIONS:
        for percentile, most in TARGETS:
            ratio = growth["ratios"][op][percentile]
            target = f"{op} {percentile}, {largest:,} / {smallest:,} sessions"
            rows.append((target, f"<= {most}x", ratio, ratio <= most))
    return rows


def _grown(results: dict) -> dict[str, dict]:
    return {
        name: vendor["growth"]
        for name, vendor in results["vendors"].items()
        if vendor.get("growth")
    }


def _mb(value: float) -> str:
    return f"{value / 2**20:,.0f}" if value >= 2**20 else f"{value / 2**20:,.1f}"


def _cells(measured: dict[str, float]) -> str:
    return " / ".join(f"{measured[p]:.2f}" for p in PERCENTILES)


def markdown(results: dict) -> list[str]:
    """The section of the report: latencies per size, the ratios, the fill's duration."""
    grown = _grown(results)
    if not grown:
        return []
    sizes = next(iter(grown.values()))["sizes"]
    out = [
        f"## Growth: {sizes[0]:,} to {sizes[-1]:,} sessions",
        "",
        "Read (load + one key) and one-key save (load + change one key + save) of "
        "`dbsessions.backends.db`, one operation at a time, on sessions drawn at random from "
        f"the whole table of live sessions ({len(fill.ATTRIBUTES)} attributes each, filled "
        "with set-based SQL, then analyzed and their pages written out). Latencies in ms; "
        "`SELECT 1` is a round trip timed between them, which only the machine's drift "
        "moves. Buffer hits are the database's own cache during the timed operations, and "
        "misses per read or save are counted over more of them in a row (PostgreSQL: the "
        "two tables' blocks, whose misses may still be found in the operating system's page "
        "cache; MariaDB: the whole server's InnoDB pages, misses read from disk). The "
        "tables' size is also given as a multiple of that cache (SQLite's is per "
        "connection, beside the operating system's).",
        "",
        "| database | sessions | read p50 / p95 / p99 | save p50 / p95 / p99 "
        "| `SELECT 1` p50 / p95 / p99 | buffer hits | misses per read / save "
        "| tables + indexes MB (x buffer pool) | fill s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, growth in grown.items():
        label = vendor_label(name, results["vendors"][name])
        pool = growth["buffer_pool"]["bytes"]
        for point in growth["points"]:
            ops, cache, grown_by = point["ops"], point["cache"], point["fill"]
            hits = f"{cache['hit_ratio']:.2%}" if cache.get("hit_ratio") is not None else "-"
            misses = (
                " / ".join(f"{cache['misses_per'][op]:.2f}" for op in OPERATIONS) if cache else "-"
            )
            seconds = grown_by["insert_s"] + grown_by["analyze_s"] + grown_by["settle_s"]
            out.append(
                f"| {label} | {point['sessions']:,} | {_cells(ops['read'])} "
                f"| {_cells(ops['save'])} | {_cells(ops['control'])} | {hits} | {misses} "
                f"| {_mb(point['bytes'])} ({point['bytes'] / pool:.2g}x) | {seconds:.0f} |"
            )
    out += [
        "",
        "| database | read p50 | read p99 | save p50 | save p99 | `SELECT 1` p50 "
        "| samples per operation and size | whole fill s | buffer pool |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, growth in grown.items():
        label = vendor_label(name, results["vendors"][name])
        ratios = growth["ratios"]
        cells = [f"{ratios[op][p]:.2f}x" for op in OPERATIONS for p, _ in TARGETS]
        cells.append(f"{ratios['control']['p50']:.2f}x")
        pool = ", ".join(f"{k} {v}" for k, v in growth["buffer_pool"]["settings"].items())
        out.append(
            f"| {label} | {' | '.join(cells)} "
            f"| {growth['samples']:,} (+{growth['warmup']:,} warm-up) "
            f"| {growth['fill_seconds']:.0f} | {pool} |"
        )
    out += [
        "",
        f"Ratios are {sizes[-1]:,} sessions over {sizes[0]:,}; targets: p50 <= 1.25x and "
        "p99 <= 1.5x, on PostgreSQL and MariaDB. Fill s: inserting, analyzing (and on "
        "PostgreSQL vacuuming) and writing the pages out.",
    ]
    return out


def charts(results: dict, directory: Path) -> list[str]:
    """growth.png: p50 and p99 latency against live sessions, one line per database and
    operation."""
    grown = _grown(results)
    if not grown:
        return []
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    from bench.charts import pyplot

    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    styles = {"read": "-", "save": "--"}
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    for axis, percentile in zip(axes, ("p50", "p99"), strict=True):
        for n, (name, growth) in enumerate(grown.items()):
            label = vendor_label(name, results["vendors"][name])
            sessions = [point["sessions"] for point in growth["points"]]
            for op in OPERATIONS:
                latencies = [point["ops"][op][percentile] for point in growth["points"]]
                axis.plot(
                    sessions,
                    latencies,
                    styles[op],
                    color=f"C{n}",
                    marker="o",
                    label=f"{label} {op}",
                )
        sizes = next(iter(grown.values()))["sizes"]
        axis.set_xscale("log")
        axis.set_xticks(sizes, [f"{size:,}" for size in sizes])
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_yscale("log")
        axis.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        axis.yaxis.set_major_formatter(plain)
        axis.yaxis.set_minor_formatter(NullFormatter())
        axis.set_xlabel("live sessions (log scale)")
        axis.set_ylabel(f"{percentile} latency, ms (log scale)")
        axis.set_title(f"{percentile} latency as the store grows")
        axis.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(directory / "growth.png", dpi=90)
    plt.close(figure)
    return ["growth.png"]
