"""The figures above the admin's session list: two aggregate queries, whatever the table size."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from dbsessions.conf import app_settings
from dbsessions.models import Session

HOURS = 24
CHART_WIDTH = 480
CHART_HEIGHT = 80


@dataclass(frozen=True)
class Bar:
    hour: datetime
    count: int
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Dashboard:
    active: int
    owners: int
    created_last_24h: int
    expired: int
    bars: list[Bar]
    peak: int
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


def build_dashboard(now: datetime | None = None) -> Dashboard:
    """Counts over every app name: the admin shows the whole store."""
    now = now or timezone.now()
    rows = Session.objects.using(app_settings.DATABASE)
    live = Q(expires_at__gt=now)
    since = now - timedelta(hours=HOURS)
    figures = rows.aggregate(
        active=Count("pk", filter=live),
        owners=Count("principal", filter=live, distinct=True),
        created=Count("pk", filter=Q(created_at__gt=since)),
        expired=Count("pk", filter=~live),
    )
    first_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    per_hour = {
        _as_utc(row["hour"]): row["n"]
        for row in rows.filter(created_at__gte=first_hour)
        # Whole UTC hours, whatever the current time zone, to match the buckets below.
        .annotate(hour=TruncHour("created_at", tzinfo=UTC))
        .values("hour")
        .annotate(n=Count("pk"))
        .order_by()
    }
    hours = [first_hour + timedelta(hours=i) for i in range(HOURS)]
    counts = [per_hour.get(_as_utc(hour), 0) for hour in hours]
    return Dashboard(
        active=figures["active"],
        owners=figures["owners"],
        created_last_24h=figures["created"],
        expired=figures["expired"],
        bars=_bars(hours, counts),
        peak=max(counts),
    )


def _as_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if timezone.is_aware(moment) else moment


def _bars(hours: list[datetime], counts: list[int]) -> list[Bar]:
    slot = CHART_WIDTH // len(hours)
    peak = max(counts) or 1
    bars = []
    for i, (hour, count) in enumerate(zip(hours, counts, strict=True)):
        # A non-empty hour is at least 1px tall so it never looks like an empty one.
        height = round(count / peak * CHART_HEIGHT) if count else 0
        height = max(height, 1) if count else 0
        bars.append(Bar(hour, count, i * slot + 1, CHART_HEIGHT - height, slot - 2, height))
    return bars
