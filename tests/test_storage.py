"""What the engines keep in the tables, and the SQL the db engine spends to do so.

The tests of what is stored run for both engines; those that count the db engine's statements
(the README's figures) run for it alone.
"""

from contextlib import contextmanager

import pytest
from django.test.utils import CaptureQueriesContext

from dbsessions.backends.db import SessionStore as DatabaseStore
from dbsessions.keys import hash_key
from dbsessions.models import Attribute, Session
from tests.utils import override_dbsessions, saved_session

pytestmark = pytest.mark.django_db(databases="__all__")

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT")


def statements(context: CaptureQueriesContext) -> list[str]:
    """Captured SQL without transaction control, which Django logs on some versions."""
    return [
        q["sql"]
        for q in context.captured_queries
        if not q["sql"].upper().startswith(TRANSACTION_CONTROL)
    ]


def attributes(session: DatabaseStore) -> dict[str, bytes]:
    row = Session.objects.get(key_hash=hash_key(session.session_key))
    return {a.name: bytes(a.value) for a in Attribute.objects.filter(session=row)}


@pytest.mark.usefixtures("session_engine")
def test_one_row_per_session_and_one_per_attribute():
    session = saved_session(cart={"apple": 2}, visits=3)
    row = Session.objects.get()
    assert row.key_hash == hash_key(session.session_key)
    assert row.app_name == "default"
    assert sorted(attributes(session)) == ["cart", "visits"]
    assert attributes(session)["visits"] == b"3"


@pytest.mark.usefixtures("session_engine")
def test_the_session_key_is_never_stored(sessions_connection):
    session = saved_session(a="value")
    key = session.session_key
    with sessions_connection.cursor() as cursor:
        for model in (Session, Attribute):
            table = sessions_connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"SELECT * FROM {table}")
            for stored_row in cursor.fetchall():
                assert not any(
                    key in str(bytes(v) if isinstance(v, memoryview) else v) for v in stored_row
                )


def test_load_is_one_query(sessions_connection):
    key = saved_session(a=1, b=2, c=3).session_key
    with CaptureQueriesContext(sessions_connection) as context:
        assert DatabaseStore(key).load() == {"a": 1, "b": 2, "c": 3}
    assert len(context.captured_queries) == 1


@contextmanager
def sent_params(connection):
    """The parameters of each statement sent, as lists (PostgreSQL logs the engine's hot
    statements with $n placeholders: their values travel apart from the SQL)."""
    sent: list[list] = []

    def record(execute, sql, params, many, context):
        sent.append(list(params or []))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield sent


def test_one_key_change_writes_only_that_attribute(sessions_connection):
    key = saved_session(a=1, b="two", c=[3]).session_key
    session = DatabaseStore(key)
    session["b"] = "changed"
    with (
        CaptureQueriesContext(sessions_connection) as context,
        sent_params(sessions_connection) as sent,
    ):
        session.save()
    sql = statements(context)
    if sessions_connection.vendor == "postgresql":
        # The row update feeds the upsert in one statement (WITH ... UPDATE ... INSERT).
        assert len(sql) == 1 and sql[0].startswith("WITH"), sql
    else:
        assert len(sql) == 2 and sql[0].startswith("UPDATE"), sql
    upserts = [params for params in sent if "b" in params]
    assert len(upserts) == 1 and "a" not in upserts[0] and "c" not in upserts[0], sent
    assert DatabaseStore(key).load() == {"a": 1, "b": "changed", "c": [3]}


def test_value_mutated_in_place_is_saved_when_marked_modified(SessionStore):
    key = saved_session(cart={"apple": 1}).session_key
    session = SessionStore(key)
    session["cart"]["apple"] = 5
    session.modified = True
    session.save()
    assert SessionStore(key).load() == {"cart": {"apple": 5}}


def test_unchanged_save_touches_only_the_session_row(sessions_connection):
    key = saved_session(a=1).session_key
    session = DatabaseStore(key)
    session["a"] = 1
    with CaptureQueriesContext(sessions_connection) as context:
        session.save()
    sql = statements(context)
    assert len(sql) == 1 and sql[0].startswith("UPDATE")


def test_removed_attribute_is_deleted(sessions_connection):
    key = saved_session(a=1, b=2).session_key
    session = DatabaseStore(key)
    del session["a"]
    with CaptureQueriesContext(sessions_connection) as context:
        session.save()
    assert [s.split()[0] for s in statements(context)] == ["UPDATE", "DELETE"]
    assert DatabaseStore(key).load() == {"b": 2}


@override_dbsessions(WRITE_CONTENTS="all")
def test_write_contents_all_rewrites_every_attribute(sessions_connection):
    key = saved_session(a=1, b=2, c=3).session_key
    session = DatabaseStore(key)
    session["b"] = 20
    with sent_params(sessions_connection) as sent:
        session.save()
    assert any(all(name in params for name in "abc") for params in sent), sent
    assert DatabaseStore(key).load() == {"a": 1, "b": 20, "c": 3}


def test_cycle_key_is_one_update_of_the_same_row(sessions_connection):
    session = saved_session(a=1, b=2)
    row_id = Session.objects.get().pk
    attribute_ids = set(Attribute.objects.values_list("pk", flat=True))
    with CaptureQueriesContext(sessions_connection) as context:
        session.cycle_key()
    sql = statements(context)
    assert len(sql) == 1 and sql[0].startswith("UPDATE")
    assert Session.objects.get().pk == row_id
    assert Session.objects.get().key_hash == hash_key(session.session_key)
    assert set(Attribute.objects.values_list("pk", flat=True)) == attribute_ids


@pytest.mark.usefixtures("session_engine")
def test_principal_follows_the_logged_in_user():
    session = saved_session(a=1)
    session["_auth_user_id"] = "42"
    session.save()
    assert Session.objects.get().principal == "42"
    del session["_auth_user_id"]
    session.save()
    assert Session.objects.get().principal is None


@pytest.mark.usefixtures("session_engine")
def test_timestamps_are_kept():
    session = saved_session(a=1)
    first = Session.objects.get()
    session["a"] = 2
    session.save()
    second = Session.objects.get()
    assert second.created_at == first.created_at
    assert second.last_access >= first.last_access
    assert second.expires_at >= first.expires_at


def test_sessions_of_another_app_name_are_invisible(SessionStore):
    key = saved_session(a=1).session_key
    with override_dbsessions(APP_NAME="shop"):
        other = SessionStore(key)
        assert other.load() == {}
        assert other.exists(key) is False
        other_app = saved_session(b=2)
        SessionStore().delete(key)  # must not reach the "default" app's session
    assert SessionStore(key).load() == {"a": 1}
    assert SessionStore(other_app.session_key).load() == {}
    assert set(Session.objects.values_list("app_name", flat=True)) == {"default", "shop"}


def test_five_megabyte_value_round_trips(SessionStore):
    big = "x" * (5 * 1024 * 1024)
    key = saved_session(big=big, small="s").session_key
    assert SessionStore(key).load() == {"big": big, "small": "s"}


def test_many_large_values_are_split_across_statements(SessionStore):
    values = {f"k{i}": "y" * (1024 * 1024) for i in range(20)}
    key = saved_session(**values).session_key
    assert SessionStore(key).load() == values


def test_non_ascii_names_and_values_round_trip(SessionStore):
    data = {"clé": "valeur été", "ключ": "значение", "鍵": "値", "emoji 🎉": "🍪"}
    key = saved_session(**data).session_key
    assert SessionStore(key).load() == data


def test_name_too_long_is_a_clear_error(SessionStore):
    session = SessionStore()
    session["n" * 201] = 1
    with pytest.raises(ValueError, match="limited to 200 characters"):
        session.save()


def test_two_hundred_character_name_is_fine(SessionStore):
    key = saved_session(**{"n" * 200: 1}).session_key
    assert SessionStore(key).load() == {"n" * 200: 1}


def test_statements_per_operation_match_the_readme(sessions_connection):
    """The figures of the README's "Queries per operation" table."""
    single_statement_save = sessions_connection.vendor == "postgresql"

    def count(operation) -> int:
        with CaptureQueriesContext(sessions_connection) as context:
            operation()
        return len(statements(context))

    session = DatabaseStore()
    session["a"] = 1
    assert count(session.save) == 2  # the session row, then its attribute
    key = session.session_key
    assert count(lambda: DatabaseStore(key).load()) == 1
    loaded = DatabaseStore(key)
    loaded["b"] = 2
    assert count(loaded.save) == (1 if single_statement_save else 2)
    loaded["c"] = 3
    del loaded["a"]
    assert count(loaded.save) == 3
    assert count(loaded.cycle_key) == 1
    assert count(loaded.delete) == 4  # the lock, two DELETEs, the ended-sessions tally


def test_clear_expired_leaves_other_app_names_alone(SessionStore):
    from datetime import timedelta

    with override_dbsessions(APP_NAME="shop"):
        theirs = SessionStore()
        theirs["a"] = 1
        theirs.set_expiry(-timedelta(seconds=10))
        theirs.save()
    ours = SessionStore()
    ours["b"] = 2
    ours.set_expiry(-timedelta(seconds=10))
    ours.save()

    SessionStore.clear_expired()

    assert list(Session.objects.values_list("app_name", flat=True)) == ["shop"]


def test_value_over_the_configured_size_is_a_clear_error_and_saves_nothing(SessionStore):
    session = saved_session(small="kept")
    key = session.session_key
    with override_dbsessions(MAX_VALUE_SIZE=1000):
        session["big"] = "x" * 2000
        session["small"] = "changed"
        # MySQL counts the JSON value's two quotes twice: mysqlclient escapes them.
        with pytest.raises(ValueError, match="'big' is 2,00[24] bytes serialized, over"):
            session.save()
        assert SessionStore(key).load() == {"small": "kept"}
        session["big"] = "x" * 900
        session.save()
    assert SessionStore(key).load() == {"small": "changed", "big": "x" * 900}


@pytest.mark.mysql
def test_a_value_max_value_size_accepts_never_drops_the_connection(
    sessions_connection, SessionStore
):
    """mysqlclient escapes quotes inline, so a value travels at up to twice its size: the
    limit counts what travels, and a value it accepts fits MariaDB's max_allowed_packet."""
    with sessions_connection.cursor() as cursor:
        cursor.execute("SELECT @@max_allowed_packet")
        (packet,) = cursor.fetchone()
    session = saved_session(small="kept")
    key = session.session_key
    with override_dbsessions(MAX_VALUE_SIZE=packet - 64 * 1024):
        session["quotes"] = "'" * int(packet * 0.6)  # 1.2 packets on the wire
        with pytest.raises(ValueError, match="as sent to the database"):
            session.save()
        assert SessionStore(key).load() == {"small": "kept"}  # the connection is fine
        session["quotes"] = accepted = "'" * int(packet * 0.45)
        session.save()
    assert SessionStore(key).load() == {"small": "kept", "quotes": accepted}
