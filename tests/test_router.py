"""Sessions on their own database alias, behind SessionRouter."""

import pytest
from django.db import connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from dbsessions.backends.db import SessionStore
from dbsessions.models import Attribute, Session
from dbsessions.routers import SessionRouter

pytestmark = pytest.mark.django_db(databases="__all__")


def table_names(alias: str) -> set[str]:
    with connections[alias].cursor() as cursor:
        return set(connections[alias].introspection.table_names(cursor))


@override_settings(DBSESSIONS={"DATABASE": "sessions"})
def test_router_sends_the_app_to_the_configured_alias():
    router = SessionRouter()
    assert router.db_for_read(Session) == "sessions"
    assert router.db_for_write(Attribute) == "sessions"
    assert router.allow_migrate("sessions", "dbsessions") is True
    assert router.allow_migrate("default", "dbsessions") is False
    assert router.allow_migrate("default", "auth") is None
    assert (
        router.db_for_read(type("Other", (), {"_meta": type("M", (), {"app_label": "auth"})}))
        is None
    )


@pytest.mark.separate_db
def test_tables_exist_only_on_the_sessions_database():
    tables = {Session._meta.db_table, Attribute._meta.db_table}
    assert tables <= table_names("sessions")
    assert not tables & table_names("default")


@pytest.mark.separate_db
def test_every_session_query_goes_to_the_sessions_database():
    with (
        CaptureQueriesContext(connections["default"]) as on_default,
        CaptureQueriesContext(connections["sessions"]) as on_sessions,
    ):
        session = SessionStore()
        session["a"] = 1
        session.save()
        loaded = SessionStore(session.session_key)
        assert loaded["a"] == 1
        loaded["b"] = 2
        loaded.save()
        loaded.cycle_key()
        loaded.delete()
        SessionStore.clear_expired()
    assert on_default.captured_queries == []
    assert len(on_sessions.captured_queries) > 5
