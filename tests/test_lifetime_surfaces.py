"""Where a session's lifetime shows: its deadlines in the admin and on the "Your sessions" page,
and why sessions ended in ``sessions_ended`` and ``sessions_purged``.

Timestamps are set on the rows through the ORM, so every deadline shown is known exactly.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.admin.utils import display_for_value
from django.contrib.auth.models import Permission
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from dbsessions import api
from dbsessions.admin.actions import end_selected_sessions
from dbsessions.conf import app_settings
from dbsessions.keys import hash_key
from dbsessions.models import Session
from dbsessions.purge import purge_expired
from dbsessions.signals import sessions_ended, sessions_purged
from dbsessions.views import session_token
from tests.utils import PASSWORD, override_dbsessions, saved_session, session_rows

pytestmark = pytest.mark.django_db(databases="__all__")

CHANGELIST = "admin:dbsessions_session_changelist"
PAGE = "/accounts/sessions/"  # where the demo site mounts dbsessions.urls
DAY = 24 * 3600


def change_page(session_id: int) -> str:
    return reverse("admin:dbsessions_session_change", args=[session_id])


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def cookie_row(client: Client) -> Session:
    return session_rows().get(key_hash=hash_key(client.cookies["sessionid"].value))


def set_times(session_id: int, *, created_at, expires_at) -> Session:
    session_rows().filter(pk=session_id).update(created_at=created_at, expires_at=expires_at)
    return session_rows().get(pk=session_id)


def admin_shown(value) -> str:
    """A deadline as the admin shows it, in a list cell or on a session's page."""
    shown = display_for_value(value, "-")
    return f'<time class="nowrap" datetime="{value.isoformat()}">{shown}</time>'


@pytest.fixture
def now():
    # Microseconds included: the deadlines must keep them.
    return timezone.now().replace(microsecond=123456)


@pytest.fixture
def ended():
    """The keyword arguments of every ``sessions_ended`` sent."""
    events: list[dict] = []

    def receiver(sender, signal, **kwargs):
        events.append(kwargs)

    sessions_ended.connect(receiver)
    yield events
    sessions_ended.disconnect(receiver)


@pytest.fixture
def purged():
    """The keyword arguments of every ``sessions_purged`` sent."""
    events: list[dict] = []

    def receiver(sender, signal, **kwargs):
        events.append(kwargs)

    sessions_purged.connect(receiver)
    yield events
    sessions_purged.disconnect(receiver)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run the callbacks of the test's transaction on the sessions database, as a commit would."""

    def capture():
        return django_capture_on_commit_callbacks(using=app_settings.DATABASE, execute=True)

    return capture


@pytest.fixture
def nobody(django_user_model):
    """Staff without any permission on sessions."""
    return django_user_model.objects.create_user("nobody", is_staff=True)


@pytest.fixture
def viewer(django_user_model):
    user = django_user_model.objects.create_user("viewer", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_session"))
    return user


# The admin ---------------------------------------------------------------------------------


def test_admin_shows_the_idle_deadline_and_no_absolute_one_without_the_setting(
    admin_client, alice, now
):
    row = set_times(
        saved_session(alice)._row_id, created_at=now - timedelta(hours=3), expires_at=now
    )

    listing = admin_client.get(reverse(CHANGELIST)).content.decode()
    detail = admin_client.get(change_page(row.pk)).content.decode()

    assert "Ends if unused" in listing and "Ends if unused" in detail
    assert f'<td class="field-ends_if_unused">{admin_shown(now)}</td>' in listing
    assert f'<div class="readonly">{admin_shown(now)}</div>' in detail
    assert "Ends at the latest" not in listing + detail
    assert "field-ends_at_latest" not in listing + detail


@override_dbsessions(ABSOLUTE_TIMEOUT=DAY)
def test_admin_shows_both_deadlines_with_the_setting(admin_client, viewer, alice, now):
    created = now - timedelta(hours=20)
    row = set_times(saved_session(alice)._row_id, created_at=created, expires_at=now)
    latest = created + timedelta(days=1)

    for client in (admin_client, logged_in(viewer)):
        listing = client.get(reverse(CHANGELIST)).content.decode()
        detail = client.get(change_page(row.pk)).content.decode()

        assert "Ends if unused" in listing and "Ends at the latest" in listing
        assert f'<td class="field-ends_if_unused">{admin_shown(now)}</td>' in listing
        assert f'<td class="field-ends_at_latest">{admin_shown(latest)}</td>' in listing
        assert "Ends if unused" in detail and "Ends at the latest" in detail
        assert f'<div class="readonly">{admin_shown(now)}</div>' in detail
        assert f'<div class="readonly">{admin_shown(latest)}</div>' in detail


@override_dbsessions(ABSOLUTE_TIMEOUT=DAY)
def test_admin_idle_deadline_is_the_cap_when_the_expiry_lies_past_it(admin_client, now):
    # A row saved before the setting existed: its expiry lies past the absolute deadline.
    created = now - timedelta(hours=20)
    row = set_times(
        saved_session()._row_id, created_at=created, expires_at=now + timedelta(days=9)
    )

    detail = admin_client.get(change_page(row.pk)).content.decode()

    latest = admin_shown(created + timedelta(days=1))
    assert detail.count(f'<div class="readonly">{latest}</div>') == 2
    assert admin_shown(now + timedelta(days=9)) not in detail


@override_dbsessions(ABSOLUTE_TIMEOUT=DAY)
def test_admin_sorts_by_absolute_deadline(admin_client, now):
    young, old = saved_session(), saved_session()
    set_times(young._row_id, created_at=now - timedelta(hours=1), expires_at=now)
    set_times(old._row_id, created_at=now - timedelta(hours=9), expires_at=now)
    mine = [old._row_id, young._row_id]
    listed = reverse(CHANGELIST)
    # Column 7 counting the action checkbox: id, owner, app, created, last access, ends if
    # unused, ends at the latest.
    ascending = admin_client.get(listed, {"o": "7"}).context["cl"].result_list
    descending = admin_client.get(listed, {"o": "-7"}).context["cl"].result_list

    assert [s.pk for s in ascending if s.pk in mine] == mine
    assert [s.pk for s in descending if s.pk in mine] == mine[::-1]


@override_dbsessions(ABSOLUTE_TIMEOUT=DAY)
def test_admin_shows_no_deadline_to_staff_without_permission(nobody, now):
    row = set_times(saved_session()._row_id, created_at=now - timedelta(hours=1), expires_at=now)
    client = logged_in(nobody)

    for url in (reverse(CHANGELIST), change_page(row.pk)):
        response = client.get(url)
        assert response.status_code == 403
        assert admin_shown(now) not in response.content.decode()


def test_admin_stays_read_only_with_the_deadlines(admin_client, now):
    row = set_times(saved_session()._row_id, created_at=now, expires_at=now + timedelta(hours=1))

    with override_dbsessions(ABSOLUTE_TIMEOUT=DAY):
        response = admin_client.post(change_page(row.pk), {"expires_at": "2999-01-01"})

    assert response.status_code == 403
    assert session_rows().get(pk=row.pk).expires_at == now + timedelta(hours=1)


# The "Your sessions" page ------------------------------------------------------------------


def page_cells(html: str, name: str) -> list[str]:
    """The ``datetime`` attributes of the page's cells of class ``name``, in row order."""
    cells = html.split(f'<td class="{name}">')[1:]
    return [cell.split('datetime="', 1)[1].split('"', 1)[0] for cell in cells]


@pytest.mark.usefixtures("session_engine")
def test_page_says_when_each_session_ends_if_unused(alice, now):
    here, there = logged_in(alice), logged_in(alice)
    soon = now + timedelta(hours=2)
    mine = set_times(cookie_row(here).pk, created_at=now - timedelta(hours=1), expires_at=soon)
    theirs = set_times(
        cookie_row(there).pk, created_at=now - timedelta(days=30), expires_at=now + timedelta(1)
    )

    response = here.get(PAGE)

    html = response.content.decode()
    assert "<th>Ends if unused</th>" in html
    assert page_cells(html, "ends-if-unused") == [
        mine.expires_at.isoformat(),  # this device first
        theirs.expires_at.isoformat(),
    ]
    assert "Ends at the latest" not in html and "ends-at-latest" not in html
    assert [e["ends_at_latest"] for e in response.context["entries"]] == [None, None]


@pytest.mark.usefixtures("session_engine")
def test_page_with_absolute_timeout_gives_the_earlier_deadline_and_the_latest(alice, now):
    here, there = logged_in(alice), logged_in(alice)
    # Here the idle expiry comes first; there the cap does (a row saved before the setting).
    soon = now + timedelta(hours=2)
    mine = set_times(cookie_row(here).pk, created_at=now - timedelta(hours=1), expires_at=soon)
    there_created = now - timedelta(hours=23)
    set_times(cookie_row(there).pk, created_at=there_created, expires_at=now + timedelta(days=2))

    with override_dbsessions(ABSOLUTE_TIMEOUT=DAY):
        html = here.get(PAGE).content.decode()

    there_cap = there_created + timedelta(days=1)
    assert "<th>Ends at the latest</th>" in html
    assert page_cells(html, "ends-if-unused") == [soon.isoformat(), there_cap.isoformat()]
    assert page_cells(html, "ends-at-latest") == [
        (mine.created_at + timedelta(days=1)).isoformat(),
        there_cap.isoformat(),
    ]
    assert f">{soon:%Y-%m-%d %H:%M}</time>" in html


def test_page_lists_no_session_past_its_absolute_deadline(alice, now):
    here, there = logged_in(alice), logged_in(alice)
    set_times(cookie_row(here).pk, created_at=now, expires_at=now + timedelta(hours=1))
    stale = set_times(
        cookie_row(there).pk, created_at=now - timedelta(days=2), expires_at=now + timedelta(1)
    )

    listed = [s.pk for s in api.live_sessions(alice)]
    with override_dbsessions(ABSOLUTE_TIMEOUT=DAY):
        capped = [s.pk for s in api.live_sessions(alice)]
        html = here.get(PAGE).content.decode()

    assert stale.pk in listed
    assert stale.pk not in capped and len(capped) == 1
    assert "You are not logged in anywhere else." in html


def test_page_escapes_what_it_shows(alice, now):
    client = logged_in(alice)
    hostile = '<script>alert("x")</script>'
    session_rows().filter(pk=cookie_row(client).pk).update(user_agent=hostile)

    with override_dbsessions(ABSOLUTE_TIMEOUT=DAY):
        html = client.get(PAGE).content.decode()

    assert hostile not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


# Why sessions ended ------------------------------------------------------------------------


def test_api_ends_give_reason_end_and_keep_source_api(ended, committed, alice):
    phone, laptop, tablet, watch = (saved_session(alice) for _ in range(4))
    current = saved_session(alice)

    with committed():
        assert api.end_user_session(alice, phone._row_id)
        assert api.end_sessions([laptop._row_id]) == [laptop._row_id]
        assert api.end_other_sessions(alice, current.session_key) == 2
        assert api.end_all_sessions(alice) == 1

    assert [(e["session_ids"], e["reason"], e["source"]) for e in ended] == [
        ([phone._row_id], "end", "api"),
        ([laptop._row_id], "end", "api"),
        (sorted([tablet._row_id, watch._row_id]), "end", "api"),
        ([current._row_id], "end", "api"),
    ]


def test_page_ends_give_reason_end(ended, committed, alice):
    client = logged_in(alice)
    other, another = saved_session(alice), saved_session(alice)
    token = session_token(alice, session_rows().get(pk=other._row_id))

    with committed():
        assert client.post(f"{PAGE}end/", {"session": token}).status_code == 302
        assert client.post(f"{PAGE}end-others/").status_code == 302

    assert [(e["session_ids"], e["reason"]) for e in ended] == [
        ([other._row_id], "end"),
        ([another._row_id], "end"),
    ]


def test_admin_ends_give_reason_end(ended, committed, admin_client, alice):
    selected, owned = saved_session(alice), saved_session(alice)
    action = {"action": end_selected_sessions.__name__, "confirm": "yes"}

    with committed():
        admin_client.post(reverse(CHANGELIST), {**action, "_selected_action": [selected._row_id]})
        end_all = reverse("admin:dbsessions_session_end_user_sessions", args=[str(alice.pk)])
        admin_client.post(end_all)

    assert [(e["session_ids"], e["reason"], e["source"]) for e in ended] == [
        ([selected._row_id], "end", "api"),
        ([owned._row_id], "end", "api"),
    ]


@override_dbsessions(END_OTHER_SESSIONS_ON_PASSWORD_CHANGE=True)
def test_password_change_gives_reason_password_change(ended, committed, django_user_model):
    boss = django_user_model.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    here, elsewhere = logged_in(boss), logged_in(boss)
    rows = sorted([cookie_row(here).pk, cookie_row(elsewhere).pk])

    with committed():
        response = here.post(
            reverse("admin:auth_user_password_change", args=[boss.pk]),
            {"password1": "new-horse-battery", "password2": "new-horse-battery"},
        )

    assert response.status_code == 302
    changes = [e for e in ended if e["reason"] == "password_change"]
    assert [(e["session_ids"], e["source"]) for e in changes] == [(rows, "api")]


# Purges by reason --------------------------------------------------------------------------


def expired_rows(now, **kinds: int) -> dict[str, list[int]]:
    """Expired sessions of each kind (with ABSOLUTE_TIMEOUT of a day): ``idle`` expired before
    their cap, ``capped`` at it exactly, ``legacy`` past it; ``live`` have not expired."""
    created = now - timedelta(days=3)
    cap = created + timedelta(days=1)
    expiries = {
        "idle": cap - timedelta(seconds=1),
        "capped": cap,
        "legacy": cap + timedelta(hours=1),
        "live": now + timedelta(hours=1),
    }
    made: dict[str, list[int]] = {}
    for kind, count in kinds.items():
        made[kind] = [saved_session(visits=n)._row_id for n in range(count)]
        session_rows().filter(pk__in=made[kind]).update(
            created_at=created, last_access=created, expires_at=expiries[kind]
        )
    return made


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_purge_counts_idle_and_absolute_expiries(purged, now):
    made = expired_rows(now, idle=3, capped=4, legacy=2, live=2)

    with override_dbsessions(ABSOLUTE_TIMEOUT=DAY):
        result = purge_expired(app_settings.DATABASE, "default", batch_size=4, sleep=0)

    assert (result.sessions, result.absolute) == (9, 6)
    assert [(e["sessions"], e["reasons"]) for e in purged] == [(9, {"idle": 3, "absolute": 6})]
    assert sorted(session_rows().values_list("pk", flat=True)) == sorted(made["live"])


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_purge_without_absolute_timeout_counts_every_expiry_idle(purged, now):
    expired_rows(now, idle=2, capped=2, legacy=1)

    purge_expired(app_settings.DATABASE, "default", sleep=0)

    assert [e["reasons"] for e in purged] == [{"idle": 5, "absolute": 0}]


def purge_statements(now, absolute: int | None) -> list[str]:
    expired_rows(now, idle=5, capped=5, live=1)
    with (
        override_dbsessions(ABSOLUTE_TIMEOUT=absolute),
        CaptureQueriesContext(connections[app_settings.DATABASE]) as queries,
    ):
        result = purge_expired(app_settings.DATABASE, "default", batch_size=4, sleep=0)
    assert result.sessions == 10 and result.batches == 4  # 4 + 4 + 2, then an empty one
    return [query["sql"] for query in queries.captured_queries]


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_telling_reasons_apart_costs_one_read_per_batch_and_none_without_the_setting(now):
    without = purge_statements(now, None)
    with_cap = purge_statements(now, DAY)

    # The three batches that deleted sessions read their rows' timestamps, once each.
    assert len(with_cap) == len(without) + 3
    assert sum("created_at" in sql for sql in with_cap) == 3
    assert not any("created_at" in sql for sql in without)


# With the engine: its ends, its cap and its rotation, through the demo site -----------------


@pytest.mark.usefixtures("session_engine")
def test_logging_out_gives_reason_logout(ended, committed, alice):
    by_view, by_page = logged_in(alice), logged_in(alice)
    rows = [cookie_row(by_view).pk, cookie_row(by_page).pk]
    own = session_token(alice, session_rows().get(pk=rows[1]))

    with committed():
        assert by_view.post(reverse("logout")).status_code == 302
        assert by_page.post(f"{PAGE}end/", {"session": own}).status_code == 302

    assert [(e["session_ids"], e["reason"], e["source"]) for e in ended] == [
        ([rows[0]], "logout", "store"),
        ([rows[1]], "logout", "store"),
    ]


T0 = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> time_machine.travel:
    """Python's clock stopped ``seconds`` after ``T0``."""
    return time_machine.travel(T0 + timedelta(seconds=seconds), tick=False)


@pytest.mark.usefixtures("session_engine")
@override_dbsessions(ABSOLUTE_TIMEOUT=3600)
def test_login_starts_the_lifetime_the_page_shows(alice):
    client = Client()
    with at(0):
        client.get(reverse("home"))
    with at(1000):
        response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
        assert response.status_code == 302
    with at(1500):
        html = client.get(PAGE).content.decode()

    latest = (T0 + timedelta(seconds=1000 + 3600)).isoformat()
    assert page_cells(html, "ends-if-unused") == [latest]  # the cap comes before the idle end
    assert page_cells(html, "ends-at-latest") == [latest]


@pytest.mark.django_db(databases="__all__", transaction=True)
@pytest.mark.usefixtures("session_engine")
@override_dbsessions(ABSOLUTE_TIMEOUT=3600)
def test_purge_tells_the_engines_capped_sessions_from_idle_ones(purged):
    with at(0):
        capped = saved_session(visits=1)  # SESSION_COOKIE_AGE is longer than the timeout
        idle = saved_session(visits=2)
        idle.set_expiry(600)
        idle.save()
    with at(1800):
        capped["visits"] = 3
        capped.save()  # still capped at T0 + 3600
    with at(7200):
        purge_expired(app_settings.DATABASE, "default", sleep=0)

    assert [(e["sessions"], e["reasons"]) for e in purged] == [(2, {"idle": 1, "absolute": 1})]
