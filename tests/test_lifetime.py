"""Session lifetime: touches (TOUCH_INTERVAL) and the absolute timeout (ABSOLUTE_TIMEOUT).

Time travels with time-machine, which moves Python's clock: the engine takes "now" from it,
never from the database's, so the database sees the travelled times too. Both engines, through
Django's ``SessionMiddleware`` where the cookie matters.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.cache import caches
from django.db import connections, transaction
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from dbsessions.conf import app_settings
from dbsessions.dialects import dialect_for
from dbsessions.purge import purge_expired
from dbsessions.signals import sessions_ended
from tests.utils import (
    CACHED_DB,
    engine_store,
    override_dbsessions,
    queries_to_load,
    saved_session,
    session_rows,
)

pytestmark = pytest.mark.django_db(databases="__all__")

T0 = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
AGE = 3600  # SESSION_COOKIE_AGE in these tests


@pytest.fixture(autouse=True)
def cookie_age(settings):
    settings.SESSION_COOKIE_AGE = AGE


def at(seconds: float):
    """Python's clock stopped at ``T0 + seconds``."""
    return time_machine.travel(T0 + timedelta(seconds=seconds), tick=False)


def writes(queries: CaptureQueriesContext) -> list[str]:
    """The statements that write rows."""
    return [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE", "WITH", "MERGE"))
    ]


def is_statement(captured: str, template: str) -> bool:
    """Whether ``captured`` (parameters filled in) is the statement ``template`` (``%s``)."""
    pattern = ".+?".join(re.escape(part) for part in template.split("%s"))
    return re.fullmatch(pattern, captured, flags=re.DOTALL) is not None


def sessions_db() -> CaptureQueriesContext:
    return CaptureQueriesContext(connections[app_settings.DATABASE])


def row(store):
    """The session row of ``store``, as the database has it now."""
    return session_rows().get(pk=store._row_id)


def request_reading(key: str, view=lambda request: request.session.get("visits")):
    """One request through SessionMiddleware with the session cookie ``key``, whose view
    calls ``view``: (the response, the SQL it ran)."""

    def get_response(request):
        view(request)
        return HttpResponse()

    request = RequestFactory().get("/")
    request.COOKIES[settings.SESSION_COOKIE_NAME] = key
    with sessions_db() as queries:
        response = SessionMiddleware(get_response)(request)
    return response, queries


def new_session(**data):
    with at(0):
        return saved_session(visits=1, **data)


# Touches ------------------------------------------------------------------------------


@override_dbsessions(TOUCH_INTERVAL=60)
def test_a_read_after_the_interval_touches_with_one_update(SessionStore):
    store = new_session()
    with at(61):
        response, queries = request_reading(store.session_key)

    (touch,) = writes(queries)
    assert is_statement(touch, dialect_for(connections[app_settings.DATABASE]).touch_only_sql())
    touched = row(store)
    assert (touched.last_access, touched.expires_at) == (
        T0 + timedelta(seconds=61),
        T0 + timedelta(seconds=61 + AGE),
    )
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert (cookie.value, cookie["max-age"]) == (store.session_key, AGE)
    # The data is untouched.
    with at(62):
        assert dict(SessionStore(store.session_key).items()) == {"visits": 1}


@override_dbsessions(TOUCH_INTERVAL=60)
def test_a_read_within_the_interval_writes_nothing(SessionStore):
    store = new_session()
    with at(59):
        response, queries = request_reading(store.session_key)

    assert writes(queries) == []
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert row(store).last_access == T0


@override_dbsessions(TOUCH_INTERVAL=60)
def test_the_interval_counts_from_the_last_touch(SessionStore):
    store = new_session()
    with at(61):
        request_reading(store.session_key)
    with at(100):
        _, within = request_reading(store.session_key)
    with at(122):
        _, after = request_reading(store.session_key)

    assert writes(within) == []
    assert len(writes(after)) == 1
    assert row(store).expires_at == T0 + timedelta(seconds=122 + AGE)


def test_without_touch_interval_no_read_ever_writes(SessionStore):
    store = new_session()
    with at(AGE - 1):
        response, queries = request_reading(store.session_key)
        loaded = SessionStore(store.session_key)
        assert loaded["visits"] == 1

    assert writes(queries) == []
    assert not loaded.modified
    assert settings.SESSION_COOKIE_NAME not in response.cookies
    assert row(store).expires_at == T0 + timedelta(seconds=AGE)


def test_without_the_settings_a_save_of_nothing_runs_the_usual_update(SessionStore):
    store = new_session()
    with at(61):
        loaded = SessionStore(store.session_key)
        assert loaded["visits"] == 1
        with sessions_db() as queries:
            loaded.save()
    dialect = dialect_for(connections[app_settings.DATABASE])

    (update,) = writes(queries)
    assert is_statement(update, dialect.touch_session_sql())


@override_dbsessions(TOUCH_INTERVAL=60)
def test_a_due_touch_with_changes_is_an_ordinary_save(SessionStore):
    store = new_session()
    with at(61):
        response, queries = request_reading(
            store.session_key, lambda request: request.session.update({"visits": 2})
        )
    dialect = dialect_for(connections[app_settings.DATABASE])

    assert not any(is_statement(sql, dialect.touch_only_sql()) for sql in writes(queries))
    assert row(store).expires_at == T0 + timedelta(seconds=61 + AGE)
    with at(62):
        assert dict(SessionStore(store.session_key).items()) == {"visits": 2}


@override_dbsessions(TOUCH_INTERVAL=60)
def test_a_touch_follows_the_session_s_own_expiry(SessionStore):
    with at(0):
        store = engine_store()()
        store["visits"] = 1
        store.set_expiry(600)
        store.save()
    with at(61):
        response, _ = request_reading(store.session_key)

    assert row(store).expires_at == T0 + timedelta(seconds=661)
    assert response.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == 600


@override_dbsessions(TOUCH_INTERVAL=60)
def test_a_touch_never_resurrects_an_ended_session(SessionStore):
    store = new_session()
    with at(61):
        loaded = SessionStore(store.session_key)
        assert loaded["visits"] == 1 and loaded.modified  # a touch is due
        SessionStore(store.session_key).delete()  # ended by another request
        with sessions_db() as queries:
            loaded.save()  # no error: the request only read its session

        assert len(writes(queries)) == 1
        assert not session_rows().filter(pk=store._row_id).exists()
        assert dict(SessionStore(store.session_key).items()) == {}


@override_dbsessions(TOUCH_INTERVAL=60)
def test_a_touch_never_follows_a_rotated_key(SessionStore):
    store = new_session()
    with at(61):
        loaded = SessionStore(store.session_key)
        assert loaded["visits"] == 1
        rotating = SessionStore(store.session_key)
        rotating.cycle_key()
        with sessions_db() as queries:
            loaded.save()

    assert len(writes(queries)) == 1  # the touch, which matched no row
    assert loaded.session_key == store.session_key  # nothing was re-created under it
    assert row(rotating).last_access == T0
    with at(62):
        assert dict(SessionStore(store.session_key).items()) == {}


# The absolute timeout -----------------------------------------------------------------


@override_dbsessions(ABSOLUTE_TIMEOUT=5400)
def test_a_save_caps_the_expiry_at_the_absolute_timeout(SessionStore):
    store = new_session()
    assert row(store).expires_at == T0 + timedelta(seconds=AGE)
    with at(3000):
        loaded = SessionStore(store.session_key)
        loaded["visits"] = 2
        assert loaded.get_expiry_age() == 2400
        assert loaded.get_expiry_date() == T0 + timedelta(seconds=5400)
        loaded.save()

    assert row(store).expires_at == T0 + timedelta(seconds=5400)


@override_dbsessions(TOUCH_INTERVAL=60, ABSOLUTE_TIMEOUT=5400)
def test_a_touch_caps_the_expiry_and_the_cookie(SessionStore):
    store = new_session()
    with at(3000):
        response, queries = request_reading(store.session_key)

    assert len(writes(queries)) == 1
    assert row(store).expires_at == T0 + timedelta(seconds=5400)
    assert response.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == 2400


@override_dbsessions(ABSOLUTE_TIMEOUT=1800)
def test_a_new_session_s_cookie_never_outlives_the_absolute_timeout(SessionStore):
    with at(0):
        store = SessionStore()
        assert store.get_expiry_age() == 1800
        store["visits"] = 1
        store.save()
        assert store.get_expiry_age() == 1800

    assert row(store).expires_at == T0 + timedelta(seconds=1800)


@override_dbsessions(ABSOLUTE_TIMEOUT=1800)
def test_the_async_expiry_is_capped_too(SessionStore):
    with at(0):
        store = SessionStore()
        assert async_to_sync(store.aget_expiry_age)() == 1800
        assert async_to_sync(store.aget_expiry_date)() == T0 + timedelta(seconds=1800)


@override_dbsessions(TOUCH_INTERVAL=60, ABSOLUTE_TIMEOUT=1800)
def test_a_capped_session_ends_at_its_absolute_timeout_and_is_purged(SessionStore):
    store = new_session()
    for second in (600, 1200, 1799):
        with at(second):
            request_reading(store.session_key)
    assert row(store).expires_at == T0 + timedelta(seconds=1800)

    with at(1800):
        loaded = SessionStore(store.session_key)
        assert dict(loaded.items()) == {}
        assert loaded.session_key is None  # an empty session under a new key
        purge_expired(using=app_settings.DATABASE, app_name=app_settings.APP_NAME)
    with at(1801):
        purge_expired(using=app_settings.DATABASE, app_name=app_settings.APP_NAME)

    assert not session_rows().filter(pk=store._row_id).exists()


def test_a_session_saved_before_the_timeout_was_set_ends_at_load_and_is_purged_later(
    SessionStore,
):
    store = new_session()  # expires at T0 + AGE, no cap
    with override_dbsessions(ABSOLUTE_TIMEOUT=600), at(601):
        loaded = SessionStore(store.session_key)
        assert dict(loaded.items()) == {} and loaded.session_key is None
        purge_expired(using=app_settings.DATABASE, app_name=app_settings.APP_NAME)
        assert session_rows().filter(pk=store._row_id).exists()  # not expired yet
    with override_dbsessions(ABSOLUTE_TIMEOUT=600), at(AGE + 1):
        purge_expired(using=app_settings.DATABASE, app_name=app_settings.APP_NAME)

    assert not session_rows().filter(pk=store._row_id).exists()


@override_dbsessions(ABSOLUTE_TIMEOUT=600)
def test_a_save_over_an_unloaded_session_past_the_timeout_starts_afresh(SessionStore):
    store = new_session()
    with at(601):
        blind = SessionStore(store.session_key)
        blind.clear()  # never loaded
        blind["visits"] = 5
        blind.save()

    assert blind.session_key != store.session_key
    assert not session_rows().filter(pk=store._row_id).exists()
    assert row(blind).created_at == T0 + timedelta(seconds=601)


@override_dbsessions(ABSOLUTE_TIMEOUT=5400)
def test_cycle_key_starts_a_new_absolute_lifetime(SessionStore):
    store = new_session()
    with at(3000):
        loaded = SessionStore(store.session_key)
        loaded.cycle_key()  # a login
        loaded.save()
        assert loaded.get_expiry_age() == AGE

    rotated = row(loaded)
    assert rotated.pk == store._row_id
    assert rotated.created_at == T0 + timedelta(seconds=3000)
    assert rotated.expires_at == T0 + timedelta(seconds=3000 + AGE)


def test_without_the_timeout_cycle_key_keeps_created_at(SessionStore):
    store = new_session()
    with at(3000):
        loaded = SessionStore(store.session_key)
        loaded.cycle_key()

    assert row(loaded).created_at == T0


# Browser-close sessions ---------------------------------------------------------------


@override_dbsessions(TOUCH_INTERVAL=60, ABSOLUTE_TIMEOUT=5400)
def test_a_browser_close_session_is_touched_and_keeps_a_session_cookie(SessionStore):
    with at(0):
        store = engine_store()()
        store["visits"] = 1
        store.set_expiry(0)
        store.save()
    with at(3000):
        response, queries = request_reading(store.session_key)

    assert len(writes(queries)) == 1
    assert row(store).expires_at == T0 + timedelta(seconds=5400)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie.value == store.session_key
    assert cookie["max-age"] == "" and cookie["expires"] == ""  # gone with the browser


# Signals ------------------------------------------------------------------------------


def test_sessions_ended_says_logout_or_rotation(SessionStore, django_capture_on_commit_callbacks):
    reasons = []

    def receiver(**kwargs):
        reasons.append(kwargs["reason"])

    logged_out, rotated = saved_session(visits=1), saved_session(visits=2)
    sessions_ended.connect(receiver)
    try:
        with (
            django_capture_on_commit_callbacks(using=app_settings.DATABASE, execute=True),
            transaction.atomic(using=app_settings.DATABASE),
        ):
            SessionStore(logged_out.session_key).flush()
            blind = SessionStore(rotated.session_key)
            blind.clear()  # never loaded: the rotation makes a new row, deletes the old
            blind.cycle_key()
    finally:
        sessions_ended.disconnect(receiver)

    assert reasons == ["logout", "rotation"]


# PostgreSQL: touches do not wait for the WAL flush -----------------------------------


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True, databases="__all__")
@override_dbsessions(TOUCH_INTERVAL=60)
def test_a_touch_of_its_own_skips_the_flush_wait_only_outside_atomic(SessionStore):
    store = new_session()
    skip_flush = "set_config('synchronous_commit', 'off', true)"
    with at(61):
        loaded = SessionStore(store.session_key)
        assert loaded["visits"] == 1
        with sessions_db() as alone:
            loaded.save()
    with at(122):
        loaded = SessionStore(store.session_key)
        assert loaded["visits"] == 1
        with transaction.atomic(using=app_settings.DATABASE), sessions_db() as inside:
            loaded.save()

    # One statement of its own, which sets synchronous_commit for its own commit only.
    assert len(writes(alone)) == 1
    assert [q["sql"] for q in alone.captured_queries] == writes(alone)
    assert skip_flush in writes(alone)[0]
    assert len(writes(inside)) == 1
    assert skip_flush not in writes(inside)[0]
    assert row(store).last_access == T0 + timedelta(seconds=122)


# cached_db: touches from the cache ----------------------------------------------------


@pytest.mark.parametrize("session_engine", [CACHED_DB], indirect=True)
@override_dbsessions(TOUCH_INTERVAL=60)
def test_a_cache_hit_tells_a_touch_is_due_and_the_touch_keeps_the_snapshot(SessionStore):
    store = new_session()  # cached as created
    with at(61):
        with sessions_db() as load:
            loaded = SessionStore(store.session_key)
            assert loaded["visits"] == 1
        assert load.captured_queries == [] and loaded.modified
        with sessions_db() as touch:
            loaded.save()
        assert len(writes(touch)) == 1
    with at(62):
        assert queries_to_load(store.session_key) == ({"visits": 1}, 0)  # still a hit
        again = SessionStore(store.session_key)
        assert again["visits"] == 1 and not again.modified  # the snapshot knows the touch


@pytest.mark.parametrize("session_engine", [CACHED_DB], indirect=True)
@override_dbsessions(TOUCH_INTERVAL=60)
def test_a_touch_never_serves_what_changed_or_ended_meanwhile(SessionStore):
    changed, ended = new_session(), new_session()
    with at(61):
        touching = [SessionStore(changed.session_key), SessionStore(ended.session_key)]
        assert all(store["visits"] == 1 for store in touching)  # hits, touches due
        other = SessionStore(changed.session_key)
        other["visits"] = 2
        other.save()
        SessionStore(ended.session_key).delete()
        for store in touching:
            store.save()
    with at(62):
        assert queries_to_load(changed.session_key) == ({"visits": 2}, 1)
        assert queries_to_load(ended.session_key) == ({}, 1)
        snapshot_key = SessionStore(ended.session_key)._cache_keys(ended.session_key)[0]
        assert caches[settings.SESSION_CACHE_ALIAS].get(snapshot_key) is None


@pytest.mark.parametrize("session_engine", [CACHED_DB], indirect=True)
@override_dbsessions(ABSOLUTE_TIMEOUT=600)
def test_a_cached_session_is_not_served_past_the_absolute_timeout(SessionStore):
    with override_dbsessions(ABSOLUTE_TIMEOUT=None):
        store = new_session()  # cached, expiring after AGE
    with at(601):
        assert queries_to_load(store.session_key) == ({}, 1)
