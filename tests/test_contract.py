"""Django's SessionBase contract, held by both engines on every live database (sync API).

Each test runs for ``db``, ``cached_db`` (committing) and ``cached_db-atomic`` (inside one
transaction that never commits).
"""

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.base import CreateError, UpdateError
from django.test import override_settings
from django.utils import timezone

from dbsessions.backends.db import SessionStore as DatabaseStore
from dbsessions.keys import hash_key
from dbsessions.models import Session
from tests.utils import ENGINES_AND_CACHED_IN_ATOMIC, saved_session

pytestmark = [
    pytest.mark.django_db(databases="__all__"),
    pytest.mark.parametrize("session_engine", ENGINES_AND_CACHED_IN_ATOMIC, indirect=True),
    pytest.mark.usefixtures("session_engine"),
]


def reloaded(session: DatabaseStore) -> DatabaseStore:
    """A new store of the same engine on the session's key."""
    return type(session)(session.session_key)


def row(session: DatabaseStore) -> Session:
    return Session.objects.get(key_hash=hash_key(session.session_key))


def test_new_session_is_empty_and_untouched(store):
    assert store.is_empty()
    assert store.modified is False
    assert store.accessed is False
    assert store.session_key is None


def test_mapping_methods(store):
    store["cat"] = "meow"
    assert store.modified and store.accessed
    assert store.get("cat") == "meow"
    assert store.get("dog", "none") == "none"
    assert "cat" in store
    assert store.has_key("cat")
    assert list(store.keys()) == ["cat"]
    assert list(store.values()) == ["meow"]
    assert list(store.items()) == [("cat", "meow")]
    assert store.setdefault("cat", "purr") == "meow"
    assert store.setdefault("bird", "tweet") == "tweet"
    store.update({"cow": "moo"})
    assert store.pop("cow") == "moo"
    assert store.pop("cow", "gone") == "gone"
    with pytest.raises(KeyError):
        store.pop("cow")
    del store["bird"]
    assert dict(store.items()) == {"cat": "meow"}
    store.clear()
    assert list(store.items()) == []


def test_reading_does_not_mark_modified(SessionStore):
    session = SessionStore(saved_session(a=1).session_key)
    assert session["a"] == 1
    assert session.accessed is True
    assert session.modified is False


def test_save_and_load_round_trip():
    data = {"str": "text", "int": 7, "list": [1, "two"], "dict": {"k": None}, "bool": True}
    session = saved_session(**data)
    assert reloaded(session).load() == data


def test_save_keeps_the_data_in_memory():
    session = saved_session(a="b")
    assert dict(session.items()) == {"a": "b"}


def test_exists():
    session = saved_session(a=1)
    assert session.exists(session.session_key) is True
    assert session.exists("nosuchkey0000000000000000000000x") is False
    assert session.exists(None) is False


def test_create_saves_an_empty_session_under_a_new_key(store):
    store.create()
    assert store.session_key is not None
    assert store.modified is True
    assert store.exists(store.session_key)
    assert reloaded(store).load() == {}


def test_must_create_on_an_existing_key_raises_create_error(SessionStore):
    session = saved_session(a=1)
    other = SessionStore(session.session_key)
    other["b"] = 2
    with pytest.raises(CreateError):
        other.save(must_create=True)
    assert reloaded(session).load() == {"a": 1}


def test_delete_current_and_by_key(SessionStore):
    first, second = saved_session(a=1), saved_session(b=2)
    first.delete()
    second_key = second.session_key
    SessionStore().delete(second_key)
    assert first.exists(first.session_key) is False
    assert first.exists(second_key) is False
    assert Session.objects.count() == 0


def test_delete_of_unknown_or_missing_key_is_a_no_op(store):
    store.delete()
    store.delete("nosuchkey0000000000000000000000x")


def test_flush_removes_data_and_key():
    session = saved_session(a=1)
    old_key = session.session_key
    session.flush()
    assert session.session_key is None
    assert dict(session.items()) == {}
    assert session.modified is True
    assert session.exists(old_key) is False


def test_cycle_key_keeps_data_and_retires_the_old_key(SessionStore):
    session = saved_session(a=1, b=2)
    old_key = session.session_key
    session.cycle_key()
    assert session.session_key != old_key
    assert dict(session.items()) == {"a": 1, "b": 2}
    assert session.modified is True
    assert SessionStore(old_key).load() == {}
    assert reloaded(session).load() == {"a": 1, "b": 2}


def test_cycle_key_without_loaded_cache(SessionStore):
    key = saved_session(a="c", b="d").session_key
    session = SessionStore(key)
    assert not hasattr(session, "_session_cache")
    session.cycle_key()
    assert dict(session.items()) == {"a": "c", "b": "d"}
    assert session.session_key != key


def test_cycle_key_of_a_never_saved_session_creates_one(store):
    store["a"] = 1
    store.cycle_key()
    assert store.session_key is not None
    assert reloaded(store).load() == {"a": 1}


def test_cycle_key_keeps_unsaved_changes_for_the_next_save():
    session = saved_session(a=1)
    session["a"] = 2
    session.cycle_key()
    session.save()
    assert reloaded(session).load() == {"a": 2}


def test_cycle_key_of_a_session_ended_elsewhere_does_not_bring_it_back(SessionStore):
    session = saved_session(_auth_user_id="7", cart=["tea"])
    old_key = session.session_key
    SessionStore(old_key).delete()  # "log out everywhere", an admin's end, a purge

    session.cycle_key()

    assert session.session_key not in (None, old_key)
    assert dict(session.items()) == {}
    assert reloaded(session).load() == {}
    assert SessionStore(old_key).load() == {}
    assert not Session.objects.filter(principal="7").exists()


def test_cycle_key_of_a_session_rotated_elsewhere_does_not_copy_it():
    session = saved_session(_auth_user_id="7")
    other = reloaded(session)
    other.cycle_key()  # a login in another tab

    session.cycle_key()

    assert session.session_key not in (None, other.session_key)
    assert dict(session.items()) == {}
    assert Session.objects.filter(principal="7").count() == 1
    assert reloaded(other).load() == {"_auth_user_id": "7"}


def test_cycle_key_then_save_of_an_ended_session_saves_only_what_follows(SessionStore):
    session = saved_session(_auth_user_id="7", cart=["tea"])
    SessionStore(session.session_key).delete()

    session.cycle_key()
    session["_auth_user_id"] = "8"  # what login() does after rotating
    session.save()

    assert reloaded(session).load() == {"_auth_user_id": "8"}


def test_save_of_a_never_read_store_whose_session_ended_starts_afresh(SessionStore):
    key = saved_session(a=1).session_key
    session = SessionStore(key)
    SessionStore(key).delete()

    session.save()

    assert session.session_key not in (None, key)
    assert reloaded(session).load() == {}
    assert SessionStore(key).load() == {}


def test_load_without_a_key_is_empty(store):
    assert store.load() == {}
    assert store.session_key is None
    assert Session.objects.count() == 0


def test_session_key_is_read_only(store):
    with pytest.raises(AttributeError):
        store.session_key = "abcdefgh"


@pytest.mark.parametrize("key", ["", "1234567", None])
def test_short_or_empty_keys_are_invalid(key, SessionStore):
    session = SessionStore(key)
    assert session.session_key is None


def test_valid_key_is_kept(SessionStore):
    session = SessionStore("12345678")
    assert session.session_key == "12345678"


def test_unknown_key_loads_empty_and_creates_nothing(SessionStore):
    session = SessionStore("someunknownkey")
    assert session.load() == {}
    assert session.session_key is None
    assert Session.objects.count() == 0


def test_save_of_unknown_key_issues_a_new_key(SessionStore):
    session = SessionStore("someunknownkey")
    session["a"] = 1
    session.save()
    assert session.session_key not in (None, "someunknownkey")
    assert reloaded(session).load() == {"a": 1}


def test_save_does_not_resurrect_a_session_deleted_elsewhere(SessionStore):
    session = saved_session(data="value1")
    SessionStore(session.session_key).delete()
    session["data"] = "value2"
    with pytest.raises(UpdateError):
        session.save()
    assert session.load() == {}
    assert Session.objects.count() == 0


def test_clear_then_save_of_an_expired_key_issues_a_new_key(SessionStore):
    expired = SessionStore()
    expired["a"] = 1
    expired.set_expiry(-timedelta(seconds=10))
    expired.save()
    old_key = expired.session_key

    session = SessionStore(old_key)
    session.clear()  # before any read: the engine never loaded the expired row
    session["b"] = 2
    session.save()

    assert session.session_key not in (None, old_key)
    assert reloaded(session).load() == {"b": 2}
    assert not Session.objects.filter(key_hash=hash_key(old_key)).exists()
    assert Session.objects.count() == 1


def test_clear_then_save_of_a_key_with_no_session_raises_update_error(SessionStore):
    session = SessionStore("someunknownkey")
    session.clear()
    session["b"] = 2
    with pytest.raises(UpdateError):
        session.save()
    assert Session.objects.count() == 0


def test_clear_then_save_without_loading_removes_every_attribute(SessionStore):
    key = saved_session(a=1, b=2).session_key
    session = SessionStore(key)
    session.clear()
    session["c"] = 3
    session.save()
    assert SessionStore(key).load() == {"c": 3}


# Expiry -------------------------------------------------------------------------------


def test_default_expiry(store):
    age = store.get_session_cookie_age()
    assert store.get_expiry_age() == age
    store.set_expiry(0)
    assert store.get_expiry_age() == age


def test_custom_expiry_seconds(store):
    modification = timezone.now()
    store.set_expiry(10)
    assert store.get_expiry_date(modification=modification) == modification + timedelta(seconds=10)
    assert store.get_expiry_age() == 10


def test_custom_expiry_timedelta_and_datetime(store):
    modification = timezone.now()
    store.set_expiry(timedelta(seconds=10))
    assert abs(store.get_expiry_age(modification=modification) - 10) <= 1
    moment = modification + timedelta(seconds=20)
    store.set_expiry(moment)
    assert store.get_expiry_date() == moment
    assert store.get_expiry_age(modification=modification) == 20


def test_custom_expiry_reset(store):
    store.set_expiry(None)
    store.set_expiry(10)
    store.set_expiry(None)
    assert store.get_expiry_age() == store.get_session_cookie_age()


def test_expire_at_browser_close(store):
    with override_settings(SESSION_EXPIRE_AT_BROWSER_CLOSE=False):
        store.set_expiry(10)
        assert store.get_expire_at_browser_close() is False
        store.set_expiry(0)
        assert store.get_expire_at_browser_close() is True
        store.set_expiry(None)
        assert store.get_expire_at_browser_close() is False
    with override_settings(SESSION_EXPIRE_AT_BROWSER_CLOSE=True):
        store.set_expiry(10)
        assert store.get_expire_at_browser_close() is False
        store.set_expiry(None)
        assert store.get_expire_at_browser_close() is True


def test_expiry_is_stored_on_the_row():
    session = saved_session(a=1)
    stored = row(session)
    assert abs((stored.expires_at - session.get_expiry_date()).total_seconds()) < 5
    session.set_expiry(60)
    session.save()
    assert abs((row(session).expires_at - timezone.now()).total_seconds() - 60) < 5


@override_settings(SESSION_COOKIE_AGE=3600)
def test_cookie_age_setting_drives_expiry():
    session = saved_session(a=1)
    assert abs((row(session).expires_at - timezone.now()).total_seconds() - 3600) < 5


def test_expired_session_loads_empty(SessionStore):
    session = SessionStore()
    session["foo"] = "bar"
    session.set_expiry(-timedelta(seconds=10))
    session.save()
    fresh = reloaded(session)
    assert "foo" not in fresh
    assert fresh.session_key is None


def test_clear_expired_removes_only_expired_sessions(SessionStore):
    live = saved_session(a=1)
    expired = SessionStore()
    expired["b"] = 2
    expired.set_expiry(-timedelta(seconds=10))
    expired.save()
    SessionStore.clear_expired()
    assert Session.objects.filter(key_hash=hash_key(live.session_key)).exists()
    assert not Session.objects.filter(key_hash=hash_key(expired.session_key)).exists()
    assert reloaded(live).load() == {"a": 1}
