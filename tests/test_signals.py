"""session_created and sessions_ended: sent once the change is committed, never for a rollback."""

import pytest
from django.db import transaction

from dbsessions import api
from dbsessions.backends.db import SessionStore
from dbsessions.conf import app_settings
from dbsessions.keys import hash_key
from dbsessions.models import Session
from dbsessions.signals import session_created, sessions_ended
from tests.utils import saved_session

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def received():
    """The (signal name, kwargs) of every session_created / sessions_ended sent."""
    events: list[tuple[str, dict]] = []

    def created(sender, signal, **kwargs):
        events.append(("created", {"sender": sender, **kwargs}))

    def ended(sender, signal, **kwargs):
        events.append(("ended", {"sender": sender, **kwargs}))

    session_created.connect(created)
    sessions_ended.connect(ended)
    yield events
    session_created.disconnect(created)
    sessions_ended.disconnect(ended)


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run the callbacks of the test's own (never committed) transaction, as a commit would."""

    def capture():
        return django_capture_on_commit_callbacks(using=app_settings.DATABASE, execute=True)

    return capture


def test_first_save_reports_the_new_session_once(received, on_commit):
    store = SessionStore()
    store["visits"] = 1
    with on_commit():
        store.save()
    store["visits"] = 2
    with on_commit():
        store.save()

    assert received == [
        (
            "created",
            {
                "sender": Session,
                "using": app_settings.DATABASE,
                "app_name": app_settings.APP_NAME,
                "session_id": store._row_id,
            },
        )
    ]


def test_a_creation_rolled_back_is_never_reported(received, on_commit):
    with (
        on_commit() as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(using=app_settings.DATABASE),
    ):
        SessionStore().create()
        raise RuntimeError("the request failed")

    assert callbacks == []
    assert received == []
    assert not Session.objects.using(app_settings.DATABASE).exists()


def test_delete_and_flush_report_the_ended_row(received, on_commit):
    kept, logged_out, flushed = (saved_session(visits=n) for n in range(3))
    ended_ids = [logged_out._row_id, flushed._row_id]

    with on_commit():
        SessionStore().delete(logged_out.session_key)
        flushed.flush()
        SessionStore().delete("no-such-session-key-here")

    assert [kwargs["session_ids"] for _, kwargs in received] == [[row] for row in ended_ids]
    assert {kwargs["source"] for _, kwargs in received} == {"store"}
    assert SessionStore(kept.session_key)["visits"] == 0


def test_api_ends_report_every_row_together(received, on_commit, alice):
    phone, laptop = saved_session(alice), saved_session(alice)
    saved_session(visits=1)  # someone else's

    with on_commit():
        assert api.end_all_sessions(alice) == 2

    assert received == [
        (
            "ended",
            {
                "sender": Session,
                "using": app_settings.DATABASE,
                "session_ids": sorted([phone._row_id, laptop._row_id]),
                "source": "api",
                "reason": "end",
            },
        )
    ]


def test_signals_carry_no_session_key(received, on_commit):
    with on_commit():
        store = saved_session(visits=1)
        key = store.session_key
        store.flush()

    assert [name for name, _ in received] == ["created", "ended"]
    assert key not in repr(received)
    assert hash_key(key) not in repr(received)
