"""``manage.py purge_sessions``: delete expired sessions in small batches (run it from cron)."""

import time
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connections
from django.utils import timezone

from dbsessions.conf import app_settings
from dbsessions.purge import (
    LEASE_SECONDS,
    Lease,
    PurgeResult,
    count_expired,
    purge_expired,
    purge_lock,
)

BAR_WIDTH = 30
#: Plain progress lines (not a terminal) at most this often.
LINE_INTERVAL = 5.0


class Command(BaseCommand):
    help = (
        "Delete expired sessions and their attributes in batches, each its own short "
        "transaction. Only one purge runs at a time per database, across a cluster's nodes "
        f"too (a lease of {LEASE_SECONDS:g} s, renewed after each batch)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--database",
            choices=tuple(connections),
            help="Database alias holding the sessions (default: DBSESSIONS['DATABASE']).",
        )
        apps = parser.add_mutually_exclusive_group()
        apps.add_argument("--app", help="Purge this application's sessions (default: APP_NAME).")
        apps.add_argument(
            "--all-apps", action="store_true", help="Purge the sessions of every application."
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            help=(
                "Sessions per batch (default: adaptive, sized so that each batch takes about "
                "50 ms, 30 ms on SQLite)."
            ),
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )
        parser.add_argument(
            "--max-seconds",
            type=float,
            help="Stop cleanly after this many seconds and report what remains.",
        )
        parser.add_argument(
            "--sleep",
            type=float,
            help=(
                "Seconds to pause between batches, including SQLite's WAL checkpoint "
                "(default: 0.025 on SQLite, 0 elsewhere)."
            ),
        )

    def handle(
        self,
        *args: Any,
        database: str | None,
        app: str | None,
        all_apps: bool,
        batch_size: int | None,
        dry_run: bool,
        max_seconds: float | None,
        sleep: float | None,
        **options: Any,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        if max_seconds is not None and max_seconds <= 0:
            raise CommandError("--max-seconds must be positive.")
        if sleep is not None and sleep < 0:
            raise CommandError("--sleep cannot be negative.")
        alias = database or app_settings.DATABASE
        app_name = None if all_apps else (app or app_settings.APP_NAME)
        scope = "of every application" if app_name is None else f"of application {app_name!r}"
        try:
            if dry_run:
                sessions, attributes = count_expired(alias, app_name)
                self.stdout.write(
                    f"Would purge {sessions:,} expired sessions ({attributes:,} attributes) "
                    f"{scope} on database {alias!r}."
                )
                return
            with purge_lock(connections[alias]) as lease:
                if not lease:
                    self.stdout.write(
                        f"Another purge_sessions is running on database {alias!r}"
                        f"{_until(lease.expires_at)}; leaving the work to it."
                    )
                    return
                result = self._purge(alias, app_name, batch_size, max_seconds, sleep, lease)
        except DatabaseError as exc:
            raise CommandError(f"Purge failed on database {alias!r}: {exc}") from exc
        summary = (
            f"{result.sessions:,} sessions ({result.attributes:,} attributes) "
            f"in {result.seconds:.1f} s."
        )
        if result.lease_lost:
            remaining, _ = count_expired(alias, app_name)
            self.stdout.write(
                f"Stopped: another purge_sessions took over the purge lease on database "
                f"{alias!r}. Purged {summary} {remaining:,} expired sessions remain, left to it."
            )
        elif result.stopped_early:
            remaining, _ = count_expired(alias, app_name)
            self.stdout.write(
                f"Stopped after the {max_seconds:g} s budget: purged {summary} "
                f"{remaining:,} expired sessions remain."
            )
        else:
            self.stdout.write(self.style.SUCCESS(f"Purged {summary}"))

    def _purge(
        self,
        alias: str,
        app_name: str | None,
        batch_size: int | None,
        max_seconds: float | None,
        sleep: float | None,
        lease: Lease,
    ) -> PurgeResult:
        expected, _ = count_expired(alias, app_name)
        tty = self.stdout.isatty()
        last_line = time.monotonic()

        def on_batch(total: PurgeResult) -> None:
            nonlocal last_line
            if tty:
                self.stdout.write(_bar(total.sessions, expected), ending="\r")
                self.stdout.flush()
            elif time.monotonic() - last_line >= LINE_INTERVAL:
                last_line = time.monotonic()
                self.stdout.write(f"Purged {total.sessions:,} of {expected:,} sessions...")

        result = purge_expired(
            alias,
            app_name,
            batch_size,
            max_seconds=max_seconds,
            sleep=sleep,
            on_batch=on_batch,
            lease=lease,
        )
        if tty:
            self.stdout.write("")
        return result


def _bar(done: int, expected: int) -> str:
    share = min(done / expected, 1.0) if expected else 1.0
    filled = int(share * BAR_WIDTH)
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {share:4.0%} {done:,}/{expected:,}"


def _until(expires_at: datetime | None) -> str:
    """When the other purge's lease ends, in UTC to the second (it renews it as it goes)."""
    if expires_at is None:
        return ""
    if timezone.is_naive(expires_at):  # USE_TZ = False: local time
        return f" (its lease runs until {expires_at:%Y-%m-%d %H:%M:%S})"
    return f" (its lease runs until {expires_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC)"
