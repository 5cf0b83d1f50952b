"""Purge pacing: batches sized by their duration, and SQLite's WAL checkpointed between them."""

import pytest

from dbsessions import purge_pace
from dbsessions.conf import app_settings
from dbsessions.dialects import dialect_for
from dbsessions.models import Session
from dbsessions.purge import purge_expired
from dbsessions.purge_pace import MIN_SIZE, BatchSizer
from tests.test_purge import make_sessions

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


def sizer(size: int = 1000, **kwargs: object) -> BatchSizer:
    return BatchSizer(size=size, target=0.05, **kwargs)


def test_a_slow_batch_shrinks_the_next_in_proportion():
    s = sizer()
    s.record(picked=1000, seconds=0.2)
    assert s.size == 250


def test_a_fast_batch_grows_the_next_at_most_twofold():
    s = sizer()
    s.record(picked=1000, seconds=0.04)
    assert s.size == 1250
    s.record(picked=1250, seconds=0.001)
    assert s.size == 2500


def test_sizes_stay_within_bounds():
    s = sizer(size=100, maximum=150)
    s.record(picked=100, seconds=0.001)
    assert s.size == 150
    s.record(picked=150, seconds=100.0)
    assert s.size == MIN_SIZE


def test_a_short_last_batch_or_a_fixed_size_changes_nothing():
    s = sizer()
    s.record(picked=10, seconds=5.0)
    assert s.size == 1000
    fixed = sizer(fixed=True)
    fixed.record(picked=1000, seconds=5.0)
    assert fixed.size == 1000


def test_a_given_batch_size_is_kept_and_the_default_adapts(sessions_connection):
    assert BatchSizer.for_connection(sessions_connection, 7).fixed
    default = BatchSizer.for_connection(sessions_connection)
    assert not default.fixed and default.size >= MIN_SIZE


@pytest.mark.parametrize(
    ("target", "batches"),
    [
        # The first full batch takes far longer than the target: the rest go MIN_SIZE at a
        # time (120 sessions: 3 batches), then one empty batch ends the purge.
        (1e-9, 1 + 3 + 1),
        # Far shorter: the second batch doubles and takes the remaining 120 at once.
        (1000.0, 1 + 1 + 1),
    ],
)
def test_purge_sizes_its_batches_by_their_duration(
    monkeypatch, sessions_connection, target, batches
):
    dialect = type(dialect_for(sessions_connection))
    monkeypatch.setattr(dialect, "purge_target_seconds", target)
    first = BatchSizer.for_connection(sessions_connection).size
    make_sessions(first + 120, expired=True, attrs=1)
    live = make_sessions(3, expired=False, attrs=1)
    result = purge_expired(app_settings.DATABASE, "default")
    assert (result.sessions, result.attributes) == (first + 120, first + 120)
    assert result.batches == batches
    assert sorted(Session.objects.values_list("id", flat=True)) == sorted(live)


def test_checkpoints_restore_the_connection_and_do_nothing_elsewhere(sessions_connection):
    vendor = sessions_connection.vendor

    def autocheckpoint() -> int:
        with sessions_connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint")
            return cursor.fetchone()[0]

    before = autocheckpoint() if vendor == "sqlite" else None
    with purge_pace.checkpoints(sessions_connection) as checkpoint:
        if vendor == "sqlite":
            # The purge checkpoints the WAL itself, outside the write lock.
            assert autocheckpoint() == 0
            assert checkpoint() >= 0.0
        else:
            assert checkpoint() == 0.0
    if vendor == "sqlite":
        assert autocheckpoint() == before
