"""A session key never shows in Django's error reports (the e-mails of AdminEmailHandler, the
error page with DEBUG off), whichever engine operation the error interrupted."""

import sys

import pytest
from django.db import DatabaseError, connections
from django.test import override_settings
from django.views.debug import ExceptionReporter

from dbsessions.backends.db import SessionStore as DatabaseStore
from dbsessions.conf import app_settings
from tests.utils import clear_session_cache, saved_session

pytestmark = pytest.mark.django_db(databases="__all__")


def database_went_away(execute, sql, params, many, context):
    raise DatabaseError("the database went away")


def report_of(operation, *args) -> tuple[str, str, list[str]]:
    """Run ``operation`` while every query fails: (HTML report, text report, frame names).

    The report starts below this function's frame, whose arguments are the test's own.
    """
    with connections[app_settings.DATABASE].execute_wrapper(database_went_away):
        try:
            operation(*args)
        except DatabaseError:
            exc_type, exc, traceback = sys.exc_info()
        else:
            raise AssertionError("the operation ran no query")
    with override_settings(DEBUG=False):
        reporter = ExceptionReporter(None, exc_type, exc, traceback.tb_next)
        frames = [frame["function"] for frame in reporter.get_traceback_frames()]
        return reporter.get_traceback_html(), reporter.get_traceback_text(), frames


def saved_store(store_class: type[DatabaseStore]) -> tuple[DatabaseStore, str]:
    """A new store on a saved session of the engine under test, and that session's key."""
    key = saved_session(cart=["tea"]).session_key
    return store_class(key), key


def assert_key_hidden(key: str, report: tuple[str, str, list[str]], *functions: str) -> None:
    html, text, frames = report
    assert set(functions) <= set(frames)  # the frames that held the key are in the report
    assert key not in html
    assert key not in text


def test_cycle_key(SessionStore):
    store, key = saved_store(SessionStore)
    assert store["cart"] == ["tea"]
    assert_key_hidden(key, report_of(store.cycle_key), "cycle_key", "_rekey")


def test_delete_by_key(SessionStore):
    store, key = saved_store(SessionStore)
    assert_key_hidden(key, report_of(SessionStore().delete, key), "delete")


def test_delete_current(SessionStore):
    store, key = saved_store(SessionStore)
    assert_key_hidden(key, report_of(store.delete), "delete")


def test_exists(SessionStore):
    store, key = saved_store(SessionStore)
    assert_key_hidden(key, report_of(SessionStore().exists, key), "exists")


def test_load(SessionStore):
    store, key = saved_store(SessionStore)
    clear_session_cache()  # else cached_db serves the load without a query
    assert_key_hidden(key, report_of(store.load), "load")


def test_save(SessionStore):
    store, key = saved_store(SessionStore)
    store["cart"] = ["tea", "milk"]
    assert_key_hidden(key, report_of(store.save), "save")
