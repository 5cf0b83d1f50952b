"""Purge benchmark: ``purge_sessions``'s purge beside Django's ``clearsessions``.

On one database: fill dbsessions with expired sessions of 5 attributes each plus 10% live ones,
and Django's ``django_session`` with the same counts; then time ``purge_sessions``'s purge and
Django's ``clearsessions`` (one DELETE), each while a writer thread keeps saving a live session
of the same engine, and report rows per second and the writer's longest save. The ``purge``
phase of ``python -m bench``, in a process of its own per database (``bench.child``).

Each run also times the same expired rows deleted by two unbatched DELETEs in one transaction,
with no writer: no batching of those deletions can beat that rate (it would block requests
for the whole purge), so it shows how far a purge can go on the database at all.
"""

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

ATTRIBUTES = 5
ROWS_PER_INSERT = 1000
FILL_CHUNK = 50_000
#: A save slower than this (seconds) counts as a stall the purge must not cause.
SLOW_SAVE = 0.1


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


def run(
    vendor: str,
    log: Callable[[str], None],
    expired: int,
    batch_size: int | None = None,
    drop_fk: bool = False,
) -> dict[str, Any]:
    """Both purges on ``expired`` sessions, then the unbatched ceiling, on a fresh database."""
    live = expired // 10
    log(f"  purge: {expired:,} expired + {live:,} live sessions per engine")
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
        "expired": expired,
        "live": live,
        "batch_size": batch_size,
        "foreign_key": not drop_fk,
        "purge_sessions": ours,
        "clearsessions": django_result,
        "unbatched": unbatched,
    }


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


def _from_now(*offsets: timedelta) -> list[Any]:
    """Now plus each offset, as the database driver takes a datetime column's value."""
    from django.db import connection
    from django.utils import timezone

    now = timezone.now()
    return [connection.ops.adapt_datetimefield_value(now + offset) for offset in offsets]


def _chunks(count: int) -> Iterator[range]:
    """Row numbers in slices of ``FILL_CHUNK``, so no fill holds every row in memory."""
    for start in range(0, count, FILL_CHUNK):
        yield range(start, min(start + FILL_CHUNK, count))


def fill_dbsessions(expired: int, live: int) -> None:
    from django.db import connection

    from dbsessions.keys import hash_key

    past, future, created = _from_now(timedelta(hours=-1), timedelta(days=1), timedelta(days=-1))
    value = b'"' + b"x" * 40 + b'"'
    flags = _expiries(expired, live)
    for part in _chunks(len(flags)):
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
    from django.utils.crypto import get_random_string

    past, future = _from_now(timedelta(hours=-1), timedelta(days=1))
    data = SessionStore().encode({f"attr{n}": "x" * 40 for n in range(ATTRIBUTES)})
    flags = _expiries(expired, live)
    for part in _chunks(len(flags)):
        # Random keys as Django makes them: its primary-key index is then as scattered as
        # a real one (sequential keys made its DELETE about twice as fast on SQLite).
        rows = [
            (get_random_string(32, VALID_KEY_CHARS), data, future if flags[i] else past)
            for i in part
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
