"""The tally of ended sessions behind ``session_stats``' "ended in the last hour".

Every end (a logout, a rotation, ``dbsessions.api``, a password change) and every purge batch
adds one ``EndedSessions`` row per application in its own transaction, so a tally counts
exactly what committed, and a rolled-back end counts nothing. Rows are only ever inserted:
concurrent ends never wait on a shared counter row (on a Galera cluster they never conflict
over one). Each purge run then deletes the rows older than ``TALLY_HOURS``.

The cost: one small INSERT per end, and one per purge batch; loads and saves write nothing.
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from django.utils import timezone

from dbsessions.models import EndedSessions

#: Hours of tally rows a purge keeps.
TALLY_HOURS = 24


def record_ended(using: str, app_names: Iterable[str], reason: str) -> None:
    """Count one ended session per item of ``app_names`` (an app name may repeat), in the
    transaction that ends them."""
    _insert(using, Counter((app_name, reason) for app_name in app_names))


def record_purged(using: str, app_name: str, reasons: dict[str, int]) -> None:
    """Count a purge batch's sessions of ``app_name`` by reason (``PurgeResult.reasons``)."""
    _insert(using, {(app_name, reason): count for reason, count in reasons.items()})


def _insert(using: str, counts: Mapping[tuple[str, str], int]) -> None:
    """One row per ``(app_name, reason)`` with a count, stamped now."""
    now = timezone.now()
    rows = [
        EndedSessions(app_name=app_name, ended_at=now, reason=reason, sessions=count)
        for (app_name, reason), count in sorted(counts.items())
        if count
    ]
    if rows:
        EndedSessions.objects.using(using).bulk_create(rows)


def prune(using: str, now: datetime | None = None) -> int:
    """Delete the tally rows older than ``TALLY_HOURS``; how many went."""
    cutoff = (now or timezone.now()) - timedelta(hours=TALLY_HOURS)
    deleted, _ = EndedSessions.objects.using(using).filter(ended_at__lt=cutoff).delete()
    return deleted
