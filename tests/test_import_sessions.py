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

from dbsessions.backends.db import SessionStore as OurStore
from dbsessions.keys import hash_key
from dbsessions.models import Attribute, Session

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
        "Imported 3 sessions (5 attributes); skipped 1 expired, 0 already imported and "
        "1 undecodable."
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
        "Imported 0 sessions (0 attributes); skipped 1 expired, 3 already imported and "
        "1 undecodable."
    )
    assert OurStore(cart)["visits"] == 4


def test_dry_run_writes_nothing(django_sessions):
    django_session(a=1, b=2)
    django_session(c=3)
    output = run("--dry-run")
    assert output.splitlines()[-1] == (
        "Would import 2 sessions (3 attributes); skipped 0 expired, 0 already imported and "
        "0 undecodable."
    )
    assert Session.objects.count() == 0 and Attribute.objects.count() == 0


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
