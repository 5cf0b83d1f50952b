"""``manage.py session_stats`` and the tally of ended sessions behind its last hour."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connections, transaction
from django.utils import timezone

from dbsessions import api
from dbsessions.backends.db import SessionStore
from dbsessions.conf import app_settings
from dbsessions.keys import hash_key
from dbsessions.models import Attribute, EndedSessions
from dbsessions.purge import purge_expired
from dbsessions.stats import REASONS
from dbsessions.tally import TALLY_HOURS
from tests.utils import SERVER_VENDORS, override_dbsessions, run_threads, session_rows

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def stats(*args: str) -> dict:
    out = StringIO()
    call_command("session_stats", "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def table(*args: str) -> str:
    out = StringIO()
    call_command("session_stats", *args, stdout=out)
    return out.getvalue()


def by_app(document: dict) -> dict[str, dict]:
    return {app["app_name"]: app for app in document["apps"]}


def session_of(app_name: str, user=None, **data) -> SessionStore:
    with override_dbsessions(APP_NAME=app_name):
        store = SessionStore()
        if user is not None:
            store["_auth_user_id"] = str(user.pk)
        store.update(data)
        store.save()
    return store


def row_of(key: str):
    return session_rows().filter(key_hash=hash_key(key))


def expire(store: SessionStore, ago: timedelta = timedelta(minutes=5)) -> None:
    row_of(store.session_key).update(expires_at=timezone.now() - ago)


def stored_bytes(app_name: str) -> int:
    values = Attribute.objects.using(app_settings.DATABASE).filter(session__app_name=app_name)
    return sum(len(bytes(value)) for value in values.values_list("value", flat=True))


def ended(**counts: int) -> dict[str, int]:
    return {reason: counts.get(reason, 0) for reason in REASONS}


def test_counts_each_application_sharing_the_tables(alice, bob):
    session_of("default", alice, cart=["apple"])
    session_of("default", alice, theme="dark")  # the same owner on a second device
    session_of("default", bob)
    session_of("default", note="x" * 500)  # anonymous
    expire(session_of("default", bob, old=True))
    session_of("shop", alice, basket=[1, 2, 3])

    document = stats()

    apps = by_app(document)
    assert set(apps) == {"default", "shop"}
    default, shop = apps["default"], apps["shop"]
    assert (default["live"], default["owners"], default["expired_awaiting_purge"]) == (4, 2, 1)
    assert default["created_last_hour"] == 5
    assert default["bytes"] == stored_bytes("default") > 500
    assert (shop["live"], shop["owners"], shop["bytes"]) == (1, 1, stored_bytes("shop"))
    total = document["total"]
    assert (total["live"], total["expired_awaiting_purge"]) == (5, 1)
    assert total["owners"] == 2  # alice in both applications counts once
    assert total["bytes"] == default["bytes"] + shop["bytes"]
    assert document["database"] == app_settings.DATABASE


def test_ended_sessions_are_counted_by_reason_and_application(alice, bob):
    session_of("default", note="anonymous").delete()  # a logout
    phone = session_of("default", alice)
    laptop = session_of("default", alice)
    api.end_other_sessions(alice, laptop.session_key)  # ends the phone
    with override_dbsessions(APP_NAME="shop"):
        shop = session_of("shop", bob)
        shop.flush()  # Django's logout()
    idle = [session_of("default") for _ in range(3)]
    for store in idle:
        expire(store)
    purge_expired(app_settings.DATABASE, None)

    apps = by_app(stats())

    assert apps["default"]["ended_last_hour"] == ended(logout=1, end=1, idle=3)
    assert apps["shop"]["ended_last_hour"] == ended(logout=1)
    assert stats("--app", "shop")["total"]["ended_last_hour"] == ended(logout=1)
    assert not row_of(phone.session_key).exists()


def test_a_password_change_and_an_absolute_deadline_are_their_own_reasons(alice):
    with override_dbsessions(END_OTHER_SESSIONS_ON_PASSWORD_CHANGE=True, ABSOLUTE_TIMEOUT=3600):
        session_of("default", alice)
        session_of("default", alice)
        alice.set_password("another-horse-battery")
        alice.save()
        capped = session_of("default")
        row = row_of(capped.session_key)
        created = timezone.now() - timedelta(hours=2)
        row.update(created_at=created, expires_at=created + timedelta(hours=1))
        purge_expired(app_settings.DATABASE, "default")

    assert stats()["total"]["ended_last_hour"] == ended(password_change=2, absolute=1)


def test_an_end_that_rolls_back_counts_nothing():
    store = session_of("default", cart=["apple"])
    key = store.session_key
    with pytest.raises(RuntimeError), transaction.atomic(using=app_settings.DATABASE):
        store.delete()
        raise RuntimeError("the request failed after its logout")

    assert stats()["total"]["ended_last_hour"] == ended()
    assert row_of(key).exists()


@pytest.mark.parametrize("vendor", SERVER_VENDORS)
def test_racing_ends_of_the_same_sessions_count_each_session_once(vendor, alice):
    """Logouts and ``dbsessions.api`` ends of the same sessions, on their own connections:
    only the end that deleted a session counts it."""
    keys = [session_of("default", alice, device=i).session_key for i in range(3)]

    def end(index: int) -> None:
        if index % 2:
            api.end_all_sessions(alice)
        else:
            SessionStore(keys[index // 2 % len(keys)]).delete()

    assert run_threads(end, 8) == []

    assert not session_rows().exists()
    total = stats()["total"]["ended_last_hour"]
    assert sum(total.values()) == len(keys)
    assert total["logout"] + total["end"] == len(keys)


def test_the_tally_counts_the_last_hour_and_purges_keep_a_day_of_it():
    now = timezone.now()
    tallies = EndedSessions.objects.using(app_settings.DATABASE)
    for ago, count in ((timedelta(minutes=59), 1), (timedelta(minutes=61), 10)):
        tallies.create(app_name="default", ended_at=now - ago, reason="logout", sessions=count)
    tallies.create(
        app_name="default",
        ended_at=now - timedelta(hours=TALLY_HOURS, minutes=1),
        reason="logout",
        sessions=100,
    )

    assert stats()["total"]["ended_last_hour"] == ended(logout=1)
    purge_expired(app_settings.DATABASE, None)
    assert sorted(tallies.values_list("sessions", flat=True)) == [1, 10]


def test_the_table_lists_each_application_then_the_total(alice):
    session_of("default", alice, cart=["apple"]).delete()
    session_of("default", alice, cart=["pear"])
    session_of("shop-é", alice)

    lines = table().splitlines()

    assert lines[0] == f"Sessions on database {app_settings.DATABASE!r}"
    assert lines[1].split() == ["app", "live", "owners", "created", "1h", "ended", "1h"] + [
        "expired",
        "bytes",
    ]
    assert lines[2].split()[:5] == ["default", "1", "1", "1", "1"]  # the ended one is gone
    assert lines[3].split()[:3] == ["shop-é", "1", "1"]
    assert lines[4].split()[:4] == ["total", "2", "1", "2"]
    assert lines[5] == "Ended in the last hour: 1 logout."


def test_one_application_has_no_total_line_and_an_unknown_one_says_so():
    session_of("shop")
    assert [line.split()[0] for line in table("--app", "shop").splitlines()[2:]] == ["shop"]
    assert table("--app", "nowhere") == f"No sessions on database {app_settings.DATABASE!r}.\n"
    assert stats("--app", "nowhere")["apps"] == []


@pytest.mark.django_db(databases="__all__")
def test_works_inside_a_callers_transaction():
    """As in a ``TestCase``: the figures include the transaction's own uncommitted sessions."""
    with transaction.atomic(using=app_settings.DATABASE):
        session_of("default").delete()
        session_of("default")
        document = stats()
    assert document["total"]["live"] == 1
    assert document["total"]["ended_last_hour"] == ended(logout=1)


def test_missing_tables_are_a_clear_error():
    connection = connections[app_settings.DATABASE]
    if not connection.features.can_rollback_ddl:
        pytest.skip("the table is dropped inside a transaction that rolls back")
    with transaction.atomic(using=app_settings.DATABASE):
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE dbsessions_ended")
        with pytest.raises(CommandError, match="are the dbsessions migrations applied"):
            stats()
        transaction.set_rollback(True, using=app_settings.DATABASE)
    assert EndedSessions.objects.using(app_settings.DATABASE).count() == 0


def test_no_session_key_or_hash_appears_in_the_output(alice):
    store = session_of("default", alice, cart=["apple"])
    key_hash = row_of(store.session_key).get().key_hash
    output = table() + json.dumps(stats())
    assert store.session_key not in output
    assert key_hash not in output
