"""The Sessions admin: list, detail, search, filters, actions, user page, dashboard."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from dbsessions.admin import SessionAdmin
from dbsessions.backends.db import SessionStore
from dbsessions.conf import app_settings
from dbsessions.keys import hash_key
from dbsessions.models import Attribute, Session
from tests.utils import override_dbsessions, saved_session, session_rows

pytestmark = pytest.mark.django_db(databases="__all__")

CHANGELIST = "admin:dbsessions_session_changelist"


def staff(django_user_model, name: str, *codenames: str):
    user = django_user_model.objects.create_user(name, email=f"{name}@example.com", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="dbsessions", codename__in=codenames)
    )
    return user


def client_for(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", email="alice@wonderland.example")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", email="bob@builder.example")


@pytest.fixture
def viewer(django_user_model):
    return staff(django_user_model, "viewer", "view_session")


@pytest.fixture
def operator(django_user_model):
    return staff(django_user_model, "operator", "view_session", "delete_session")


@pytest.fixture
def auditor(django_user_model):
    return staff(django_user_model, "auditor", "view_session", "view_session_data")


def changelist_ids(response) -> list[int]:
    return [s.pk for s in response.context["cl"].result_list]


# The list ----------------------------------------------------------------------------------


def test_changelist_shows_owner_counts_sizes_and_no_key(admin_client, alice):
    store = saved_session(alice, greeting="hello", cart={"tea": 1})
    anonymous = saved_session(visits=2)
    row = session_rows().get(pk=store._row_id)

    response = admin_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    html = response.content.decode()
    alice_url = reverse("admin:auth_user_change", args=[alice.pk])
    assert f'<a href="{alice_url}">alice</a>' in html
    by_id = {s.pk: s for s in response.context["cl"].result_list}
    # _auth_user_id "N", greeting "hello" (7 bytes of JSON), cart {"tea":1} (9 bytes).
    assert by_id[store._row_id].attribute_count == 3
    assert by_id[store._row_id].value_bytes == len(f'"{alice.pk}"') + 7 + 9
    assert by_id[anonymous._row_id].attribute_count == 1
    assert f"#{store._row_id}" in html
    for secret in (store.session_key, anonymous.session_key, row.key_hash, row.key_hash[:12]):
        assert secret not in html


def test_changelist_sorts_by_attribute_count(admin_client):
    small = saved_session(a=1)
    large = saved_session(a=1, b=2, c=3, d=4, e=5)

    # Column 8 counting the action checkbox; the admin's own session holds 3 attributes.
    response = admin_client.get(reverse(CHANGELIST), {"o": "-8"})

    results = response.context["cl"].result_list
    assert [s.attribute_count for s in results] == [5, 3, 1]
    assert [results[0].pk, results[2].pk] == [large._row_id, small._row_id]
    ascending = admin_client.get(reverse(CHANGELIST), {"o": "8"}).context["cl"].result_list
    assert [s.attribute_count for s in ascending] == [1, 3, 5]


def captured_queries(client: Client, url: str) -> int:
    aliases = {"default", app_settings.DATABASE}
    contexts = [CaptureQueriesContext(connections[alias]) for alias in aliases]
    for context in contexts:
        context.__enter__()
    try:
        response = client.get(url)
    finally:
        for context in contexts:
            context.__exit__(None, None, None)
    assert response.status_code == 200
    return sum(len(context) for context in contexts), response


def test_changelist_query_count_does_not_grow_with_page_size(
    admin_client, django_user_model, monkeypatch
):
    owners = [django_user_model.objects.create_user(f"user{i}") for i in range(12)]
    for i in range(36):
        saved_session(owners[i % len(owners)], cart={"tea": i}, visits=i)

    monkeypatch.setattr(SessionAdmin, "list_per_page", 3)
    small, response = captured_queries(admin_client, reverse(CHANGELIST))
    assert len(response.context["cl"].result_list) == 3
    monkeypatch.setattr(SessionAdmin, "list_per_page", 30)
    large, response = captured_queries(admin_client, reverse(CHANGELIST))
    assert len(response.context["cl"].result_list) == 30
    assert all(s.owner is not None for s in response.context["cl"].result_list)

    assert small == large


# Search and filters ------------------------------------------------------------------------


def test_search_by_username_and_email(admin_client, alice, bob):
    mine = saved_session(alice)
    saved_session(bob)

    for term in ("ali", "wonderland"):
        response = admin_client.get(reverse(CHANGELIST), {"q": term})
        assert changelist_ids(response) == [mine._row_id]


def test_search_by_pasted_session_key_and_by_id(admin_client):
    wanted = saved_session(visits=1)
    saved_session(visits=2)

    by_key = admin_client.get(
        reverse(CHANGELIST), {"q": f"  {wanted.session_key} ", "status": "active"}
    )
    # A key that matches is swapped for the session's id, so no page ever echoes it.
    assert by_key.status_code == 302
    assert by_key.url == f"{reverse(CHANGELIST)}?q=%23{wanted._row_id}&status=active"
    by_id = admin_client.get(by_key.url)

    assert changelist_ids(by_id) == [wanted._row_id]
    assert wanted.session_key not in by_id.content.decode()


FIND_BY_KEY = "admin:dbsessions_session_find_by_key"


def test_key_form_posts_the_key_and_lists_its_session_by_id(django_user_model, viewer):
    wanted = saved_session(visits=1)
    saved_session(visits=2)
    client = client_for(viewer, enforce_csrf_checks=True)
    page = client.get(reverse(CHANGELIST))
    form = page.content.decode()
    assert f'action="{reverse(FIND_BY_KEY)}"' in form and 'method="post"' in form

    found = client.post(
        reverse(FIND_BY_KEY),
        {"key": f" {wanted.session_key} ", "csrfmiddlewaretoken": page.context["csrf_token"]},
    )

    assert found.status_code == 302
    assert found.url == f"{reverse(CHANGELIST)}?q=%23{wanted._row_id}"
    listed = client.get(found.url)
    assert changelist_ids(listed) == [wanted._row_id]
    assert wanted.session_key not in listed.content.decode()


def test_key_form_with_an_unknown_key_says_so(admin_client):
    saved_session(visits=1)

    response = admin_client.post(reverse(FIND_BY_KEY), {"key": "x" * 32}, follow=True)

    assert response.redirect_chain == [(reverse(CHANGELIST), 302)]
    assert "No session has that key." in [str(m) for m in response.context["messages"]]


def test_key_form_refuses_get_missing_csrf_and_missing_permission(django_user_model, viewer):
    wanted = saved_session(visits=1)
    nobody = staff(django_user_model, "nobody")

    assert (
        client_for(viewer).get(reverse(FIND_BY_KEY), {"key": wanted.session_key}).status_code
        == 405
    )
    no_token = client_for(viewer, enforce_csrf_checks=True)
    assert no_token.post(reverse(FIND_BY_KEY), {"key": wanted.session_key}).status_code == 403
    denied = client_for(nobody).post(reverse(FIND_BY_KEY), {"key": wanted.session_key})
    assert denied.status_code == 403


def test_key_lookups_without_view_permission_answer_alike_and_look_nothing_up(
    django_user_model,
):
    wanted = saved_session(visits=1)
    client = client_for(staff(django_user_model, "nobody"))
    unknown = "k" * 32
    answers = []
    for key in (wanted.session_key, unknown):
        with CaptureQueriesContext(connections[app_settings.DATABASE]) as queries:
            searched = client.get(reverse(CHANGELIST), {"q": key})
            posted = client.post(reverse(FIND_BY_KEY), {"key": key})
        answers.append([(r.status_code, r.content) for r in (searched, posted)])
        sql = "\n".join(query["sql"] for query in queries)
        assert hash_key(key) not in sql
        assert key not in sql

    assert answers[0] == answers[1]
    assert [status for status, _ in answers[0]] == [403, 403]


def test_key_hashes_cannot_be_filtered_on_through_the_url(viewer):
    store = saved_session(visits=1)
    key_hash = session_rows().get(pk=store._row_id).key_hash
    client = client_for(viewer)

    # Else a prefix filter, one character at a time, reads any session's hash.
    for lookup in ({"key_hash__startswith": key_hash[:1]}, {"key_hash": key_hash}):
        assert client.get(reverse(CHANGELIST), lookup).status_code == 400


def test_search_matching_nothing_lists_nothing(admin_client, alice):
    saved_session(alice)

    response = admin_client.get(reverse(CHANGELIST), {"q": "nobody-by-that-name"})

    assert changelist_ids(response) == []


def test_filters_status_owner_and_app_name(admin_client, alice):
    active = saved_session(alice)
    expired = saved_session()
    session_rows().filter(pk=expired._row_id).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    other = saved_session()
    session_rows().filter(pk=other._row_id).update(app_name="shop")

    mine = {active._row_id, expired._row_id, other._row_id}

    def ids(**params):
        # The admin's own login session is listed too; only ours matter here.
        return mine & set(changelist_ids(admin_client.get(reverse(CHANGELIST), params)))

    assert ids(status="active") == {active._row_id, other._row_id}
    assert ids(status="expired") == {expired._row_id}
    assert ids(has_owner="yes") == {active._row_id}
    assert ids(has_owner="no") == {expired._row_id, other._row_id}
    assert ids(app_name="shop") == {other._row_id}


# Detail page ------------------------------------------------------------------------------


def test_detail_without_data_permission_shows_names_and_sizes_only(viewer, alice):
    store = saved_session(alice, cart={"secret_item_value": 1})
    client = client_for(viewer)

    response = client.get(reverse("admin:dbsessions_session_change", args=[store._row_id]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "<code>cart</code>" in html
    size = len(b'{"secret_item_value":1}')  # the JSON serializer's bytes
    assert f"<td>{size}</td>" in html
    assert "secret_item_value" not in html
    assert "Can view decoded session data" in html


def test_detail_with_data_permission_decodes_and_redacts(auditor, alice):
    store = saved_session(
        alice,
        cart={"tea": 2},
        api_token="tok-123",
        old_PASSWORD_hint="pw-456",
        client_secret="sec-789",
    )
    store["_auth_user_hash"] = "hash-abc"
    store.save()
    row = session_rows().get(pk=store._row_id)
    client = client_for(auditor)

    response = client.get(reverse("admin:dbsessions_session_change", args=[store._row_id]))

    html = response.content.decode()
    assert "{&#x27;tea&#x27;: 2}" in html
    for hidden in ("tok-123", "pw-456", "sec-789", "hash-abc"):
        assert hidden not in html
    assert html.count("(redacted)") == 4
    for secret in (store.session_key, row.key_hash, row.key_hash[:12]):
        assert secret not in html


def test_redaction_list_is_configurable(auditor, alice, settings):
    settings.DBSESSIONS = {**getattr(settings, "DBSESSIONS", {}), "REDACT_NAMES": ["cart"]}
    store = saved_session(alice, cart={"tea": 2}, api_token="tok-123")

    html = (
        client_for(auditor)
        .get(reverse("admin:dbsessions_session_change", args=[store._row_id]))
        .content.decode()
    )

    assert "tok-123" in html
    assert "{&#x27;tea&#x27;: 2}" not in html
    assert html.count("(redacted)") == 1


def test_no_add_and_no_change(admin_client):
    store = saved_session(visits=1)

    assert admin_client.get(reverse("admin:dbsessions_session_add")).status_code == 403
    response = admin_client.post(
        reverse("admin:dbsessions_session_change", args=[store._row_id]), {"app_name": "x"}
    )
    assert response.status_code == 403
    assert session_rows().get(pk=store._row_id).app_name == app_settings.APP_NAME


# Actions ----------------------------------------------------------------------------------


def run_action(client: Client, action: str, ids: list[int], confirm: bool):
    data = {"action": action, "_selected_action": [str(i) for i in ids]}
    if confirm:
        data["confirm"] = "yes"
    else:
        data["index"] = "0"
    return client.post(reverse(CHANGELIST), data)


def test_end_selected_asks_first_then_ends_and_logs(operator, alice):
    first, second, kept = saved_session(alice, a=1), saved_session(b=2), saved_session(c=3)
    client = client_for(operator)
    ids = [first._row_id, second._row_id]

    page = run_action(client, "end_selected_sessions", ids, confirm=False)

    assert page.status_code == 200
    assert "Yes, end 2 sessions" in page.content.decode()
    assert session_rows().filter(pk__in=ids).count() == 2

    done = run_action(client, "end_selected_sessions", ids, confirm=True)

    assert done.status_code == 302
    assert not session_rows().filter(pk__in=ids).exists()
    assert not Attribute.objects.using(app_settings.DATABASE).filter(session_id__in=ids).exists()
    assert session_rows().filter(pk=kept._row_id).exists()
    entries = LogEntry.objects.filter(action_flag=DELETION).order_by("object_id")
    assert sorted(int(e.object_id) for e in entries) == sorted(ids)
    content_type = ContentType.objects.get_for_model(Session)
    assert {e.content_type_id for e in entries} == {content_type.pk}
    assert {e.user_id for e in entries} == {operator.pk}
    for entry in entries:
        assert entry.object_repr == f"session {entry.object_id}"
        assert first.session_key not in entry.object_repr
    assert SessionStore(first.session_key).load() == {}


def test_end_owner_sessions_ends_unselected_sessions_of_those_owners(operator, alice, bob):
    selected = saved_session(alice)
    also_alice = saved_session(alice)
    bobs = saved_session(bob)
    client = client_for(operator)

    page = run_action(client, "end_owner_sessions", [selected._row_id], confirm=False)
    assert "alice" in page.content.decode()
    assert "Yes, end 2 sessions" in page.content.decode()

    run_action(client, "end_owner_sessions", [selected._row_id], confirm=True)

    assert not session_rows().filter(pk__in=[selected._row_id, also_alice._row_id]).exists()
    assert session_rows().filter(pk=bobs._row_id).exists()
    assert LogEntry.objects.filter(action_flag=DELETION).count() == 2


def saved_in_app(app_name: str, user=None, **data):
    """A session of another project sharing the table, as its own engine would save it."""
    with override_dbsessions(APP_NAME=app_name):
        return saved_session(user, **data)


def test_end_owner_sessions_leaves_other_apps_sessions_alone(operator, alice):
    mine = saved_session(alice)
    # Another project's user who happens to have alice's pk.
    theirs = saved_in_app("shop", alice)
    client = client_for(operator)

    page = run_action(client, "end_owner_sessions", [mine._row_id], confirm=False)
    html = page.content.decode()
    assert "Yes, end 1 session" in html
    assert f"#{mine._row_id} (app {app_settings.APP_NAME}, owner alice)" in html
    assert f"#{theirs._row_id}" not in html

    run_action(client, "end_owner_sessions", [mine._row_id], confirm=True)

    assert not session_rows().filter(pk=mine._row_id).exists()
    assert session_rows().filter(pk=theirs._row_id).exists()


def test_end_owner_sessions_of_another_apps_session_ends_nothing(operator, alice):
    mine = saved_session(alice)
    theirs = saved_in_app("shop", alice)
    client = client_for(operator)

    page = run_action(client, "end_owner_sessions", [theirs._row_id], confirm=False)
    assert "its owner is not a user of this site" in page.content.decode()
    assert "Yes, end" not in page.content.decode()
    run_action(client, "end_owner_sessions", [theirs._row_id], confirm=True)

    assert session_rows().filter(pk__in=[mine._row_id, theirs._row_id]).count() == 2


def test_other_apps_owners_are_not_shown_or_found_as_this_sites_users(admin_client, alice):
    mine = saved_session(alice)
    theirs = saved_in_app("shop", alice)

    listed = admin_client.get(reverse(CHANGELIST))
    owners = {s.pk: s.owner for s in listed.context["cl"].result_list}
    assert owners[mine._row_id] == alice
    assert owners[theirs._row_id] is None
    assert f"user {alice.pk} of shop" in listed.content.decode()
    detail = admin_client.get(reverse("admin:dbsessions_session_change", args=[theirs._row_id]))
    alice_url = reverse("admin:auth_user_change", args=[alice.pk])
    assert alice_url not in detail.content.decode()
    assert changelist_ids(admin_client.get(reverse(CHANGELIST), {"q": "alice"})) == [mine._row_id]


def test_actions_need_the_delete_permission(viewer):
    store = saved_session(a=1)
    client = client_for(viewer)

    response = client.get(reverse(CHANGELIST))
    assert "end_selected_sessions" not in response.content.decode()
    run_action(client, "end_selected_sessions", [store._row_id], confirm=True)

    assert session_rows().filter(pk=store._row_id).exists()
    assert not LogEntry.objects.exists()


def test_actions_need_a_csrf_token(operator):
    store = saved_session(a=1)
    client = client_for(operator, enforce_csrf_checks=True)

    response = run_action(client, "end_selected_sessions", [store._row_id], confirm=True)

    assert response.status_code == 403
    assert session_rows().filter(pk=store._row_id).exists()


def test_delete_selected_is_not_offered(admin_client):
    saved_session(a=1)
    html = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "delete_selected" not in html
    assert "End selected sessions" in html
    assert "End all sessions of these owners" in html


# The user's page --------------------------------------------------------------------------


def test_user_page_shows_active_sessions_with_link_and_button(admin_client, alice):
    saved_session(alice)
    saved_session(alice)
    expired = saved_session(alice)
    session_rows().filter(pk=expired._row_id).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )

    response = admin_client.get(reverse("admin:auth_user_change", args=[alice.pk]))

    html = response.content.decode()
    assert "2 active sessions" in html
    list_url = (
        f"{reverse(CHANGELIST)}?status=active&amp;app_name={app_settings.APP_NAME}"
        f"&amp;principal={alice.pk}"
    )
    assert list_url in html
    end_url = reverse("admin:dbsessions_session_end_user_sessions", args=[str(alice.pk)])
    assert f'action="{end_url}"' in html
    listed = admin_client.get(list_url.replace("&amp;", "&"))
    assert len(changelist_ids(listed)) == 2


def test_end_user_sessions_view_ends_them_and_returns(operator, alice, bob):
    saved_session(alice)
    saved_session(alice)
    bobs = saved_session(bob)
    client = client_for(operator)
    back = reverse("admin:auth_user_change", args=[alice.pk])
    url = reverse("admin:dbsessions_session_end_user_sessions", args=[str(alice.pk)])

    assert client.get(url).status_code == 405
    response = client.post(url, {"next": back})

    assert response.status_code == 302
    assert response.url == back
    assert not session_rows().filter(principal=str(alice.pk)).exists()
    assert session_rows().filter(pk=bobs._row_id).exists()
    assert LogEntry.objects.filter(action_flag=DELETION).count() == 2


def test_user_page_counts_lists_and_ends_only_this_apps_sessions(admin_client, alice):
    mine = saved_session(alice)
    theirs = saved_in_app("shop", alice)

    page = admin_client.get(reverse("admin:auth_user_change", args=[alice.pk]))
    html = page.content.decode()
    assert f"1 active session in app {app_settings.APP_NAME}" in html
    listed = admin_client.get(page.context["dbsessions_user_sessions"]["list_url"])
    assert changelist_ids(listed) == [mine._row_id]
    url = reverse("admin:dbsessions_session_end_user_sessions", args=[str(alice.pk)])
    admin_client.post(url)

    assert not session_rows().filter(pk=mine._row_id).exists()
    assert session_rows().filter(pk=theirs._row_id).exists()


def test_end_user_sessions_view_refuses_foreign_next_url(operator, alice):
    saved_session(alice)
    url = reverse("admin:dbsessions_session_end_user_sessions", args=[str(alice.pk)])

    response = client_for(operator).post(url, {"next": "https://evil.example/"})

    assert response.url == reverse(CHANGELIST)


def test_end_user_sessions_view_needs_delete_permission_and_csrf(viewer, operator, alice):
    store = saved_session(alice)
    url = reverse("admin:dbsessions_session_end_user_sessions", args=[str(alice.pk)])

    assert client_for(viewer).post(url).status_code == 403
    assert client_for(operator, enforce_csrf_checks=True).post(url).status_code == 403
    assert session_rows().filter(pk=store._row_id).exists()


# Dashboard --------------------------------------------------------------------------------


def test_dashboard_figures_and_chart(admin_client, alice, bob):
    now = timezone.now()
    saved_session(alice)
    saved_session(alice)
    saved_session(bob)
    old = saved_session()
    session_rows().filter(pk=old._row_id).update(created_at=now - timedelta(hours=30))
    two_hours_ago = saved_session()
    session_rows().filter(pk=two_hours_ago._row_id).update(created_at=now - timedelta(hours=2))
    expired = saved_session(alice)
    session_rows().filter(pk=expired._row_id).update(expires_at=now - timedelta(minutes=1))

    response = admin_client.get(reverse(CHANGELIST))

    dashboard = response.context["dashboard"]
    # The admin's own login session counts too: it is a live session with an owner.
    assert dashboard.active == 5 + 1
    assert dashboard.owners == 2 + 1
    assert dashboard.created_last_24h == 6 + 1 - 1
    assert dashboard.expired == 1
    assert len(dashboard.bars) == 24
    assert sum(bar.count for bar in dashboard.bars) == 6
    assert dashboard.bars[-1].count >= 4
    assert dashboard.bars[-3].count >= 1
    html = response.content.decode()
    assert html.count("<rect ") == 24
    assert 'id="dbsessions-active"><strong>6</strong>' in html


# Hostile markup ----------------------------------------------------------------------------

HOSTILE = {
    "owner": "<script>owner()</script>",
    "user_agent": '"><script>agent()</script><b x="',
    "name": "<img src=x onerror=name()>",
    "value": "</pre><script>value()</script>",
}


def test_markup_in_session_data_user_agents_and_owners_is_shown_escaped(
    django_user_model, auditor
):
    """Stored XSS: whatever a visitor or a user name puts in a session reaches the admin's
    list, detail and user pages as text."""
    owner = django_user_model.objects.create_user(HOSTILE["owner"])
    store = saved_session(owner, **{HOSTILE["name"]: HOSTILE["value"]})
    session_rows().filter(pk=store._row_id).update(user_agent=HOSTILE["user_agent"])
    client = client_for(auditor)
    auditor.is_superuser = True  # the user change page too
    auditor.save()

    pages = {
        "list": client.get(reverse(CHANGELIST)),
        "detail": client.get(reverse("admin:dbsessions_session_change", args=[store._row_id])),
        "user": client.get(reverse("admin:auth_user_change", args=[owner.pk])),
    }

    for page, response in pages.items():
        assert response.status_code == 200, page
        html = response.content.decode()
        for what, markup in HOSTILE.items():
            assert markup not in html, (page, what)
    assert "&lt;script&gt;owner()&lt;/script&gt;" in pages["list"].content.decode()
    assert "&lt;script&gt;agent()&lt;/script&gt;" in pages["list"].content.decode()
    detail = pages["detail"].content.decode()
    assert "&lt;img src=x onerror=name()&gt;" in detail
    assert "&lt;/pre&gt;&lt;script&gt;value()&lt;/script&gt;" in detail
