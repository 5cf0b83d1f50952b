"""Names, app names and principals compare byte for byte on every vendor.

MariaDB's default collations (here the test database's utf8mb4_unicode_ci) ignore case,
accents and trailing spaces; ``utf8mb4_bin`` still ignores trailing spaces. PostgreSQL and
SQLite compare exactly by default; the tests show that on them too.
"""

from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command

from dbsessions import api
from dbsessions.backends.db import SessionStore
from dbsessions.models import Attribute, exact_collation
from tests.utils import override_dbsessions, saved_session, session_rows

pytestmark = pytest.mark.django_db(databases="__all__")

#: Each differs from the others only by case, accents, a trailing space or a folding.
NAMES = [
    "cart",
    "Cart",
    "CART",
    "cart ",
    "café",
    "cafe",
    "cafe\u0301",  # "café" with a combining accent, equal to it under utf8mb4_unicode_ci
    "straße",
    "strasse",
]


def test_names_that_differ_only_by_case_accent_or_trailing_space_are_distinct_keys():
    store = SessionStore()
    for index, name in enumerate(NAMES):
        store[name] = index
    store.save()
    key = store.session_key

    loaded = SessionStore(key)
    assert dict(loaded.items()) == {name: index for index, name in enumerate(NAMES)}
    loaded["Cart"] = "changed"
    del loaded["cart "]
    loaded.save()

    expected = {name: index for index, name in enumerate(NAMES) if name != "cart "}
    expected["Cart"] = "changed"
    assert dict(SessionStore(key).items()) == expected
    assert Attribute.objects.using(session_rows().db).count() == len(expected)


def test_app_names_that_differ_only_by_case_or_trailing_space_see_only_their_own_sessions():
    keys = {}
    for app_name in ("shop", "SHOP ", "Shop"):
        with override_dbsessions(APP_NAME=app_name):
            keys[app_name] = saved_session(app=app_name).session_key
    for app_name, own_key in keys.items():
        with override_dbsessions(APP_NAME=app_name):
            # Compared as booleans only, so that no failure message shows a key.
            visible = {other for other, key in keys.items() if SessionStore(key).exists(key)}
            assert visible == {app_name}
            assert dict(SessionStore(own_key).items()) == {"app": app_name}


def test_app_names_scope_the_api_exactly(django_user_model):
    user = django_user_model.objects.create_user("alice")
    for app_name in ("shop", "SHOP "):
        with override_dbsessions(APP_NAME=app_name):
            saved_session(user)
    with override_dbsessions(APP_NAME="Shop"):
        assert not api.live_sessions(user).exists()
        assert api.end_all_sessions(user) == 0
    with override_dbsessions(APP_NAME="SHOP "):
        assert [s.app_name for s in api.live_sessions(user)] == ["SHOP "]
        assert api.end_all_sessions(user) == 1
    with override_dbsessions(APP_NAME="shop"):
        assert api.live_sessions(user).count() == 1


def test_principals_that_differ_only_by_case_or_trailing_space_are_different_users():
    # User primary keys may be strings (a username, an email address).
    for pk in ("alice", "Alice", "alice "):
        saved_session(_auth_user_id=pk, owner=pk)
    for pk in ("alice", "Alice", "alice "):
        owner = SimpleNamespace(pk=pk)
        sessions = api.live_sessions(owner)
        assert [s.principal for s in sessions] == [pk]


def check() -> str:
    out = StringIO()
    call_command("install_session_schema", "--check", stdout=out)
    return out.getvalue()


@pytest.mark.mysql
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_check_reports_a_case_insensitive_collation_on_mysql(sessions_connection):
    quote = sessions_connection.ops.quote_name
    exact = exact_collation(sessions_connection)
    assert "is as expected" in check()

    def alter(collation: str) -> None:
        with sessions_connection.cursor() as cursor:
            cursor.execute(
                f"ALTER TABLE {quote('dbsessions_attribute')} MODIFY {quote('name')} "
                f"varchar(200) NOT NULL COLLATE {collation}"
            )

    alter("utf8mb4_unicode_ci")
    try:
        with pytest.raises(CommandError) as failure:
            check()
        assert (
            "Column dbsessions_attribute.name has collation utf8mb4_unicode_ci, "
            f"expected {exact}." in str(failure.value)
        )
    finally:
        alter(exact)
    assert "is as expected" in check()


@pytest.mark.postgresql
@pytest.mark.django_db(databases="__all__", transaction=True)
def test_check_reports_a_nondeterministic_collation_on_postgresql(sessions_connection):
    with sessions_connection.cursor() as cursor:
        cursor.execute(
            "CREATE COLLATION IF NOT EXISTS dbsessions_test_ci "
            "(provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
        )

    def alter(collation: str) -> None:
        with sessions_connection.cursor() as cursor:
            cursor.execute(
                'ALTER TABLE "dbsessions_session" ALTER COLUMN "app_name" '
                f"TYPE varchar(100) COLLATE {collation}"
            )

    alter("dbsessions_test_ci")
    try:
        with pytest.raises(CommandError) as failure:
            check()
        assert (
            "Column dbsessions_session.app_name has collation dbsessions_test_ci, "
            "expected the database default." in str(failure.value)
        )
    finally:
        alter('"default"')
        with sessions_connection.cursor() as cursor:
            cursor.execute("DROP COLLATION dbsessions_test_ci")
    assert "is as expected" in check()
