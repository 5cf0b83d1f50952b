"""Helpers shared by the test modules."""

import threading

import pytest
from django.conf import settings
from django.db import connections
from django.db.models import QuerySet
from django.test import override_settings

from dbsessions.backends.db import SessionStore
from dbsessions.conf import app_settings
from dbsessions.models import Session

#: ``@pytest.mark.parametrize("vendor", SERVER_VENDORS)``: a test that needs a server, run in
#: that server's run. (SQLite's in-memory test database, shared between threads, fails
#: concurrent writers at once instead of letting them wait.)
SERVER_VENDORS = [
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mysql", marks=pytest.mark.mysql),
]


def override_dbsessions(**values) -> override_settings:
    """Override some DBSESSIONS keys, keeping the others (such as DATABASE) as configured."""
    return override_settings(DBSESSIONS={**getattr(settings, "DBSESSIONS", {}), **values})


def saved_session(user=None, **data) -> SessionStore:
    """A saved session holding ``data``, owned by ``user`` as a login would leave it."""
    store = SessionStore()
    if user is not None:
        store["_auth_user_id"] = str(user.pk)
    store.update(data)
    store.save()
    return store


def session_rows() -> QuerySet[Session]:
    """The session rows, on whichever database holds them."""
    return Session.objects.using(app_settings.DATABASE)


def run_threads(target, count: int = 8) -> list[BaseException]:
    """Start ``count`` threads together; return what they raised."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def worker(index: int) -> None:
        try:
            barrier.wait()
            target(index)
        except BaseException as exc:  # collected and asserted on by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors
