"""purge_sessions, clearsessions and SessionStore.clear_expired(): one purge, many doors."""

import re
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.sessions.management.commands.clearsessions import (
    Command as ClearSessions,
)
from django.core.management import CommandError, call_command
from django.db import connections, transaction
from django.utils import timezone

from dbsessions.backends.db import SessionStore
from dbsessions.conf import app_settings
from dbsessions.keys import hash_key
from dbsessions.models import Attribute, Session
from dbsessions.purge import purge_expired, purge_lock
from dbsessions.signals import sessions_purged
from tests.utils import SERVER_VENDORS

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def make_sessions(
    count: int, *, expired: bool, app_name: str = "default", attrs: int = 5, prefix: str = "s"
) -> list[int]:
    now = timezone.now()
    expires = now - timedelta(hours=1) if expired else now + timedelta(hours=1)
    rows = Session.objects.bulk_create(
        Session(
            key_hash=hash_key(f"{prefix}-{app_name}-{expired}-{i}"),
            app_name=app_name,
            created_at=now - timedelta(days=1),
            last_access=now - timedelta(hours=2),
            expires_at=expires,
        )
        for i in range(count)
    )
    ids = list(
        Session.objects.filter(
            key_hash__in=[hash_key(f"{prefix}-{app_name}-{expired}-{i}") for i in range(count)]
        ).values_list("id", flat=True)
    )
    assert len(ids) == len(rows)
    Attribute.objects.bulk_create(
        Attribute(session_id=sid, name=f"k{n}", value=b'"v"') for sid in ids for n in range(attrs)
    )
    return ids


def purge(*args: str) -> str:
    out = StringIO()
    call_command("purge_sessions", *args, stdout=out)
    return out.getvalue()


def test_purges_expired_sessions_with_their_attributes_in_batches():
    make_sessions(25, expired=True)
    live = make_sessions(4, expired=False)
    output = purge("--batch-size", "10")
    assert output.startswith("Purged 25 sessions (125 attributes) in ")
    assert output.endswith(" s.\n")
    assert sorted(Session.objects.values_list("id", flat=True)) == sorted(live)
    assert Attribute.objects.count() == 4 * 5
    assert purge().startswith("Purged 0 sessions (0 attributes) in ")


def test_dry_run_counts_and_deletes_nothing():
    make_sessions(7, expired=True, attrs=3)
    make_sessions(2, expired=False)
    assert purge("--dry-run") == (
        "Would purge 7 expired sessions (21 attributes) of application 'default' on database "
        f"{app_settings.DATABASE!r}.\n"
    )
    assert Session.objects.count() == 9


def test_app_and_all_apps():
    make_sessions(3, expired=True, app_name="default")
    make_sessions(5, expired=True, app_name="shop")
    assert purge("--app", "shop").startswith("Purged 5 sessions (25 attributes)")
    assert list(Session.objects.values_list("app_name", flat=True).distinct()) == ["default"]
    make_sessions(2, expired=True, app_name="blog")
    assert purge("--all-apps").startswith("Purged 5 sessions (25 attributes)")
    assert Session.objects.count() == 0


def test_max_seconds_stops_and_reports_what_remains():
    make_sessions(6, expired=True, attrs=1)
    output = purge("--max-seconds", "0.000001", "--batch-size", "1", "--sleep", "0.01")
    assert output.startswith("Stopped after the 1e-06 s budget: purged ")
    remaining = Session.objects.count()
    assert remaining > 0
    assert output.endswith(f" {remaining:,} expired sessions remain.\n")


def test_bad_options_are_refused():
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        purge("--batch-size", "0")
    with pytest.raises(CommandError, match="--sleep cannot be negative"):
        purge("--sleep", "-1")


def test_clear_expired_uses_the_same_purge_and_sends_the_signal():
    make_sessions(3, expired=True, attrs=2)
    live = make_sessions(1, expired=False)
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    sessions_purged.connect(receiver)
    try:
        SessionStore.clear_expired()
        # django.contrib.sessions is not installed: run its command class directly.
        call_command(ClearSessions())
    finally:
        sessions_purged.disconnect(receiver)
    assert list(Session.objects.values_list("id", flat=True)) == live
    assert [(r["sessions"], r["attributes"], r["complete"]) for r in received] == [
        (3, 6, True),
        (0, 0, True),
    ]
    assert received[0]["using"] == app_settings.DATABASE
    assert received[0]["app_name"] == "default"
    assert received[0]["seconds"] >= 0


def test_database_error_gives_a_clear_message(sessions_connection):
    make_sessions(2, expired=True)
    quote = sessions_connection.ops.quote_name
    with sessions_connection.cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE {quote('dbsessions_attribute')} RENAME TO {quote('attrs_away')}"
        )
    try:
        with pytest.raises(CommandError, match=r"^Purge failed on database '\w+': "):
            purge()
    finally:
        with sessions_connection.cursor() as cursor:
            cursor.execute(
                f"ALTER TABLE {quote('attrs_away')} RENAME TO {quote('dbsessions_attribute')}"
            )
    assert Session.objects.count() == 2


@pytest.mark.concurrency
@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_second_purge_says_another_runs_and_exits_zero(vendor):
    make_sessions(3, expired=True)
    holding, release = threading.Event(), threading.Event()

    def holder():
        try:
            with purge_lock(connections[app_settings.DATABASE]) as acquired:
                assert acquired
                holding.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert holding.wait(30)
        assert re.fullmatch(
            f"Another purge_sessions is running on database {app_settings.DATABASE!r} "
            r"\(its lease runs until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\); "
            "leaving the work to it.\n",
            purge(),
        )
        assert Session.objects.count() == 3
    finally:
        release.set()
        thread.join(30)
    assert purge().startswith("Purged 3 sessions")


@pytest.mark.concurrency
@pytest.mark.one_server
@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_session_being_extended_during_the_purge_survives(vendor):
    """A request holds an expired session's row while extending it; the purge goes past it."""
    make_sessions(20, expired=True, prefix="old")
    (extended,) = make_sessions(1, expired=True, prefix="extended")
    locked, commit = threading.Event(), threading.Event()
    errors = []

    def request():
        try:
            with transaction.atomic(using=app_settings.DATABASE):
                Session.objects.filter(id=extended).update(
                    expires_at=timezone.now() + timedelta(hours=1)
                )
                locked.set()
                commit.wait(30)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=request)
    thread.start()
    try:
        assert locked.wait(30)
        result = purge_expired(app_settings.DATABASE, "default", batch_size=7)
    finally:
        commit.set()
        thread.join(30)
    assert errors == []
    assert result.sessions == 20
    assert list(Session.objects.values_list("id", flat=True)) == [extended]
    assert Attribute.objects.filter(session_id=extended).count() == 5


@pytest.mark.concurrency
@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_live_sessions_saved_concurrently_lose_nothing(vendor):
    make_sessions(600, expired=True, attrs=5)
    keys = []
    for i in range(4):
        store = SessionStore()
        store.update({"n": 0, "owner": i})
        store.save()
        keys.append(store.session_key)
    done = threading.Event()
    errors = []

    def writer(key):
        try:
            n = 0
            while not done.is_set() or n < 3:
                n += 1
                store = SessionStore(key)
                store["n"] = n
                store[f"extra{n % 3}"] = n
                store.save()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    try:
        result = purge_expired(app_settings.DATABASE, "default", batch_size=50)
    finally:
        done.set()
        for thread in threads:
            thread.join(60)
    assert errors == []
    assert result.sessions == 600 and result.attributes == 3000
    for i, key in enumerate(keys):
        store = SessionStore(key)
        assert store["owner"] == i and store["n"] >= 3
        assert {"extra0", "extra1", "extra2"} <= set(store.keys())
