"""Operators' metrics: ``session_operation`` and ``operation_retried``, and
``dbsessions.prometheus`` fed by them, on both engines."""

import gc
import weakref
from datetime import timedelta

import pytest
import time_machine
from django.contrib.sessions.backends.base import UpdateError
from django.core import checks
from django.test import RequestFactory
from django.utils import timezone
from prometheus_client import CollectorRegistry

from dbsessions import SessionConflict, prometheus
from dbsessions.conf import app_settings
from dbsessions.purge import purge_expired
from dbsessions.signals import operation_retried, session_operation
from tests.test_deadlocks import end_into_a_deadlock
from tests.utils import (
    CACHED_DB,
    DB,
    SERVER_VENDORS,
    engine_store,
    override_dbsessions,
    saved_session,
)

pytestmark = [
    pytest.mark.django_db(databases="__all__"),
    pytest.mark.usefixtures("session_engine"),
]


@pytest.fixture
def events():
    """The ``session_operation`` events sent during the test, as dicts."""
    received = []

    def receiver(sender, **kwargs):
        received.append({"sender": sender, **kwargs})

    session_operation.connect(receiver)
    yield received
    session_operation.disconnect(receiver)


def ops(events):
    return [(e["operation"], e["outcome"]) for e in events]


def test_each_operation_is_sent_once_with_its_outcome_and_duration(events):
    session = engine_store()()
    session["cart"] = ["apple"]
    session.save()  # a create: its inner save is not sent apart
    loaded = engine_store()(session.session_key)
    loaded["cart"]
    loaded.cycle_key()
    loaded.atomic_update("count", lambda n: n + 1, default=0)
    loaded.delete()

    assert ops(events) == [
        ("save", "ok"),
        ("load", "ok"),
        ("cycle_key", "ok"),
        ("atomic_update", "ok"),
        ("delete", "ok"),
    ]
    assert all(e["seconds"] > 0 for e in events)
    assert all(e["sender"] is type(session) for e in events)
    assert all(e["touch"] is False for e in events)


@pytest.mark.parametrize("session_engine", [CACHED_DB], indirect=True)
def test_cached_db_loads_say_how_they_used_the_cache(events):
    key = saved_session(cart=["apple"]).session_key  # cached as written
    engine_store()(key)["cart"]
    engine_store()(key)["cart"]
    saved = engine_store()(key)
    saved["cart"] = ["pear"]
    saved.save()  # replaces the version: the next load is a miss
    engine_store()(key).load()

    # The third load is the save's own, before its change.
    assert [e["cache"] for e in events if e["operation"] == "load"] == [
        "hit",
        "hit",
        "hit",
        "miss",
    ]


@pytest.mark.parametrize("session_engine", [DB], indirect=True)
def test_db_loads_have_no_cache_use(events):
    engine_store()(saved_session(a=1).session_key).load()
    assert [(e["operation"], e["cache"]) for e in events] == [("save", None), ("load", None)]


def test_conflicts_and_ended_sessions_are_outcomes_and_still_raise(events):
    key = saved_session(cart=["apple"]).session_key
    first, second = engine_store()(key), engine_store()(key)
    assert first["cart"] == second["cart"]
    second["cart"] = ["pear"]
    second.save()
    first["cart"] = ["plum"]
    with override_dbsessions(SAME_KEY_WRITES="detect"), pytest.raises(SessionConflict):
        first.save()
    second.delete()
    with pytest.raises(UpdateError):
        first.atomic_update("cart", lambda cart: cart)

    assert ops(events)[-3:] == [("save", "conflict"), ("delete", "ok"), ("atomic_update", "ended")]


def test_a_touch_is_a_save_that_says_so(events):
    with override_dbsessions(TOUCH_INTERVAL=60):
        key = saved_session(a=1).session_key
        with time_machine.travel(timezone.now() + timedelta(seconds=120), tick=True):
            session = engine_store()(key)
            session["a"]
            assert session.modified  # the touch is due
            session.save()
    assert [(e["operation"], e["touch"]) for e in events][-1] == ("save", True)


def test_a_receiver_that_raises_never_fails_the_operation(events):
    def broken(**kwargs):
        raise RuntimeError("a broken metrics receiver")

    session_operation.connect(broken)
    try:
        session = saved_session(a=1)
        assert engine_store()(session.session_key)["a"] == 1
    finally:
        session_operation.disconnect(broken)
    assert ops(events)[-1] == ("load", "ok")


@pytest.mark.parametrize("vendor", SERVER_VENDORS)
@pytest.mark.parametrize("session_engine", [DB], indirect=True)
@pytest.mark.django_db(transaction=True, databases="__all__")
@pytest.mark.one_server  # the deadlock it provokes waits on one server's row locks
def test_a_retry_is_sent_with_its_operation_and_attempt(vendor):
    retried = []

    def receiver(sender, **kwargs):
        retried.append(kwargs)

    operation_retried.connect(receiver)
    try:
        from dbsessions import api

        end_into_a_deadlock(lambda ids: api.end_sessions(ids))
    finally:
        operation_retried.disconnect(receiver)
    assert retried == [{"signal": operation_retried, "using": app_settings.DATABASE,
                        "operation": "end", "attempt": 1}]  # fmt: skip


# Prometheus -----------------------------------------------------------------------------


@pytest.fixture
def registry():
    registry = CollectorRegistry()
    prometheus.register(registry)
    yield registry
    prometheus.unregister(registry)


def value(registry, name, **labels):
    return registry.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize("session_engine", [CACHED_DB], indirect=True)
def test_prometheus_counts_operations_cache_use_and_ended_sessions(registry):
    session = saved_session(cart=["apple"])
    engine_store()(session.session_key)["cart"]
    session.delete()

    assert value(registry, "dbsessions_operations_total", operation="save", outcome="ok") == 1
    assert value(registry, "dbsessions_operations_total", operation="load", outcome="ok") == 1
    assert value(registry, "dbsessions_cache_loads_total", result="hit") == 1
    assert value(registry, "dbsessions_operation_seconds_count", operation="load") == 1
    assert value(registry, "dbsessions_sessions_created_total") == 1
    assert value(registry, "dbsessions_sessions_ended_total", reason="logout") == 1


@pytest.mark.parametrize("session_engine", [DB], indirect=True)
def test_prometheus_counts_purged_sessions_by_reason(registry):
    session = saved_session(a=1)
    session.set_expiry(-10)
    session.save()

    purge_expired(app_settings.DATABASE, app_settings.APP_NAME)

    assert value(registry, "dbsessions_sessions_purged_total", reason="idle") == 1


@pytest.mark.parametrize("session_engine", [DB], indirect=True)
def test_registering_twice_feeds_one_set_of_metrics(registry):
    assert prometheus.register(registry) is prometheus.register(registry)
    saved_session(a=1)
    assert value(registry, "dbsessions_operations_total", operation="save", outcome="ok") == 1


@pytest.mark.parametrize("session_engine", [DB], indirect=True)
def test_a_registry_that_is_gone_takes_its_metrics_and_receivers_with_it():
    """Nothing of a freed registry may outlive it: CPython may hand a new registry its
    address, which then must not find the old one's metrics."""
    registry = CollectorRegistry()
    gone = weakref.ref(prometheus.register(registry))
    del registry
    gc.collect()
    assert gone() is None

    registry = CollectorRegistry()
    prometheus.register(registry)
    saved_session(a=1)
    assert value(registry, "dbsessions_operations_total", operation="save", outcome="ok") == 1
    prometheus.unregister(registry)


@pytest.mark.parametrize("session_engine", [DB], indirect=True)
def test_after_unregister_nothing_is_counted():
    registry = CollectorRegistry()
    prometheus.register(registry)
    prometheus.unregister(registry)
    saved_session(a=1)
    assert value(registry, "dbsessions_operations_total", operation="save", outcome="ok") == 0


@pytest.mark.parametrize("session_engine", [DB], indirect=True)
def test_the_view_serves_the_default_registry_in_text_format():
    prometheus.register()
    try:
        saved_session(a=1)
        response = prometheus.metrics_view(RequestFactory().get("/metrics"))
    finally:
        prometheus.unregister()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b'dbsessions_operations_total{operation="save",outcome="ok"}' in response.content


@pytest.mark.parametrize("session_engine", [DB], indirect=True)
def test_prometheus_without_the_package_is_a_check_error(monkeypatch):
    import importlib.util

    from dbsessions import checks as dbsessions_checks

    real = importlib.util.find_spec
    monkeypatch.setattr(
        dbsessions_checks,
        "find_spec",
        lambda name: None if name == "prometheus_client" else real(name),
    )
    with override_dbsessions(PROMETHEUS=True):
        errors = [e for e in checks.run_checks() if e.id == "dbsessions.E013"]
    assert len(errors) == 1
