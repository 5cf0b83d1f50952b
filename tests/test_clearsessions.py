"""``manage.py clearsessions`` exists without ``django.contrib.sessions`` and purges."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from dbsessions.backends.db import SessionStore
from tests.utils import session_rows

pytestmark = pytest.mark.django_db(databases="__all__")


def test_clearsessions_deletes_the_expired_sessions_only():
    live, expired = SessionStore(), SessionStore()
    live["a"] = 1
    live.save()
    expired["b"] = 2
    expired.set_expiry(-timedelta(seconds=10))
    expired.save()

    call_command("clearsessions")

    assert session_rows().count() == 1
    assert SessionStore(live.session_key).load() == {"a": 1}


@override_settings(SESSION_ENGINE="tests.engine_without_purge")
def test_an_engine_that_cannot_purge_is_a_clear_error():
    with pytest.raises(CommandError, match="cannot delete expired sessions"):
        call_command("clearsessions")
