"""The async half of the SessionBase contract (Django 5's ``a*`` methods).

Each test body is a coroutine run with ``async_to_sync``; the engine's ``sync_to_async`` calls
come back to the test's thread, so they share its database connection and transaction. Each
test runs for ``db``, ``cached_db`` (committing) and ``cached_db-atomic`` (inside one
transaction that never commits).
"""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.contrib.sessions.backends.base import CreateError, UpdateError

from tests.utils import ENGINES_AND_CACHED_IN_ATOMIC

pytestmark = [
    pytest.mark.django_db(databases="__all__"),
    pytest.mark.parametrize("session_engine", ENGINES_AND_CACHED_IN_ATOMIC, indirect=True),
]


def run(coroutine_function):
    return async_to_sync(coroutine_function)()


def test_aset_asave_aload_round_trip(SessionStore):
    async def body():
        session = SessionStore()
        await session.aset("cat", "meow")
        await session.aupdate({"dog": "woof"})
        await session.asave()
        loaded = await SessionStore(session.session_key).aload()
        return session, loaded

    session, loaded = run(body)
    assert loaded == {"cat": "meow", "dog": "woof"}
    assert session.modified is True


def test_async_mapping_methods(SessionStore):
    async def body():
        session = SessionStore()
        await session.aset("a", 1)
        assert await session.aget("a") == 1
        assert await session.aget("b", 2) == 2
        assert await session.ahas_key("a")
        assert list(await session.akeys()) == ["a"]
        assert list(await session.avalues()) == [1]
        assert list(await session.aitems()) == [("a", 1)]
        assert await session.asetdefault("a", 9) == 1
        assert await session.apop("a") == 1
        assert await session.apop("a", "gone") == "gone"

    run(body)


def test_acreate_aexists_adelete(SessionStore):
    async def body():
        session = SessionStore()
        await session.acreate()
        key = session.session_key
        created = await session.aexists(key)
        await session.adelete()
        return created, await session.aexists(key)

    assert run(body) == (True, False)


def test_asave_must_create_on_existing_key_raises(SessionStore):
    async def body():
        session = SessionStore()
        await session.aset("a", 1)
        await session.asave()
        other = SessionStore(session.session_key)
        await other.aset("b", 2)
        await other.asave(must_create=True)

    with pytest.raises(CreateError):
        run(body)


def test_acycle_key_keeps_data_and_retires_old_key(SessionStore):
    async def body():
        session = SessionStore()
        await session.aset("a", 1)
        await session.asave()
        old_key = session.session_key
        await session.acycle_key()
        return (
            old_key,
            session.session_key,
            await SessionStore(old_key).aload(),
            await SessionStore(session.session_key).aload(),
        )

    old_key, new_key, old_data, new_data = run(body)
    assert new_key != old_key
    assert old_data == {}
    assert new_data == {"a": 1}


def test_aflush(SessionStore):
    async def body():
        session = SessionStore()
        await session.aset("a", 1)
        await session.asave()
        key = session.session_key
        await session.aflush()
        return key, session.session_key, await session.aexists(key)

    key, new_key, still_there = run(body)
    assert new_key is None
    assert still_there is False


def test_asave_does_not_resurrect_a_deleted_session(SessionStore):
    async def body():
        session = SessionStore()
        await session.aset("data", "value1")
        await session.asave(must_create=True)
        await SessionStore(session.session_key).adelete()
        await session.aset("data", "value2")
        await session.asave()

    with pytest.raises(UpdateError):
        run(body)


def test_async_expiry(SessionStore):
    async def body():
        session = SessionStore()
        await session.aset_expiry(10)
        age = await session.aget_expiry_age()
        await session.aset_expiry(0)
        at_close = await session.aget_expire_at_browser_close()
        await session.aset_expiry(None)
        default_age = await session.aget_expiry_age()
        await session.aset_expiry(timedelta(seconds=30))
        date = await session.aget_expiry_date()
        return age, at_close, default_age, date, session.get_session_cookie_age()

    age, at_close, default_age, date, cookie_age = run(body)
    assert age == 10
    assert at_close is True
    assert default_age == cookie_age
    assert date is not None


def test_aclear_expired(SessionStore):
    async def body():
        expired = SessionStore()
        await expired.aset("a", 1)
        await expired.aset_expiry(-timedelta(seconds=5))
        await expired.asave()
        await SessionStore.aclear_expired()
        return await expired.aexists(expired.session_key)

    assert run(body) is False
