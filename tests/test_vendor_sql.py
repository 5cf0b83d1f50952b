"""The engine's SQL for Oracle and SQL Server, checked without a server of either.

No Oracle or SQL Server runs where these tests run, so the statements each dialect builds are
parsed with sqlglot in that vendor's grammar, and their shape (locking, MERGE, placeholders)
is asserted. The same statements for SQLite, PostgreSQL and MariaDB run for real elsewhere.
"""

import hashlib

import pytest
import sqlglot
from sqlglot import exp

from dbsessions.dialects import (
    DIALECTS,
    LEASE_TABLE,
    Dialect,
    MSSQLDialect,
    MySQLDialect,
    OracleDialect,
    PostgreSQLDialect,
    SQLiteDialect,
    as_bytes,
    upsert_batches,
)
from dbsessions.dialects.mysql import KEY_HASH_INDEX

GRAMMAR = {"oracle": "oracle", "mssql": "tsql", "postgresql": "postgres", "mysql": "mysql"}
PLACEHOLDER = {"oracle": ":p", "mssql": "?", "postgresql": "$1", "mysql": "?"}


def dialect(cls):
    return cls("dbsessions_session", "dbsessions_attribute")


#: Arguments to build each parametrized ``*_sql`` statement with; a dialect statement missing
#: here fails ``every_statement``, so a new one cannot escape the grammar check.
STATEMENT_ARGUMENTS: dict[str, list[tuple]] = {
    "touch_session_sql": [(), (True,)],
    "touch_only_sql": [(), (True,)],
    "touch_sql": [(False, False), (True, False), (False, True), (True, True)],
    "delete_attributes_sql": [(3,)],
    "delete_attributes_of_sessions_sql": [([1, 2, 3],)],
    "delete_sessions_sql": [([1, 2, 3],)],
    "attribute_keys_sql": [([1, 2, 3],)],
    "delete_attributes_by_key_sql": [(1,), (3,)],
    "upsert_sql": [(1,), (3,)],
    "touch_and_upsert_sql": [(2,), (2, True)],
    "touch_and_update_if_sql": [(), (True,), (False, True)],
    "update_attribute_if_sql": [(), (True,)],
    "delete_attribute_if_sql": [(), (True,)],
    "expired_sessions_sql": [(50,)],
    "lock_sessions_sql": [(3,), (2, True, True)],
    "purge_lock_expired_sql": [(50,)],
    "purge_delete_sql": [([1, 2],)],
    "delete_by_ids_sql": [("some_table",)],
}

#: Statements a dialect builds only where the flag says so; the others raise.
OPTIONAL_STATEMENTS = {
    "upsert_sql": "has_upsert",
    "touch_and_upsert_sql": "has_touch_and_upsert",
    "touch_and_update_if_sql": "has_touch_and_update_if",
    "purge_lock_expired_sql": "has_purge_lock_and_delete",
    "purge_delete_sql": "has_purge_lock_and_delete",
    "delete_by_ids_sql": "deletes_by_id_join",
    "delete_attributes_by_key_sql": "deletes_by_id_join",
}


def every_statement(d) -> list[str]:
    """Every statement the dialect builds: each ``*_sql`` property, method and class
    attribute (the purge lease's included)."""
    statements = []
    for name in sorted(n for n in dir(d) if n.endswith("_sql")):
        value = getattr(d, name)
        if value is None:  # a statement this vendor does without
            continue
        if isinstance(value, str):
            statements.append(value)
            continue
        assert name in STATEMENT_ARGUMENTS, f"{name}: add its arguments to STATEMENT_ARGUMENTS"
        if name in OPTIONAL_STATEMENTS and not getattr(d, OPTIONAL_STATEMENTS[name]):
            with pytest.raises(NotImplementedError):
                value(*STATEMENT_ARGUMENTS[name][0])
            continue
        for arguments in STATEMENT_ARGUMENTS[name]:
            if name == "upsert_sql" and arguments[0] > d.upsert_batch:
                continue
            statements.append(value(*arguments))
    return statements


@pytest.mark.parametrize("cls", [OracleDialect, MSSQLDialect, PostgreSQLDialect, MySQLDialect])
def test_every_statement_parses_in_the_vendor_grammar(cls):
    d = dialect(cls)
    for sql in every_statement(d):
        parsed = sqlglot.parse_one(
            sql.replace("%s", PLACEHOLDER[d.vendor]), read=GRAMMAR[d.vendor]
        )
        # An unknown statement would come back as a bare Command: demand a real parse.
        assert not isinstance(parsed, exp.Command), sql


def test_placeholders_match_parameters():
    d = dialect(OracleDialect)
    assert d.upsert_sql(1).count("%s") == len(d.upsert_params(7, [("n", b"v")])) == 4
    m = dialect(MSSQLDialect)
    rows = [("a", b""), ("b", b""), ("c", b"")]
    assert m.upsert_sql(3).count("%s") == len(m.upsert_params(7, rows))
    p = dialect(PostgreSQLDialect)
    sql = p.touch_and_upsert_sql(2)
    assert sql.count("%s") == 5 + len(p.values_params([("a", b""), ("b", b"")]))


@pytest.mark.parametrize("cls", [*DIALECTS.values(), Dialect])
@pytest.mark.parametrize("client", [False, True])
def test_a_touch_takes_the_later_times_and_matches_id_and_key(cls, client):
    d = dialect(cls)
    sql = d.touch_only_sql(client)
    rest = [*(["ip", "agent"] if client else []), 7, "hash", "app"]
    assert sql.count("%s") == len(d.touch_only_params("now", "expires", rest))
    own = d.touch_sql(client, own_transaction=True)
    assert own.count("%s") == sql.count("%s") and own.startswith(sql)
    assert d.touch_sql(client, own_transaction=False) == sql
    later = {"GREATEST": "GREATEST(", "MAX": "MAX(", None: "CASE WHEN "}[d.later_function]
    assert sql.count(later) == 2
    where = sql[sql.index(" WHERE ") :]
    assert all(d.quote(column) in where for column in ("id", "key_hash", "app_name"))


def test_the_later_function_per_vendor():
    assert {cls.vendor: cls.later_function for cls in DIALECTS.values()} == {
        "postgresql": "GREATEST",
        "mysql": "GREATEST",
        "oracle": "GREATEST",
        "sqlite": "MAX",
        "mssql": None,  # SQL Server 2022 has GREATEST, older releases do not
    }
    # Only PostgreSQL can skip the flush wait for one transaction.
    assert {cls.vendor for cls in DIALECTS.values() if cls.skip_flush_condition} == {"postgresql"}


def test_a_rotation_that_restarts_the_lifetime_sets_created_at_second():
    for cls in DIALECTS.values():
        d = dialect(cls)
        sql = d.rekey_and_restart_sql
        assert sql.count("%s") == d.rekey_session_sql.count("%s") + 1
        assert sql.index(d.quote("key_hash")) < sql.index(d.quote("created_at"))


def test_oracle_quotes_upper_case_and_merges_one_row():
    d = dialect(OracleDialect)
    assert '"DBSESSIONS_ATTRIBUTE"' in d.upsert_sql(1)
    assert d.upsert_sql(1).startswith("MERGE INTO")
    assert d.upsert_batch == 1
    with pytest.raises(ValueError):
        d.upsert_sql(2)
    assert d.lock_session_sql.endswith("FOR UPDATE")
    # Oracle takes no AS before a table alias.
    assert " AS s" not in d.load_sql and " AS a " not in d.load_sql


def test_sql_server_merge_holds_its_lock_and_ends_with_a_semicolon():
    sql = dialect(MSSQLDialect).upsert_sql(2)
    assert "WITH (HOLDLOCK)" in sql
    assert sql.endswith(";")
    assert "[dbsessions_attribute]" in sql
    lock = dialect(MSSQLDialect).lock_session_sql
    assert "WITH (UPDLOCK, ROWLOCK)" in lock and "FOR UPDATE" not in lock


@pytest.mark.parametrize(
    "mariadb, version, row_alias",
    [(True, (10, 11, 6), False), (False, (8, 0, 18), False), (False, (8, 0, 19), True)],
)
def test_mysql_upsert_spelling_follows_the_server(mariadb, version, row_alias):
    d = MySQLDialect("s", "a", mariadb=mariadb, server_version=version)
    if row_alias:
        assert "AS new ON DUPLICATE KEY UPDATE `value` = new.`value`" in d.upsert_sql(1)
    else:
        assert "ON DUPLICATE KEY UPDATE `value` = VALUES(`value`)" in d.upsert_sql(1)


def test_mysql_and_mariadb_have_their_own_exact_collation_and_ddl():
    mysql = MySQLDialect("s", "a")
    mariadb = MySQLDialect("s", "a", mariadb=True, server_version=(10, 6, 0))
    assert (mysql.product, mysql.exact_collation) == ("mysql", "utf8mb4_0900_bin")
    assert (mariadb.product, mariadb.exact_collation) == ("mariadb", "utf8mb4_nopad_bin")


def test_django_vendor_names_map_to_our_dialects():
    """Django's ``connection.vendor`` keys the dialects; our names say "mssql"."""
    assert {vendor: cls.vendor for vendor, cls in DIALECTS.items()} == {
        "postgresql": "postgresql",
        "sqlite": "sqlite",
        "mysql": "mysql",
        "oracle": "oracle",
        "microsoft": "mssql",
    }
    assert DIALECTS["microsoft"] is MSSQLDialect


def test_lob_values_are_read_and_others_kept():
    class Lob:
        def read(self) -> bytes:
            return b"from a LOB"

    assert as_bytes(Lob()) == b"from a LOB"
    assert as_bytes(memoryview(b"view")) == b"view"
    value = b"bytes"
    assert as_bytes(value) is value


def test_configured_table_names_are_used():
    for cls in DIALECTS.values():
        d = cls("custom_sessions", "custom_attributes")
        # The lease table keeps its name, as the import ledger does.
        lease = d.quote(LEASE_TABLE)
        # The key hash's unique index keeps the name the model's Meta gives it.
        index = d.quote(KEY_HASH_INDEX)
        statements = every_statement(d)
        assert all(
            "dbsessions_" not in sql.replace(lease, "").replace(index, "") for sql in statements
        )
        assert {sql for sql in statements if lease in sql} == {
            d.lease_insert_sql,
            d.lease_take_sql,
            d.lease_hold_sql,
        }


@pytest.mark.parametrize("cls", [*DIALECTS.values(), Dialect])
def test_the_lease_is_one_row_written_by_its_name(cls):
    """The take matches a free, expired or own lease; holding it needs the row to name us;
    the insert leaves an existing row alone (each vendor's way)."""
    d = dialect(cls)
    quote = d.quote
    assert d.lease_insert_sql.count("%s") == 3
    assert d.lease_take_sql.count("%s") == 5 and d.lease_hold_sql.count("%s") == 3
    take_where = d.lease_take_sql.split(" WHERE ")[1]
    assert take_where == (
        f"{quote('name')} = %s AND ({quote('expires_at')} <= %s OR {quote('holder')} = %s)"
    )
    assert d.lease_hold_sql.endswith(f"WHERE {quote('name')} = %s AND {quote('holder')} = %s")
    ignores = {
        "postgresql": "ON CONFLICT",
        "sqlite": "ON CONFLICT",
        "mysql": "INSERT IGNORE",
        "oracle": "WHEN NOT MATCHED THEN INSERT",
        "mssql": "WITH (HOLDLOCK)",
        "generic": "WHEN NOT MATCHED THEN INSERT",
    }
    assert ignores[d.vendor] in d.lease_insert_sql


def test_large_values_are_split_across_upserts():
    dialect = DIALECTS["postgresql"]("s", "a")
    rows = [(f"k{i}", b"x" * (3 * 1024 * 1024)) for i in range(3)]
    assert [len(batch) for batch in upsert_batches(rows, dialect)] == [1, 1, 1]
    small = [(f"k{i}", b"x") for i in range(1200)]
    assert [len(batch) for batch in upsert_batches(small, dialect)] == [500, 500, 200]


def test_mysql_batches_count_values_as_escaped_on_the_wire():
    quotes = [(f"k{i}", b"'" * (1024 * 1024)) for i in range(4)]
    assert [len(b) for b in upsert_batches(quotes, DIALECTS["postgresql"]("s", "a"))] == [4]
    assert [len(b) for b in upsert_batches(quotes, MySQLDialect("s", "a"))] == [2, 2]
    assert MySQLDialect("s", "a").value_wire_size(b"a'b\\c\x00\n\r\x1a\"") == 17


@pytest.mark.parametrize("cls", [*DIALECTS.values(), Dialect])
def test_an_atomic_update_locks_one_attribute_row_of_a_live_session(cls):
    """The lock is on the attribute table alone (the session comes from a subquery, whose
    rows a locking read leaves unlocked) and only for a session not expired."""
    d = dialect(cls)
    sql = d.lock_attribute_sql
    assert sql.count("%s") == 4  # the name, then key hash, app name and now
    outer, session = sql.split("(SELECT", 1)
    assert d.quoted_attribute_table in outer and d.quoted_session_table not in outer
    assert f"{d.quote('expires_at')} > %s" in session
    if cls is MSSQLDialect:
        assert f"{d.quoted_attribute_table} WITH (UPDLOCK, ROWLOCK)" in outer
    elif d.locks_rows:
        assert sql.endswith(")" + d.lock_suffix)
    else:
        assert "FOR UPDATE" not in sql  # SQLite: the claim took the write lock


@pytest.mark.parametrize("cls", [*DIALECTS.values(), Dialect])
def test_a_claim_inserts_from_the_live_session_and_never_overwrites(cls):
    d = dialect(cls)
    sql = d.claim_attribute_sql
    params = d.claim_attribute_params("cart", b"[]", ["hash", "app", "now"])
    assert sql.count("%s") == len(params) == 5
    assert f"{d.quote('expires_at')} > %s" in sql
    assert "UPDATE" not in sql.split(d.quoted_session_table, 1)[1]  # no upsert: insert only
    if cls is OracleDialect:
        assert params[-1] == b"[]"  # the BLOB travels in the INSERT's VALUES
        assert "DBMS_LOB.COMPARE" in d.update_attribute_if_sql()
    if cls is MSSQLDialect:
        assert "WITH (HOLDLOCK)" in sql and sql.endswith(";")


@pytest.mark.parametrize("cls", [*DIALECTS.values(), Dialect])
@pytest.mark.parametrize("digest", [False, True])
def test_conditional_writes_compare_the_loaded_value_or_its_digest(cls, digest):
    d = dialect(cls)
    if digest and d.value_digest_template is None:
        assert not d.compares_digest(b"x" * 100_000)
    update, delete = d.update_attribute_if_sql(digest), d.delete_attribute_if_sql(digest)
    assert update.startswith(d.update_attribute_sql)
    assert update.count("%s") == 4 and delete.count("%s") == 3
    compare = d.loaded_value_condition(d.quote("value"), digest)
    assert update.endswith(compare) and delete.endswith(compare)


def test_long_loaded_values_are_compared_by_digest_where_values_travel_inline():
    """mysqlclient escapes values into the SQL in Python; the other drivers bind them."""
    value = b"v" * 5000
    mysql = dialect(MySQLDialect)
    assert mysql.compares_digest(value) and not mysql.compares_digest(b"short")
    assert mysql.value_digest(value) == hashlib.sha256(value).hexdigest()
    assert mysql.update_attribute_if_sql(True).endswith("SHA2(`value`, 256) = %s")
    for cls in (PostgreSQLDialect, OracleDialect, SQLiteDialect, MSSQLDialect):
        assert not dialect(cls).compares_digest(value)


def test_mysql_forces_the_index_the_model_names():
    from dbsessions.models import Session

    names = [c.name for c in Session._meta.constraints]
    assert KEY_HASH_INDEX in names
    assert f"FORCE INDEX (`{KEY_HASH_INDEX}`)" in dialect(MySQLDialect).lock_sessions_sql(2)
