"""The figures of ``manage.py session_stats``, per application sharing the tables.

Four aggregate queries, whatever the number of sessions: the sessions grouped by app name, the
distinct owners over all of them (with two applications or more), the attributes' bytes grouped by app name (a scan of the
attribute table), and the tally of ended sessions (``dbsessions.tally``) of the last hour.
"""

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Q, Sum
from django.utils import timezone

from dbsessions.expressions import OctetLength
from dbsessions.models import Attribute, EndedSessions, Session

#: Every reason a session ends for, as ``dbsessions.signals`` names them; the last two are
#: counted when a purge removes the expired session.
REASONS = ("logout", "rotation", "end", "password_change", "idle", "absolute")
WINDOW = timedelta(hours=1)


@dataclass
class AppStats:
    """One application's figures (or every application's, for the total)."""

    app_name: str | None
    #: Sessions not yet expired.
    live: int = 0
    #: Distinct logged-in users among the live sessions.
    owners: int = 0
    #: Sessions created in the last hour that are still stored (live or awaiting purge).
    created_last_hour: int = 0
    #: Sessions ended in the last hour, by reason (idle and absolute: purged in it).
    ended_last_hour: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    #: Expired sessions a purge has yet to delete.
    expired_awaiting_purge: int = 0
    #: Bytes of session data (the attributes' values, without row or index overhead).
    bytes: int = 0

    @property
    def ended_total(self) -> int:
        return sum(self.ended_last_hour.values())

    def add(self, other: "AppStats") -> None:
        """Add ``other``'s counts, except ``owners`` (distinct users do not add up)."""
        self.live += other.live
        self.created_last_hour += other.created_last_hour
        self.expired_awaiting_purge += other.expired_awaiting_purge
        self.bytes += other.bytes
        for reason, count in other.ended_last_hour.items():
            self.ended_last_hour[reason] = self.ended_last_hour.get(reason, 0) + count


@dataclass
class StoreStats:
    using: str
    at: datetime
    apps: list[AppStats]
    total: AppStats

    def as_json(self) -> dict[str, Any]:
        return {
            "database": self.using,
            "at": self.at.isoformat(),
            "apps": [asdict(app) for app in self.apps],
            "total": {
                key: value for key, value in asdict(self.total).items() if key != "app_name"
            },
        }


def store_stats(
    using: str, app_name: str | None = None, now: datetime | None = None
) -> StoreStats:
    """The figures of ``app_name``'s sessions on database ``using`` (every app's if None)."""
    now = now or timezone.now()
    since = now - WINDOW
    sessions = Session.objects.using(using)
    attributes = Attribute.objects.using(using)
    ended = EndedSessions.objects.using(using).filter(ended_at__gt=since)
    if app_name is not None:
        sessions = sessions.filter(app_name=app_name)
        attributes = attributes.filter(session__app_name=app_name)
        ended = ended.filter(app_name=app_name)
    live = Q(expires_at__gt=now)
    apps: dict[str, AppStats] = {}

    def app(name: str) -> AppStats:
        return apps.setdefault(name, AppStats(name))

    for row in (
        sessions.values("app_name")
        .annotate(
            live=Count("pk", filter=live),
            owners=Count("principal", filter=live, distinct=True),
            created=Count("pk", filter=Q(created_at__gt=since)),
            expired=Count("pk", filter=~live),
        )
        .order_by()
    ):
        figures = app(row["app_name"])
        figures.live = row["live"]
        figures.owners = row["owners"]
        figures.created_last_hour = row["created"]
        figures.expired_awaiting_purge = row["expired"]
    for row in (
        attributes.values("session__app_name").annotate(size=Sum(OctetLength("value"))).order_by()
    ):
        app(row["session__app_name"]).bytes = row["size"] or 0
    for row in ended.values("app_name", "reason").annotate(n=Sum("sessions")).order_by():
        counts = app(row["app_name"]).ended_last_hour
        counts[row["reason"]] = counts.get(row["reason"], 0) + row["n"]

    total = AppStats(app_name)
    for figures in apps.values():
        total.add(figures)
    if len(apps) == 1:
        total.owners = next(iter(apps.values())).owners
    elif apps:
        total.owners = sessions.filter(live).aggregate(n=Count("principal", distinct=True))["n"]
    return StoreStats(using, now, sorted(apps.values(), key=lambda a: a.app_name or ""), total)
