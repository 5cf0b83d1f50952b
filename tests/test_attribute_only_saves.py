"""With TOUCH_INTERVAL, a save that changes attributes only (no touch due, no login, no new
expiry) leaves the session row alone where foreign keys are checked at the statement (InnoDB).

Every save rewrote the session row before; on a cluster, saves of different keys of one
session then conflicted on that row. Elsewhere (deferred foreign keys) saves are unchanged.
"""

import threading
from datetime import timedelta

import pytest
from django.contrib.sessions.backends.base import UpdateError
from django.db import connections, transaction

from dbsessions.conf import app_settings
from dbsessions.models import Attribute
from tests.test_lifetime import AGE, T0, at, row, sessions_db, writes
from tests.utils import override_dbsessions, saved_session, session_rows

pytestmark = [
    pytest.mark.django_db(databases="__all__", transaction=True),
    pytest.mark.usefixtures("cookie_age"),
]

INTERVAL = 300


@pytest.fixture
def cookie_age(settings):
    settings.SESSION_COOKIE_AGE = AGE


def leaves_row_alone() -> bool:
    return not connections[app_settings.DATABASE].features.can_defer_constraint_checks


def session_table_writes(queries) -> list[str]:
    return [sql for sql in writes(queries) if app_settings.SESSION_TABLE in sql]


def new_session(**data):
    with at(0):
        return saved_session(visits=1, **data)


@override_dbsessions(TOUCH_INTERVAL=INTERVAL)
def test_a_save_within_the_interval_writes_only_its_attribute(SessionStore):
    store = new_session()
    with at(100):
        loaded = SessionStore(store.session_key)
        loaded["visits"] = 2
        with sessions_db() as queries:
            loaded.save()

    with at(101):
        assert dict(SessionStore(store.session_key).items()) == {"visits": 2}
    if leaves_row_alone():
        assert session_table_writes(queries) == []
        assert row(store).expires_at == T0 + timedelta(seconds=AGE)
        assert row(store).last_access == T0
    else:
        assert len(session_table_writes(queries)) == 1
        assert row(store).expires_at == T0 + timedelta(seconds=100 + AGE)


@override_dbsessions(TOUCH_INTERVAL=INTERVAL)
def test_a_save_after_the_interval_moves_the_expiry(SessionStore):
    store = new_session()
    with at(INTERVAL + 1):
        loaded = SessionStore(store.session_key)
        loaded["visits"] = 2
        loaded.save()

    assert row(store).expires_at == T0 + timedelta(seconds=INTERVAL + 1 + AGE)


@override_dbsessions(TOUCH_INTERVAL=INTERVAL)
def test_a_login_within_the_interval_writes_the_owner(SessionStore, alice):
    store = new_session()
    with at(10):
        loaded = SessionStore(store.session_key)
        loaded["_auth_user_id"] = str(alice.pk)
        loaded.save()

    assert row(store).principal == str(alice.pk)


@override_dbsessions(TOUCH_INTERVAL=INTERVAL)
def test_a_new_expiry_within_the_interval_is_written(SessionStore):
    store = new_session()
    with at(10):
        loaded = SessionStore(store.session_key)
        loaded.set_expiry(7200)
        loaded.save()

    assert row(store).expires_at == T0 + timedelta(seconds=10 + 7200)


@override_dbsessions(TOUCH_INTERVAL=INTERVAL)
def test_a_session_shorter_than_the_interval_is_still_extended_by_saves(SessionStore):
    with at(0):
        store = saved_session(visits=1)
        store.set_expiry(120)
        store.save()
    with at(100):
        loaded = SessionStore(store.session_key)
        loaded["visits"] = 2
        loaded.save()

    assert row(store).expires_at == T0 + timedelta(seconds=100 + 120)


@override_dbsessions(TOUCH_INTERVAL=INTERVAL)
def test_a_session_ended_before_the_save_stays_ended(SessionStore):
    store = new_session(cart=["apple"])
    with at(10):
        loaded = SessionStore(store.session_key)
        assert loaded["cart"] == ["apple"]
        SessionStore(store.session_key).delete()  # another request logs out
        loaded["cart"] = ["apple", "pear"]
        loaded["new"] = 1
        with pytest.raises(UpdateError):
            loaded.save()

    assert not session_rows().filter(pk=store._row_id).exists()
    assert (
        not Attribute.objects.using(app_settings.DATABASE)
        .filter(session_id=store._row_id)
        .exists()
    )


@override_dbsessions(TOUCH_INTERVAL=INTERVAL)
def test_an_ended_session_inside_the_caller_s_transaction_raises_and_keeps_the_caller_s_work(
    SessionStore, django_user_model
):
    store = new_session()
    with at(10):
        loaded = SessionStore(store.session_key)
        assert loaded["visits"] == 1
        SessionStore(store.session_key).delete()
        loaded["visits"] = 2
        with transaction.atomic(using=app_settings.DATABASE):
            django_user_model.objects.db_manager(app_settings.DATABASE).create_user("carol")
            with pytest.raises(UpdateError):
                loaded.save()

    assert (
        django_user_model.objects.db_manager(app_settings.DATABASE)
        .filter(username="carol")
        .exists()
    )
    assert not session_rows().filter(pk=store._row_id).exists()


@pytest.mark.mysql
@pytest.mark.concurrency
@override_dbsessions(TOUCH_INTERVAL=INTERVAL)
def test_a_repeatable_read_snapshot_of_an_ended_session_never_brings_it_back(SessionStore):
    """InnoDB checks the foreign key against the latest rows, not the snapshot's."""
    store = new_session()
    base = connections[app_settings.DATABASE].settings_dict
    options = {**base["OPTIONS"], "isolation_level": "repeatable read"}
    raised: list[type[BaseException]] = []

    def request() -> None:
        connection = connections[app_settings.DATABASE]
        connection.settings_dict = {**base, "OPTIONS": options}
        try:
            with at(10), transaction.atomic(using=app_settings.DATABASE):
                loaded = SessionStore(store.session_key)
                assert loaded["visits"] == 1  # the snapshot starts here
                ender = threading.Thread(target=SessionStore(store.session_key).delete)
                ender.start()
                ender.join()
                loaded["visits"] = 2
                loaded["new"] = 1
                try:
                    loaded.save()
                except UpdateError:
                    raised.append(UpdateError)
        finally:
            connection.close()

    thread = threading.Thread(target=request)
    thread.start()
    thread.join()

    assert raised == [UpdateError]
    assert not session_rows().filter(pk=store._row_id).exists()
    assert (
        not Attribute.objects.using(app_settings.DATABASE)
        .filter(session_id=store._row_id)
        .exists()
    )
