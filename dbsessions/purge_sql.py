"""The SQL of one purge batch, per vendor, and the cross-machine purge lock.

A batch takes expired sessions only while it can lock them (``SKIP LOCKED`` where the vendor
has it, so a request that is extending one of them is never waited for nor harmed), deletes
their attributes and then those sessions. The ids travel as integer literals (``id_list``):
they come from the database itself, and no vendor's parameter limit applies.
"""

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.db.backends.base.base import BaseDatabaseWrapper

from dbsessions.backends.sql import Dialect, id_list

#: Seconds to pause between batches (batch sizes are in ``purge_pace``). A request waiting for
#: SQLite's write lock polls for it at growing intervals (up to 25 ms in its first 130 ms); a
#: purge that took the lock again at once would starve it, so the purge leaves a window at
#: least that long.
PAUSES = {"sqlite": 0.025}

LOCK_NAME = "dbsessions_purge"
# An arbitrary 63-bit key for pg_try_advisory_lock, fixed so every machine agrees on it.
PG_LOCK_KEY = 0x6462736573735F70


def default_pause(connection: BaseDatabaseWrapper) -> float:
    return PAUSES.get(connection.vendor, 0.0)


def id_json(ids: Sequence[int]) -> str:
    return json.dumps([int(i) for i in ids])


def attribute_ids_sql(dialect: Dialect, ids: Sequence[int]) -> str:
    q = dialect.q
    return f"SELECT {q('id')} FROM {dialect.a} WHERE {q('session_id')} IN ({id_list(ids)})"


def mysql_delete_by_id_sql(table: str) -> str:
    """InnoDB deletes by primary-key lookups, never by scan; ``%s`` is a JSON array of ids.

    Left to itself the optimizer may scan a small table (or one whose rows are mostly in the
    batch) and wait on a row a concurrent request holds, or range-scan the (session_id, name)
    index one record past the batch into a request's fresh insert while that request waits on
    the purge's foreign-key check: a stall or a deadlock. Joining from a JSON_TABLE of the ids
    (MySQL 8, MariaDB 10.6) with STRAIGHT_JOIN makes every row an ``eq_ref`` lookup.
    """
    return (
        "DELETE t FROM JSON_TABLE(%s, '$[*]' COLUMNS (`id` BIGINT PATH '$')) AS d "
        f"STRAIGHT_JOIN {table} AS t ON t.`id` = d.`id`"
    )


def postgresql_lock_sql(dialect: Dialect, limit: int) -> str:
    """Lock up to ``limit`` expired sessions of one app, skipping those a request holds.

    PostgreSQL locks tuples, not index entries: finding them through the expiry index takes
    no lock a save could hold in the other order.
    """
    q = dialect.q
    return (
        f"SELECT {q('id')} FROM {dialect.s} "
        f"WHERE {q('app_name')} = %s AND {q('expires_at')} < %s "
        f"ORDER BY {q('expires_at')} LIMIT {int(limit)} FOR UPDATE SKIP LOCKED"
    )


def postgresql_delete_sql(dialect: Dialect, ids: Sequence[int]) -> str:
    """Delete locked sessions ``ids`` and their attributes; returns (sessions, attributes).

    A statement of its own, after the lock: its snapshot then holds every attribute a save
    committed before the lock (the locking statement's may not, and the foreign key, checked
    at commit, would refuse the batch). The foreign key is DEFERRABLE INITIALLY DEFERRED, so
    sessions and attributes can go in the same statement.
    """
    q = dialect.q
    return (
        f"WITH gone AS (DELETE FROM {dialect.s} WHERE {q('id')} IN ({id_list(ids)}) "
        f"RETURNING {q('id')}), "
        f"attrs AS (DELETE FROM {dialect.a} WHERE {q('session_id')} IN "
        f"(SELECT {q('id')} FROM gone) RETURNING 1) "
        "SELECT (SELECT COUNT(*) FROM gone), (SELECT COUNT(*) FROM attrs)"
    )


def count_expired_sql(dialect: Dialect) -> str:
    """Expired sessions of one app and their attributes; the second count uses the
    (session_id, name) index."""
    q = dialect.q
    expired = (
        f"SELECT {q('id')} FROM {dialect.s} WHERE {q('app_name')} = %s AND {q('expires_at')} < %s"
    )
    return (
        f"SELECT (SELECT COUNT(*) FROM {dialect.s} WHERE {q('app_name')} = %s "
        f"AND {q('expires_at')} < %s), (SELECT COUNT(*) FROM {dialect.a} "
        f"WHERE {q('session_id')} IN ({expired}))"
    )


def app_names_sql(dialect: Dialect) -> str:
    return f"SELECT DISTINCT {dialect.q('app_name')} FROM {dialect.s}"


@contextmanager
def purge_lock(connection: BaseDatabaseWrapper) -> Iterator[bool]:
    """Yield whether this process may purge the database: False while another holds the lock.

    PostgreSQL's advisory locks and MySQL's GET_LOCK belong to the session, outlive each
    batch's transaction and vanish if the process dies. SQLite serialises writers by itself;
    other vendors purge without a lock (two purges then share the work, harmlessly).
    """
    vendor = connection.vendor
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [PG_LOCK_KEY])
            release = ("SELECT pg_advisory_unlock(%s)", [PG_LOCK_KEY])
        elif vendor == "mysql":
            # GET_LOCK names are server-wide: include the database so two databases of one
            # server can be purged at the same time.
            name = f"{LOCK_NAME}:{connection.settings_dict['NAME']}"[:64]
            cursor.execute("SELECT GET_LOCK(%s, 0)", [name])
            release = ("SELECT RELEASE_LOCK(%s)", [name])
        else:
            yield True
            return
        acquired = bool(cursor.fetchone()[0])
    if not acquired:
        yield False
        return
    try:
        yield True
    finally:
        with connection.cursor() as cursor:
            cursor.execute(*release)
