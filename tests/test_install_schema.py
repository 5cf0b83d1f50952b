"""install_session_schema and the shipped scripts against the live test database.

Each test starts from the tables ``migrate`` created, compares against a snapshot of them, and
leaves them as ``migrate`` would (the snapshot comparison proves it).
"""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from dbsessions.backends.db import SessionStore
from dbsessions.models import EndedSessions, PurgeLease
from dbsessions.purge import purge_lock
from dbsessions.schema.ddl import drop_sql, without_semicolon
from dbsessions.schema.install import existing_tables, install_schema, table_names
from dbsessions.schema.offline import vendor_name
from dbsessions.schema.scripts import shipped_script_path

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def snapshot(connection) -> dict:
    """Everything introspection tells about the session tables."""
    introspection = connection.introspection
    result = {}
    with connection.cursor() as cursor:
        for table in table_names():
            # By name: SQLite rebuilds a table to alter a column and puts it last, so a
            # migrated table's column order may differ from a fresh one's (the engine's SQL
            # names every column).
            columns = sorted(
                tuple(info) for info in introspection.get_table_description(cursor, table)
            )
            constraints = sorted(
                (name, sorted((k, repr(v)) for k, v in info.items()))
                for name, info in introspection.get_constraints(cursor, table).items()
            )
            result[table] = (columns, constraints)
    return result


def drop_tables(connection) -> None:
    with connection.cursor() as cursor:
        if existing_tables(connection) == table_names():
            for statement in drop_sql(connection):
                cursor.execute(without_semicolon(statement))
        for table in existing_tables(connection):
            cursor.execute(f"DROP TABLE {connection.ops.quote_name(table)}")
    MigrationRecorder(connection).migration_qs.filter(app="dbsessions").delete()


def script_statements(text: str) -> list[str]:
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    return [s.strip() for s in body.split(";\n") if s.strip().rstrip(";")]


def run(*args: str) -> str:
    out = StringIO()
    call_command("install_session_schema", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def migrated(sessions_connection):
    """The migrate-made schema's snapshot; restores the tables if a test leaves them out."""
    before = snapshot(sessions_connection)
    yield before
    if existing_tables(sessions_connection) != table_names():
        drop_tables(sessions_connection)
        install_schema(sessions_connection)
    assert snapshot(sessions_connection) == before


def exercise_engine() -> None:
    store = SessionStore()
    store["cart"] = ["apple"]
    store["count"] = 1
    store.save()
    key = store.session_key
    loaded = SessionStore(key)
    assert loaded["cart"] == ["apple"] and loaded["count"] == 1
    loaded["count"] = 2
    del loaded["cart"]
    loaded.save()
    loaded.cycle_key()
    assert loaded.session_key != key
    assert not SessionStore(key).exists(key)
    again = SessionStore(loaded.session_key)
    assert dict(again.items()) == {"count": 2}
    again.delete()
    assert not SessionStore(loaded.session_key).exists(loaded.session_key)
    tally = EndedSessions.objects.all()
    assert list(tally.values_list("reason", "sessions")) == [("logout", 1)]
    tally.delete()  # MySQL's introspection reads column sizes from the rows: leave none


def test_shipped_script_gives_the_migrate_schema_and_the_engine_works(
    sessions_connection, migrated
):
    vendor = vendor_name(sessions_connection)
    text = shipped_script_path(vendor).read_text(encoding="utf-8")
    drop_tables(sessions_connection)
    with sessions_connection.cursor() as cursor:
        for statement in script_statements(text):
            cursor.execute(without_semicolon(statement))
    assert snapshot(sessions_connection) == migrated
    exercise_engine()
    # A DBA ran the script; the command then only records the migrations.
    assert "already installed" in run()
    assert MigrationRecorder(sessions_connection).migration_qs.filter(app="dbsessions").exists()


def test_install_matches_migrate_and_leaves_migrate_nothing_to_do(sessions_connection, migrated):
    drop_tables(sessions_connection)
    output = run()
    assert (
        "Installed dbsessions_session, dbsessions_attribute, dbsessions_imported, "
        "dbsessions_lease and dbsessions_ended on database" in output
    )
    assert snapshot(sessions_connection) == migrated
    executor = MigrationExecutor(sessions_connection)
    targets = executor.loader.graph.leaf_nodes("dbsessions")
    assert executor.migration_plan(targets) == []
    assert run() == (
        f"The session tables are already installed on database {sessions_connection.alias!r}.\n"
    )
    exercise_engine()


def test_skip_indexes_then_check_then_create_them(sessions_connection, migrated):
    drop_tables(sessions_connection)
    output = run("--skip-indexes")
    assert "secondary indexes; create them when convenient:" in output
    index_lines = [line.strip() for line in output.splitlines() if "CREATE INDEX" in line]
    assert any("expires_at" in line for line in index_lines)
    exercise_engine()

    with pytest.raises(CommandError) as failure:
        run("--check")
    message = str(failure.value)
    assert "The index on dbsessions_session (expires_at) is missing." in message
    assert "The index on dbsessions_session (principal) is missing." in message
    assert "The index on dbsessions_ended (ended_at) is missing." in message
    assert "Column" not in message and "Table" not in message

    with sessions_connection.cursor() as cursor:
        for statement in index_lines:
            cursor.execute(without_semicolon(statement))
    assert snapshot(sessions_connection) == migrated
    assert "is as expected" in run("--check")


def test_check_names_missing_tables_and_columns(sessions_connection, migrated):
    assert "is as expected" in run("--check")
    with sessions_connection.cursor() as cursor:
        cursor.execute(
            sessions_connection.ops.quote_name("dbsessions_attribute").join(["DROP TABLE ", ""])
        )
    with pytest.raises(CommandError, match="Table dbsessions_attribute is missing."):
        run("--check")
    with pytest.raises(CommandError, match="dbsessions_attribute missing on database .*partly"):
        run()


def test_check_names_a_changed_column(sessions_connection, migrated):
    quote = sessions_connection.ops.quote_name
    with sessions_connection.cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE {quote('dbsessions_session')} ADD {quote('legacy')} integer NULL"
        )
    try:
        with pytest.raises(CommandError) as failure:
            run("--check")
        assert "Column dbsessions_session.legacy is not part of the schema." in str(failure.value)
    finally:
        drop_tables(sessions_connection)


def test_migrating_up_from_0001_gives_the_current_schema_and_keeps_the_data(
    sessions_connection, migrated
):
    """A site installed before 0002 (case-folding columns on MySQL, no import ledger)."""
    store = SessionStore()
    store.update({"cart": 1, "café": 2})
    store.save()
    executor = MigrationExecutor(sessions_connection)
    executor.migrate([("dbsessions", "0001_initial")])
    with pytest.raises(CommandError) as failure:
        run("--check")
    assert "Table dbsessions_imported is missing." in str(failure.value)
    assert "Table dbsessions_lease is missing." in str(failure.value)
    assert "Table dbsessions_ended is missing." in str(failure.value)
    if sessions_connection.vendor == "mysql":
        assert "Column dbsessions_attribute.name has collation" in str(failure.value)
    with pytest.raises(
        CommandError,
        match="dbsessions_imported, dbsessions_lease, dbsessions_ended missing .*migrate dbsessions",
    ):
        run()

    executor = MigrationExecutor(sessions_connection)
    executor.migrate(executor.loader.graph.leaf_nodes("dbsessions"))
    assert "is as expected" in run("--check")
    loaded = SessionStore(store.session_key)
    assert dict(loaded.items()) == {"cart": 1, "café": 2}
    loaded["Cart"] = 3
    loaded.save()
    assert dict(SessionStore(store.session_key).items()) == {"cart": 1, "café": 2, "Cart": 3}
    # MySQL's introspection reads column sizes from the rows: leave none for the snapshot.
    loaded.delete()
    EndedSessions.objects.all().delete()


def test_migrating_up_from_0002_adds_the_purge_lease(sessions_connection, migrated):
    """A site installed before 0003: no lease table, so --check names it and a purge cannot
    take the lease until ``migrate`` has run."""
    executor = MigrationExecutor(sessions_connection)
    executor.migrate([("dbsessions", "0002_exact_names_import_ledger")])
    with pytest.raises(CommandError) as failure:
        run("--check")
    # Before 0005 the attributes also had an id of their own.
    assert sorted(str(failure.value).splitlines()[1:]) == [
        "  - Column dbsessions_attribute.id is not part of the schema.",
        "  - Table dbsessions_ended is missing.",
        "  - Table dbsessions_lease is missing.",
    ]
    with pytest.raises(
        CommandError, match="^dbsessions_lease, dbsessions_ended missing .*migrate dbsessions"
    ):
        run()

    executor = MigrationExecutor(sessions_connection)
    executor.migrate(executor.loader.graph.leaf_nodes("dbsessions"))
    assert "is as expected" in run("--check")
    with purge_lock(sessions_connection) as lease:
        assert lease
    # MySQL's introspection reads column sizes from the rows: leave none for the snapshot.
    PurgeLease.objects.using(sessions_connection.alias).all().delete()
