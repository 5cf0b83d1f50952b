"""Purge benchmark: ``python -m bench.purge`` (``--full`` for 1,000,000 expired sessions).

For each database: fill dbsessions with expired sessions of 5 attributes each plus 10% live
ones, and Django's ``django_session`` with the same counts; then time ``purge_sessions``'s
purge and Django's ``clearsessions`` (one DELETE), each while a writer thread keeps saving a
live session of the same engine, and report rows per second and the writer's longest save.
Each database runs in its own process on its own ``bench_purge`` database, created and
dropped here. Results go to stdout and, with ``--output``, to a JSON file.

Each run also times the same expired rows deleted by two unbatched DELETEs in one transaction,
with no writer: no batching of those deletions can beat that rate (it would block requests
for the whole purge), so it shows how far a purge can go on the database at all.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENDORS = ("sqlite", "postgresql", "mysql")
MODES = {"quick": 200_000, "full": 1_000_000, "smoke": 20_000}
ATTRIBUTES = 5
ROWS_PER_INSERT = 1000
#: A save slower than this (seconds) counts as a stall the purge must not cause.
SLOW_SAVE = 0.1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.purge", description=__doc__)
    parser.add_argument("--full", action="store_true", help="1,000,000 expired sessions")
    parser.add_argument("--vendors", default=",".join(VENDORS), help="comma-separated")
    parser.add_argument("--output", type=Path, help="write the results as JSON here")
    parser.add_argument("--batch-size", type=int, help="purge_sessions --batch-size")
    parser.add_argument("--count", type=int, help="expired sessions (overrides the mode)")
    parser.add_argument(
        "--drop-fk",
        action="store_true",
        help="experiment: drop the attributes' foreign key first (what db_constraint=False "
        "would give; not on SQLite)",
    )
    parser.add_argument("--db-name", default="bench_purge", help="database to create and drop")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--vendor", help=argparse.SUPPRESS)  # the per-database child process
    args = parser.parse_args(argv)
    expired = args.count or MODES["full" if args.full else "smoke" if args.smoke else "quick"]
    if args.vendor:
        print(json.dumps(run_vendor(args.vendor, expired, args.batch_size, args.drop_fk)))
        return 0
    results = {}
    for vendor in args.vendors.split(","):
        env = {
            **os.environ,
            "BENCH_DB": vendor,
            "BENCH_DB_NAME": args.db_name,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
        }
        command = [sys.executable, "-m", "bench.purge", "--vendor", vendor]
        command += ["--full"] if args.full else ["--smoke"] if args.smoke else []
        command += ["--count", str(args.count)] if args.count else []
        command += ["--drop-fk"] if args.drop_fk else []
        command += ["--batch-size", str(args.batch_size)] if args.batch_size else []
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{vendor}: failed\n{done.stderr}", file=sys.stderr)
            results[vendor] = {"error": done.stderr.strip().splitlines()[-1:]}
            continue
        results[vendor] = json.loads(done.stdout.strip().splitlines()[-1])
        print(format_row(vendor, results[vendor]), flush=True)
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def format_row(vendor: str, r: dict) -> str:
    ours, django = r["purge_sessions"], r["clearsessions"]
    return (
        f"{vendor:<10} {r['expired']:>9,} expired + {r['live']:,} live | "
        f"purge_sessions {ours['sessions_per_s']:>9,.0f} sessions/s "
        f"({ours['rows_per_s']:,.0f} rows/s), longest save {ours['max_stall_ms']:.0f} ms "
        f"({ours['slow_saves']} of {ours['writer_saves']} over 100 ms) | "
        f"clearsessions {django['sessions_per_s']:>9,.0f} sessions/s, "
        f"longest save {django['max_stall_ms']:.0f} ms | "
        f"unbatched DELETEs {r['unbatched']['sessions_per_s']:,.0f} sessions/s"
    )


# The child process: one database --------------------------------------------------------


def run_vendor(
    vendor: str, expired: int, batch_size: int | None = None, drop_fk: bool = False
) -> dict:
    import django

    django.setup()
    from bench import dbsetup

    dbsetup.create(vendor)
    try:
        live = expired // 10
        fill_dbsessions(expired, live)
        fill_django(expired, live)
        if drop_fk:
            drop_foreign_key(vendor)
        analyze(vendor)
        ours = measure(lambda: purge_ours(batch_size), our_writer())
        django_result = measure(purge_django, django_writer())
        empty_dbsessions()
        fill_dbsessions(expired, live)
        analyze(vendor)
        unbatched = time_unbatched(vendor)
        return {
            "server": dbsetup.server_version(vendor),
            "expired": expired,
            "live": live,
            "batch_size": batch_size,
            "foreign_key": not drop_fk,
            "purge_sessions": ours,
            "clearsessions": django_result,
            "unbatched": unbatched,
        }
    finally:
        dbsetup.drop(vendor)


def _insert_rows(table: str, columns: list[str], rows: list[tuple]) -> None:
    from django.db import connection, transaction

    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) VALUES "
    marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(rows), ROWS_PER_INSERT):
            chunk = rows[start : start + ROWS_PER_INSERT]
            cursor.execute(head + ", ".join([marks] * len(chunk)), [v for r in chunk for v in r])


def _expiries(expired: int, live: int) -> list[bool]:
    """Live sessions spread among the expired ones, as a real table has them."""
    every = max(expired // max(live, 1), 1)
    flags, remaining_live = [], live
    for i in range(expired):
        flags.append(False)
        if remaining_live and i % every == every - 1:
            flags.append(True)
            remaining_live -= 1
    return flags + [True] * remaining_live


def fill_dbsessions(expired: int, live: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from dbsessions.keys import hash_key

    ops = connection.ops
    now = timezone.now()
    past = ops.adapt_datetimefield_value(now - timedelta(hours=1))
    future = ops.adapt_datetimefield_value(now + timedelta(days=1))
    created = ops.adapt_datetimefield_value(now - timedelta(days=1))
    value = b'"' + b"x" * 40 + b'"'
    flags = _expiries(expired, live)
    for start in range(0, len(flags), 50_000):
        part = range(start, min(start + 50_000, len(flags)))
        sessions = [
            (
                i + 1,
                hash_key(f"bench-{i}"),
                "default",
                created,
                created,
                future if flags[i] else past,
            )
            for i in part
        ]
        _insert_rows(
            "dbsessions_session",
            ["id", "key_hash", "app_name", "created_at", "last_access", "expires_at"],
            sessions,
        )
        attributes = [(i + 1, f"attr{n}", value) for i in part for n in range(ATTRIBUTES)]
        _insert_rows("dbsessions_attribute", ["session_id", "name", "value"], attributes)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('dbsessions_session', 'id'), %s)",
                [len(flags)],
            )


def fill_django(expired: int, live: int) -> None:
    from django.contrib.sessions.backends.base import VALID_KEY_CHARS
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    ops = connection.ops
    now = timezone.now()
    past = ops.adapt_datetimefield_value(now - timedelta(hours=1))
    future = ops.adapt_datetimefield_value(now + timedelta(days=1))
    data = SessionStore().encode({f"attr{n}": "x" * 40 for n in range(ATTRIBUTES)})
    flags = _expiries(expired, live)
    for start in range(0, len(flags), 50_000):
        # Random keys as Django makes them: its primary-key index is then as scattered as
        # a real one (sequential keys made its DELETE about twice as fast on SQLite).
        rows = [
            (get_random_string(32, VALID_KEY_CHARS), data, future if flags[i] else past)
            for i in range(start, min(start + 50_000, len(flags)))
        ]
        _insert_rows("django_session", ["session_key", "session_data", "expire_date"], rows)


def empty_dbsessions() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM dbsessions_attribute")
        cursor.execute("DELETE FROM dbsessions_session")


def time_unbatched(vendor: str) -> dict:
    """Delete every expired session's attributes, then the sessions, in one transaction.

    The purge's ceiling on this database: the same rows and indexes, none of a batch's
    per-statement or per-commit costs, and no pause for requests. SQLite's foreign-key checks
    are off, as in the purge.
    """
    from contextlib import nullcontext

    from django.db import connection, transaction
    from django.utils import timezone

    params = ["default", connection.ops.adapt_datetimefield_value(timezone.now())]
    expired = "app_name = %s AND expires_at < %s"
    if vendor == "mysql":
        # MariaDB before 11.1 cannot semi-join a single-table DELETE's subquery.
        attributes_sql = (
            "DELETE a FROM dbsessions_session s JOIN dbsessions_attribute a "
            "ON a.session_id = s.id WHERE s.app_name = %s AND s.expires_at < %s"
        )
    else:
        attributes_sql = (
            "DELETE FROM dbsessions_attribute WHERE session_id IN "
            f"(SELECT id FROM dbsessions_session WHERE {expired})"
        )
    checks_off = connection.constraint_checks_disabled() if vendor == "sqlite" else nullcontext()
    started = time.perf_counter()
    with checks_off, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(attributes_sql, params)
        attributes = cursor.rowcount
        cursor.execute(f"DELETE FROM dbsessions_session WHERE {expired}", params)
        sessions = cursor.rowcount
    return _rates(sessions, attributes, time.perf_counter() - started)


def _rates(sessions: int, attributes: int, seconds: float) -> dict:
    return {
        "sessions": sessions,
        "attributes": attributes,
        "seconds": round(seconds, 3),
        "sessions_per_s": round(sessions / seconds),
        "rows_per_s": round((sessions + attributes) / seconds),
    }


def drop_foreign_key(vendor: str) -> None:
    from django.db import connection

    if vendor == "sqlite":
        raise SystemExit("--drop-fk: SQLite cannot drop a constraint in place")
    table = "dbsessions_attribute"
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
        for name, info in constraints.items():
            if info["foreign_key"]:
                kind = "CONSTRAINT" if vendor == "postgresql" else "FOREIGN KEY"
                cursor.execute(
                    f"ALTER TABLE {table} DROP {kind} {connection.ops.quote_name(name)}"
                )


def analyze(vendor: str) -> None:
    from django.db import connection

    tables = ["dbsessions_session", "dbsessions_attribute", "django_session"]
    with connection.cursor() as cursor:
        for table in tables:
            if vendor == "postgresql":
                cursor.execute(f'VACUUM ANALYZE "{table}"')
            elif vendor == "mysql":
                cursor.execute(f"ANALYZE TABLE `{table}`")
                cursor.fetchall()
            else:
                cursor.execute(f'ANALYZE "{table}"')


def purge_ours(batch_size: int | None = None) -> tuple[int, int]:
    from dbsessions.purge import purge_expired

    result = purge_expired("default", "default", batch_size)
    return result.sessions, result.attributes


def purge_django() -> tuple[int, int]:
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session

    before = Session.objects.count()
    SessionStore.clear_expired()
    return before - Session.objects.count(), 0


def our_writer() -> Any:
    from dbsessions.backends.db import SessionStore

    return _writer(SessionStore)


def django_writer() -> Any:
    from django.contrib.sessions.backends.db import SessionStore

    return _writer(SessionStore)


def _writer(store_class: Any) -> Any:
    """A request-like save loop on one live session; returns (start, stop) callables."""
    store = store_class()
    store.update({f"attr{n}": "x" * 40 for n in range(ATTRIBUTES)})
    store.save()
    key = store.session_key
    latencies: list[float] = []
    stop = threading.Event()

    def loop() -> None:
        from django.db import connections

        n = 0
        try:
            while not stop.is_set():
                n += 1
                started = time.perf_counter()
                session = store_class(key)
                session["counter"] = n
                session.save()
                latencies.append(time.perf_counter() - started)
                time.sleep(0.002)
        finally:
            connections.close_all()

    thread = threading.Thread(target=loop)
    return thread, stop, latencies


def measure(purge: Any, writer: Any) -> dict:
    thread, stop, latencies = writer
    thread.start()
    time.sleep(0.3)  # the writer is warm before the purge starts
    latencies.clear()
    started = time.perf_counter()
    sessions, attributes = purge()
    seconds = time.perf_counter() - started
    stop.set()
    thread.join()
    return {
        **_rates(sessions, attributes, seconds),
        "writer_saves": len(latencies),
        "max_stall_ms": round(max(latencies, default=0) * 1000, 1),
        "slow_saves": sum(1 for latency in latencies if latency > SLOW_SAVE),
    }


if __name__ == "__main__":
    sys.exit(main())
