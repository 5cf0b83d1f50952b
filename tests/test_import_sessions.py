"""import_sessions: sessions made by Django's own db engine, then loaded through ours.

``django.contrib.sessions`` is not installed here, so its table comes from a model in a private
app registry, and Django's engine is pointed at that model; its code is otherwise untouched.
"""

from datetime import timedelta
from io import StringIO

import pytest
from django.apps.registry import Apps
from django.contrib.sessions.backends import db as django_db_backend
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from dbsessions import api
from dbsessions.backends.db import SessionStore as OurStore
from dbsessions.keys import hash_key
from dbsessions.models import Attribute, ImportedSession, Session
from tests.utils import session_rows

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

private_apps = Apps()


class DjangoSession(AbstractBaseSession):
    class Meta:
        app_label = "sessions"
        db_table = "django_session"
        apps = private_apps


class SessionStore(django_db_backend.SessionStore):
    """Django's db engine on the private model. Named like Django's class, because the
    signing salt is derived from the class name."""

    @classmethod
    def get_model_class(cls):
        return DjangoSession


@pytest.fixture
def django_sessions():
    connection = connections["default"]
    with connection.schema_editor() as editor:
        editor.create_model(DjangoSession)
    yield
    with connection.schema_editor() as editor:
        editor.delete_model(DjangoSession)


def django_session(**data) -> str:
    store = SessionStore()
    store.update(data)
    store.save()
    return store.session_key


def run(*args: str) -> str:
    out = StringIO()
    call_command("import_sessions", *args, stdout=out)
    return out.getvalue()


def test_imports_live_sessions_with_same_keys_data_and_expiry(django_sessions):
    cart = django_session(cart=["apple", "pear"], visits=3)
    user = django_session(_auth_user_id="42", _auth_user_backend="x.Backend", theme="dark")
    empty = django_session()
    expired = django_session(old=True)
    DjangoSession.objects.filter(session_key=expired).update(
        expire_date=timezone.now() - timedelta(minutes=1)
    )
    DjangoSession.objects.create(
        session_key="f" * 32,
        session_data="not-signed:at-all",
        expire_date=timezone.now() + timedelta(days=1),
    )
    output = run()
    assert output.splitlines()[-1] == (
        "Imported 3 sessions (5 attributes); skipped 1 expired, 0 already imported, "
        "0 ended after an earlier import and 1 undecodable."
    )
    loaded = OurStore(cart)
    assert dict(loaded.items()) == {"cart": ["apple", "pear"], "visits": 3}
    assert OurStore(user)["theme"] == "dark"
    assert OurStore(empty).exists(empty) and dict(OurStore(empty).items()) == {}
    assert not OurStore(expired).exists(expired)
    for key in (cart, user, empty):
        row = Session.objects.get(key_hash=hash_key(key))
        django_row = DjangoSession.objects.get(session_key=key)
        assert row.expires_at == django_row.expire_date
    assert Session.objects.get(key_hash=hash_key(user)).principal == "42"
    # Nothing stores a key in clear.
    assert not Session.objects.filter(key_hash=cart).exists()

    # Idempotent: a second run imports nothing, and a session changed since is kept as it is.
    saved = OurStore(cart)
    saved["visits"] = 4
    saved.save()
    assert run().splitlines()[-1] == (
        "Imported 0 sessions (0 attributes); skipped 1 expired, 3 already imported, "
        "0 ended after an earlier import and 1 undecodable."
    )
    assert OurStore(cart)["visits"] == 4


def test_dry_run_writes_nothing(django_sessions):
    django_session(a=1, b=2)
    django_session(c=3)
    output = run("--dry-run")
    assert output.splitlines()[-1] == (
        "Would import 2 sessions (3 attributes); skipped 0 expired, 0 already imported, "
        "0 ended after an earlier import and 0 undecodable."
    )
    assert Session.objects.count() == 0 and Attribute.objects.count() == 0
    assert not ImportedSession.objects.exists()


def test_many_sessions_go_through_in_chunks_with_progress(django_sessions):
    now = timezone.now()
    keys = [f"key{i:05d}abcdefgh" for i in range(1203)]
    encoded = SessionStore().encode({"n": 1})
    DjangoSession.objects.bulk_create(
        DjangoSession(session_key=k, session_data=encoded, expire_date=now + timedelta(days=1))
        for k in keys
    )
    output = run()
    assert output.splitlines()[:3] == [
        "Read 500 of 1,203 live sessions...",
        "Read 1,000 of 1,203 live sessions...",
        "Read 1,203 of 1,203 live sessions...",
    ]
    assert Session.objects.count() == 1203 and Attribute.objects.count() == 1203
    assert OurStore(keys[-1])["n"] == 1


def end_by_logout(key: str) -> None:
    OurStore(key).delete()


def end_by_api(key: str) -> None:
    api.end_sessions([session_rows().get(key_hash=hash_key(key)).pk])


def end_by_login_rotation(key: str) -> None:
    store = OurStore(key)
    store["_auth_user_id"] = "8"
    store.cycle_key()


def end_by_expiry_and_purge(key: str) -> None:
    session_rows().filter(key_hash=hash_key(key)).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    call_command("purge_sessions", stdout=StringIO())


@pytest.mark.parametrize(
    "end", [end_by_logout, end_by_api, end_by_login_rotation, end_by_expiry_and_purge]
)
def test_a_session_ended_after_its_import_is_never_imported_again(django_sessions, end):
    ended = django_session(_auth_user_id="7", cart=["tea"])
    kept = django_session(visits=1)
    run()
    end(ended)
    assert not OurStore(ended).exists(ended)
    later = django_session(late=True)

    assert run().splitlines()[-1] == (
        "Imported 1 sessions (1 attributes); skipped 0 expired, 1 already imported, "
        "1 ended after an earlier import and 0 undecodable."
    )
    # However often it runs.
    assert run().splitlines()[-1] == (
        "Imported 0 sessions (0 attributes); skipped 0 expired, 2 already imported, "
        "1 ended after an earlier import and 0 undecodable."
    )
    assert not OurStore(ended).exists(ended)
    assert not session_rows().filter(key_hash=hash_key(ended)).exists()
    assert OurStore(kept)["visits"] == 1 and OurStore(later)["late"] is True


def test_the_ledger_keeps_the_latest_expiry_and_forgets_expired_keys(django_sessions):
    key = django_session(cart=["tea"])
    run()
    row = ImportedSession.objects.get(key_hash=hash_key(key))
    # Django's engine, still serving requests before the switch, extends the session: the
    # ledger must keep the key at least as long as django_session may offer it.
    later = timezone.now() + timedelta(days=30)
    DjangoSession.objects.filter(session_key=key).update(expire_date=later)
    run()
    row.refresh_from_db()
    assert row.expires_at == DjangoSession.objects.get(session_key=key).expire_date

    # Sessions imported before the ledger existed are ledgered by the next run.
    ImportedSession.objects.all().delete()
    assert "1 already imported" in run()
    assert ImportedSession.objects.filter(key_hash=hash_key(key)).exists()

    # Past their expiry, ledger rows are dropped: django_session cannot offer those keys.
    past = timezone.now() - timedelta(seconds=1)
    ImportedSession.objects.update(expires_at=past)
    DjangoSession.objects.filter(session_key=key).update(expire_date=past)
    assert "1 expired" in run()
    assert not ImportedSession.objects.exists()
