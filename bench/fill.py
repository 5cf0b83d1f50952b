"""Fill the dbsessions tables with set-based SQL, and read what they occupy.

One ``INSERT ... SELECT`` for the session rows and one for their attributes, over a series of
numbers: ``generate_series`` on PostgreSQL, MariaDB's ``seq_N_to_M`` table, a recursive CTE on
SQLite. Session ``n`` has the key ``session_key(n)`` and ``key_hash`` is its SHA-256, computed
by the database (``sha256()``, ``SHA2()``, and on SQLite the ``SHA256()`` function Django
registers on its connections), so the engine can load every filled session by its key.
Its five attributes are the ones a typical Django login leaves (``ATTRIBUTES``).
"""

import time
from typing import Any

#: (name, serialized length in bytes) of a typical logged-in session's attributes, as
#: Django's JSONSerializer writes them: a quoted user id (the session's ``principal``, so at
#: most 8 bytes), the auth backend's dotted path, the 64-hex-digit session auth hash, and two
#: application values.
ATTRIBUTES = (
    ("_auth_user_id", 8),
    ("_auth_user_backend", 43),
    ("_auth_user_hash", 66),
    ("cart", 91),
    ("prefs", 92),
)
BACKEND = '"django.contrib.auth.backends.ModelBackend"'
#: Distinct users the sessions belong to (about 1.25 sessions per user).
USERS_PER_SESSION = 0.8
#: Spacing of the sessions' times: they were created over the last N x 6 ms.
STEP_MICROSECONDS = 6000
TABLES = ("dbsessions_session", "dbsessions_attribute")
#: Filled keys are this prefix and a zero-padded number: 32 characters, as Django's keys.
KEY_PREFIX = "fill"
KEY_DIGITS = 28


def session_key(n: int) -> str:
    """The key of filled session ``n``."""
    return f"{KEY_PREFIX}{n:0{KEY_DIGITS}d}"


def _key_hash(vendor: str, number: str) -> str:
    """SQL for the hex SHA-256 of ``session_key(number)`` (``dbsessions.keys.hash_key``)."""
    if vendor == "postgresql":
        key = f"'{KEY_PREFIX}' || lpad({number}::text, {KEY_DIGITS}, '0')"
        return f"encode(sha256(convert_to({key}, 'UTF8')), 'hex')"
    if vendor == "mysql":
        return f"SHA2(CONCAT('{KEY_PREFIX}', LPAD({number}, {KEY_DIGITS}, '0')), 256)"
    return f"SHA256(printf('{KEY_PREFIX}%0{KEY_DIGITS}d', {number}))"


def _attribute_rows(vendor: str) -> str:
    """A derived table (name, len) of ``ATTRIBUTES``, in the vendor's spelling."""
    if vendor == "postgresql":
        rows = ", ".join(f"('{name}', {length})" for name, length in ATTRIBUTES)
        return f"(VALUES {rows}) AS a(name, len)"
    return (
        "("
        + " UNION ALL ".join(
            f"SELECT '{name}' AS name, {length} AS len" for name, length in ATTRIBUTES
        )
        + ") AS a"
    )


def fill(
    vendor: str, first: int, last: int, newest: int | None = None, app_name: str = "default"
) -> None:
    """Insert sessions ``first`` to ``last`` (their ids) and their attributes, in two statements.

    The attributes go in in the order of (session, name) compared byte for byte, the order of
    their unique index (on InnoDB, of their rows): in another order, InnoDB splits its pages in
    the middle and the table comes out larger than one that grew one session at a time.

    Session ``newest`` (default ``last``) was created just now and each one before it 6 ms
    earlier, so that sessions filled in several calls have times in the order of their ids;
    every one expires 14 days after its creation.
    """
    from django.db import connection

    newest = last if newest is None else newest
    users = max(1, int(newest * USERS_PER_SESSION))
    step = STEP_MICROSECONDS
    attrs = _attribute_rows(vendor)
    if vendor == "postgresql":
        series = f"generate_series({first}::bigint, {last}) AS s(g)"
        principal = f"((g * 7919) % {users} + 1)::text"
        session_sql = f"""
            INSERT INTO dbsessions_session
                (id, key_hash, app_name, principal, created_at, last_access, expires_at)
            SELECT g, {_key_hash(vendor, "g")}, '{app_name}', {principal},
                   now() - ({newest} - g) * interval '{step} microseconds',
                   now() - ({newest} - g) * interval '{step} microseconds',
                   now() + interval '14 days' - ({newest} - g) * interval '{step} microseconds'
            FROM {series}"""
        value = (
            f"CASE WHEN a.name = '_auth_user_backend' THEN '{BACKEND}' "
            f"WHEN a.name = '_auth_user_id' THEN '\"' || {principal} || '\"' ELSE "
            "'\"' || substr(repeat(md5(g || a.name), 3), 1, a.len - 2) || '\"' END"
        )
        attribute_sql = f"""
            INSERT INTO dbsessions_attribute (session_id, name, value)
            SELECT g, a.name, convert_to({value}, 'UTF8')
            FROM {series} CROSS JOIN {attrs} ORDER BY g, a.name COLLATE "C"
            """
    elif vendor == "mysql":
        series = f"seq_{first}_to_{last}"
        principal = f"CAST((seq * 7919) % {users} + 1 AS CHAR)"
        times = f"NOW(6) - INTERVAL ({newest} - seq) * {step} MICROSECOND"
        session_sql = f"""
            INSERT INTO dbsessions_session
                (id, key_hash, app_name, principal, created_at, last_access, expires_at)
            SELECT seq, {_key_hash(vendor, "seq")}, '{app_name}', {principal},
                   {times}, {times}, {times} + INTERVAL 14 DAY
            FROM {series}"""
        value = (
            f"CASE WHEN a.name = '_auth_user_backend' THEN '{BACKEND}' "
            f"WHEN a.name = '_auth_user_id' THEN CONCAT('\"', {principal}, '\"') ELSE "
            "CONCAT('\"', LEFT(REPEAT(MD5(CONCAT(seq, a.name)), 3), a.len - 2), '\"') END"
        )
        attribute_sql = f"""
            INSERT INTO dbsessions_attribute (session_id, name, value)
            SELECT seq, a.name, CAST({value} AS BINARY)
            FROM {series} CROSS JOIN {attrs} ORDER BY seq, CAST(a.name AS BINARY)"""
    else:
        series = (
            f"WITH RECURSIVE s(g) AS (SELECT {first} UNION ALL SELECT g + 1 FROM s "
            f"WHERE g < {last})"
        )
        seconds = step / 1_000_000
        principal = f"CAST((g * 7919) % {users} + 1 AS TEXT)"

        def at(offset: str) -> str:
            return (
                f"strftime('%Y-%m-%d %H:%M:%f', 'now', {offset}"
                f"printf('%.6f seconds', -({newest} - g) * {seconds})) || '000'"
            )

        session_sql = f"""
            INSERT INTO dbsessions_session
                (id, key_hash, app_name, principal, created_at, last_access, expires_at)
            {series}
            SELECT g, {_key_hash(vendor, "g")}, '{app_name}', {principal},
                   {at("")}, {at("")}, {at("'+14 days', ")}
            FROM s"""
        value = (
            f"CASE WHEN a.name = '_auth_user_backend' THEN '{BACKEND}' "
            f"WHEN a.name = '_auth_user_id' THEN '\"' || {principal} || '\"' ELSE "
            "'\"' || substr(lower(hex(randomblob(48))), 1, a.len - 2) || '\"' END"
        )
        attribute_sql = f"""
            INSERT INTO dbsessions_attribute (session_id, name, value)
            {series}
            SELECT g, a.name, CAST({value} AS BLOB) FROM s CROSS JOIN {attrs} ORDER BY g, a.name"""
    with connection.cursor() as cursor:
        cursor.execute(session_sql)
        cursor.execute(attribute_sql)
        if vendor == "postgresql":  # the ids were given: the engine's next insert must not clash
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('dbsessions_session', 'id'), "
                "(SELECT MAX(id) FROM dbsessions_session))"
            )


def empty(vendor: str) -> None:
    """Delete every row of the two tables."""
    from django.db import connection

    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
        elif vendor == "mysql":
            cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
            try:
                for table in reversed(TABLES):
                    cursor.execute(f"TRUNCATE TABLE {table}")
            finally:
                cursor.execute("SET FOREIGN_KEY_CHECKS = 1")
        else:
            for table in reversed(TABLES):
                cursor.execute(f"DELETE FROM {table}")
            cursor.execute("VACUUM")


def analyze(vendor: str) -> None:
    """Fresh planner statistics (and on PostgreSQL a vacuum), as a maintained table has."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in TABLES:
            if vendor == "postgresql":
                cursor.execute(f"VACUUM ANALYZE {table}")
            elif vendor == "mysql":
                cursor.execute(f"ANALYZE TABLE {table}")
                cursor.fetchall()
            else:
                cursor.execute(f"ANALYZE {table}")


def settle(vendor: str) -> dict[str, Any]:
    """Write the fill's dirty pages out, so that the measurement after it does not pay for them.

    PostgreSQL: ``CHECKPOINT``; MariaDB/MySQL: ``FLUSH TABLES ... FOR EXPORT`` (it writes the
    two tables' dirty pages, whereas the page cleaner leaves them while the buffer pool is
    below ``innodb_max_dirty_pages_pct``); SQLite: a WAL checkpoint.
    """
    from django.db import DatabaseError, connection

    started = time.monotonic()
    result: dict[str, Any] = {}
    with connection.cursor() as cursor:
        try:
            if vendor == "postgresql":
                cursor.execute("CHECKPOINT")
            elif vendor == "mysql":
                cursor.execute(f"FLUSH TABLES {', '.join(TABLES)} FOR EXPORT")
                cursor.execute("UNLOCK TABLES")
            else:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            result["flushed"] = True
        except DatabaseError as exc:  # not allowed (PostgreSQL: superuser or pg_checkpoint)
            result["flushed"] = str(exc).strip().splitlines()[0]
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def sizes(vendor: str) -> dict[str, Any]:
    """{table: {"data": bytes, "indexes": {index: bytes}}} of the two session tables.

    Run ``analyze`` first: MariaDB's index sizes are its persistent statistics.
    """
    from django.db import connection

    result: dict[str, Any] = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            if vendor == "postgresql":
                cursor.execute("SELECT pg_table_size(%s)", [table])
                data = int(cursor.fetchone()[0])
                cursor.execute(
                    "SELECT indexname, pg_relation_size(indexname::regclass) FROM pg_indexes "
                    "WHERE tablename = %s ORDER BY indexname",
                    [table],
                )
                indexes = {name: int(size) for name, size in cursor.fetchall()}
            elif vendor == "mysql":
                cursor.execute(
                    "SELECT data_length, index_length FROM information_schema.TABLES "
                    "WHERE table_schema = DATABASE() AND table_name = %s",
                    [table],
                )
                data, index_total = (int(v) for v in cursor.fetchone())
                cursor.execute(
                    "SELECT index_name, stat_value * @@innodb_page_size "
                    "FROM mysql.innodb_index_stats WHERE database_name = DATABASE() "
                    "AND table_name = %s AND stat_name = 'size' ORDER BY index_name",
                    [table],
                )
                indexes = {
                    name: int(size) for name, size in cursor.fetchall() if name != "PRIMARY"
                }
                indexes["(all secondary, information_schema)"] = index_total
            else:
                cursor.execute(
                    "SELECT m.name, m.type, SUM(d.pgsize) FROM dbstat AS d "
                    "JOIN sqlite_master AS m ON m.name = d.name "
                    "WHERE m.tbl_name = %s GROUP BY m.name, m.type ORDER BY m.name",
                    [table],
                )
                data, indexes = 0, {}
                for name, kind, size in cursor.fetchall():
                    if kind == "table":
                        data += int(size)
                    else:
                        indexes[name] = int(size)
            result[table] = {"data": data, "indexes": indexes}
    return result


def total(table: dict[str, Any], vendor: str) -> int:
    """Bytes of one table of ``sizes``, its indexes included."""
    indexes = table["indexes"]
    if vendor == "mysql":
        return int(table["data"]) + int(indexes["(all secondary, information_schema)"])
    return int(table["data"]) + sum(int(v) for v in indexes.values())
