"""What a load reads back: every byte of every value, the times as Django would give them.

On PostgreSQL with psycopg 3 the load query returns binary results through a cursor of its
own (``PostgreSQLDialect.fetch_all``); these tests hold it to the text results' behaviour on
every database: values byte for byte, times naive without ``USE_TZ``, the query still seen
by Django's query logging and error translation.
"""

import pickle
from datetime import datetime, timedelta

import pytest
from django.db import DatabaseError, connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dbsessions.conf import app_settings
from dbsessions.dialects import dialect_for
from tests.utils import clear_session_cache, override_dbsessions, saved_session

pytestmark = pytest.mark.django_db(databases="__all__")


class BytesSerializer:
    """Keeps bytes as they are, so a stored value can hold any byte (pickle's framing)."""

    def dumps(self, obj) -> bytes:
        return pickle.dumps(obj, protocol=5)

    def loads(self, data: bytes):
        return pickle.loads(data)


@override_settings(SESSION_SERIALIZER="tests.test_load_results.BytesSerializer")
def test_values_of_every_byte_and_size_come_back_unchanged(SessionStore):
    values = {
        "every_byte": bytes(range(256)) * 4,
        "nul": b"\x00",
        "empty": b"",
        "large": bytes(range(256)) * 4096,  # 1 MiB
        "text": "naïve ✓ \x00 end",
    }
    store = saved_session(**values)

    loaded = SessionStore(store.session_key)
    assert dict(loaded.items()) == values


def test_the_load_is_logged_like_any_query(SessionStore):
    store = saved_session(visits=1)
    clear_session_cache()  # cached_db keeps a new session in its cache
    connection = connections[app_settings.DATABASE]

    with CaptureQueriesContext(connection) as queries:
        assert SessionStore(store.session_key)["visits"] == 1

    assert len(queries) == 1
    assert queries[0]["sql"].lstrip().upper().startswith("SELECT")
    assert store.session_key not in queries[0]["sql"]


def test_a_failing_select_raises_djangos_database_error():
    connection = connections[app_settings.DATABASE]
    dialect = dialect_for(connection)

    with pytest.raises(DatabaseError):
        dialect.fetch_all(connection, "SELECT no_such_column FROM " + dialect.session_table, [])


@pytest.mark.parametrize("use_tz", [True, False])
def test_times_read_by_a_load_are_as_the_orm_gives_them(SessionStore, use_tz):
    with override_settings(USE_TZ=use_tz), override_dbsessions(ABSOLUTE_TIMEOUT=3600):
        store = saved_session(visits=1)
        loaded = SessionStore(store.session_key)
        assert loaded["visits"] == 1

        times = loaded._times
        assert times is not None
        for value in times:
            assert isinstance(value, datetime)
            assert timezone.is_aware(value) is use_tz
        assert abs(times.created_at - timezone.now()) < timedelta(minutes=1)
        # The capped expiry compares these times with now, naive or aware alike.
        assert 0 < loaded.get_expiry_age() <= 3600


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_loads_and_saves_survive_a_closed_connection(SessionStore):
    store = saved_session(visits=1)
    connection = connections[app_settings.DATABASE]

    for visits in (2, 3):
        connection.close()  # PostgreSQL: the kept cursor belongs to the closed connection
        loaded = SessionStore(store.session_key)
        assert loaded["visits"] == visits - 1
        loaded["visits"] = visits
        loaded.save()

    assert SessionStore(store.session_key)["visits"] == 3


def test_execute_wrappers_see_every_load_and_save(SessionStore):
    store = saved_session(visits=1)
    seen = []

    def record(execute, sql, params, many, context):
        seen.append(sql.lstrip().split()[0].upper())
        return execute(sql, params, many, context)

    with connections[app_settings.DATABASE].execute_wrapper(record):
        loaded = SessionStore(store.session_key)
        loaded["visits"] = 2
        loaded.save()

    clear_session_cache()
    assert SessionStore(store.session_key)["visits"] == 2
    # cached_db may find the new session in its cache: a load is then no statement at all.
    assert seen and {"UPDATE", "WITH", "INSERT"} & set(seen)


@pytest.mark.postgresql
@pytest.mark.parametrize("threshold", [None, 2])
def test_statements_are_prepared_only_when_the_settings_say_so(SessionStore, threshold):
    """Django's connection never prepares (``prepare_threshold`` None, for connection
    poolers); set in OPTIONS, psycopg prepares the engine's load and save after that many
    runs, and Django's own client-binding queries stay unprepared."""
    store = saved_session(visits=0)
    connection = connections[app_settings.DATABASE]
    connection.ensure_connection()
    raw = connection.connection
    saved_threshold = raw.prepare_threshold
    raw.prepare_threshold = threshold
    try:
        for visits in range(1, 5):
            clear_session_cache()
            loaded = SessionStore(store.session_key)
            loaded["visits"] = visits
            loaded.save()
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            prepared = [row[0] for row in cursor.fetchall()]
    finally:
        raw.prepare_threshold = saved_threshold
        raw.execute("DEALLOCATE ALL")

    if threshold is None:
        assert prepared == []
    else:
        assert any(statement.lstrip().startswith("SELECT") for statement in prepared)
        assert any(statement.lstrip().startswith("WITH") for statement in prepared)
        assert not any("pg_prepared_statements" in statement for statement in prepared)
