"""Bytes per session on disk (tables plus indexes) for many small sessions.

Rows are bulk-inserted with exactly the contents each engine's own save writes (Django's
signed blob; our session row and serialized attribute rows), which is far quicker than
20,000 saves and gives the same bytes. PostgreSQL and MariaDB only: SQLite has no per-table
size without the optional dbstat module.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.db import connections
from django.utils import timezone
from django.utils.crypto import get_random_string

from bench.data import payload
from bench.dbsetup import truncate_all
from bench.profiles import Profile

VENDORS = ("postgresql", "mysql")
BATCH = 2000


def _table_bytes(vendor: str, tables: list[str]) -> int:
    connection = connections["default"]
    total = 0
    with connection.cursor() as cursor:
        for table in tables:
            quoted = connection.ops.quote_name(table)
            if vendor == "postgresql":
                cursor.execute(f"VACUUM ANALYZE {quoted}")
                cursor.execute("SELECT pg_total_relation_size(%s)", [quoted])
            else:
                cursor.execute(f"ANALYZE TABLE {quoted}")
                cursor.fetchall()
                cursor.execute(
                    "SELECT data_length + index_length FROM information_schema.TABLES "
                    "WHERE table_schema = DATABASE() AND table_name = %s",
                    [table],
                )
            total += int(cursor.fetchone()[0])
    return total


def _fill_django(sessions: int) -> list[str]:
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session

    store = SessionStore()
    expires = timezone.now() + timedelta(weeks=2)
    rows = [
        Session(
            session_key=get_random_string(32, VALID_KEY_CHARS),
            session_data=store.encode(payload("small", seed=n)),
            expire_date=expires,
        )
        for n in range(sessions)
    ]
    Session.objects.bulk_create(rows, batch_size=BATCH)
    return [Session._meta.db_table]


def _fill_ours(sessions: int) -> list[str]:
    from dbsessions.backends.db import SessionStore
    from dbsessions.keys import hash_key
    from dbsessions.models import Attribute, Session

    dumps = SessionStore().serializer().dumps
    now = timezone.now()
    expires = now + timedelta(weeks=2)
    rows, attributes = [], []
    for n in range(1, sessions + 1):
        rows.append(
            Session(
                id=n,
                key_hash=hash_key(get_random_string(32, VALID_KEY_CHARS)),
                created_at=now,
                last_access=now,
                expires_at=expires,
            )
        )
        attributes.extend(
            Attribute(session_id=n, name=name, value=dumps(value))
            for name, value in payload("small", seed=n).items()
        )
    Session.objects.bulk_create(rows, batch_size=BATCH)
    Attribute.objects.bulk_create(attributes, batch_size=BATCH)
    return [Session._meta.db_table, Attribute._meta.db_table]


def run(vendor: str, profile: Profile, log: Callable[[str], None]) -> list[dict[str, Any]]:
    if vendor not in VENDORS:
        return []
    log(f"  storage: {profile.storage_sessions} small sessions per engine")
    truncate_all(vendor)
    results = []
    for engine, fill in (("dbsessions", _fill_ours), ("django_db", _fill_django)):
        tables = fill(profile.storage_sessions)
        total = _table_bytes(vendor, tables)
        results.append(
            {
                "engine": engine,
                "sessions": profile.storage_sessions,
                "bytes_total": total,
                "bytes_per_session": total / profile.storage_sessions,
                "tables": tables,
            }
        )
    truncate_all(vendor)
    return results
