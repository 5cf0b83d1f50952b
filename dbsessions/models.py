"""The storage model: a session row and one row per attribute."""

from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

from dbsessions.conf import app_settings
from dbsessions.dialects import LEASE_TABLE, dialect_for

# Column limits, read from here by whatever bounds a value before it is stored. (The
# migrations keep their own literal copies: they are history.)
#: A hex SHA-256.
KEY_HASH_LENGTH = 64
MAX_APP_NAME_LENGTH = 100
MAX_PRINCIPAL_LENGTH = 255
MAX_USER_AGENT_LENGTH = 255
#: Longest attribute name (a session key) a session can hold.
MAX_NAME_LENGTH = 200
#: Longest lease name, and longest lease holder (a purge's token is 32 hex digits).
MAX_LEASE_NAME_LENGTH = 64
MAX_LEASE_HOLDER_LENGTH = 64
#: Longest reason a session ended for (``dbsessions.signals``: "password_change").
MAX_REASON_LENGTH = 32


def exact_collation(connection: BaseDatabaseWrapper) -> str | None:
    """The collation under which ``=`` compares ``connection``'s text byte for byte; None
    where the default already does (each dialect's ``exact_collation`` says why)."""
    return dialect_for(connection).exact_collation


if TYPE_CHECKING:
    # Generic in django-stubs only: subscripted at run time it would raise.
    _CharField = models.CharField[Any, Any]
else:
    _CharField = models.CharField


class ExactCharField(_CharField):
    """A CharField compared exactly: names that differ by case, accent or a trailing space
    are different names (``session["cart"]`` is not ``session["Cart"]``)."""

    def db_parameters(self, connection: BaseDatabaseWrapper) -> dict[str, Any]:
        params = super().db_parameters(connection)
        # django-stubs declares db_collation as an argument only, not as the attribute it is.
        if self.db_collation is None:  # type: ignore[attr-defined]
            params["collation"] = exact_collation(connection)
        return params


class Session(models.Model):
    """One session. ``id`` never changes; rotating the key rewrites only ``key_hash``."""

    # Unique and indexed through Meta, not unique=True and db_index=True: for those Django's
    # PostgreSQL backend adds a second, varchar_pattern_ops index (for LIKE) to each, which
    # no query of the engine uses and every save that moves the expiry writes (about 130
    # bytes per session).
    key_hash = models.CharField(
        max_length=KEY_HASH_LENGTH, help_text="Hex SHA-256 of the session key."
    )
    app_name = ExactCharField(max_length=MAX_APP_NAME_LENGTH, default="default")
    principal = ExactCharField(
        max_length=MAX_PRINCIPAL_LENGTH,
        null=True,
        blank=True,
        help_text="Primary key of the logged-in user, as text.",
    )
    created_at = models.DateTimeField()
    last_access = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=MAX_USER_AGENT_LENGTH, null=True, blank=True)

    class Meta:
        db_table = app_settings.SESSION_TABLE
        verbose_name = "session"
        verbose_name_plural = "sessions"
        permissions = [("view_session_data", "Can view decoded session data")]
        constraints = [
            models.UniqueConstraint(fields=["key_hash"], name="dbsessions_session_key_hash")
        ]
        indexes = [models.Index(fields=["principal"], name="dbsessions_session_principal")]

    def __str__(self) -> str:
        return f"session {self.pk}"


class Attribute(models.Model):
    """One key of a session; ``value`` holds the ``SESSION_SERIALIZER`` output.

    Named by its session and name, with no id of its own (migration 0005): one index fewer,
    and InnoDB stores a session's attributes together, in primary-key order.
    """

    pk = models.CompositePrimaryKey("session", "name")
    session = models.ForeignKey(
        Session,
        on_delete=models.CASCADE,
        related_name="attributes",
        # The primary key (session, name) already starts with session_id.
        db_index=False,
    )
    name = ExactCharField(max_length=MAX_NAME_LENGTH)
    # BinaryField maps to bytea, LONGBLOB, BLOB and VARBINARY(MAX): unbounded everywhere.
    value = models.BinaryField()

    class Meta:
        db_table = app_settings.ATTRIBUTE_TABLE
        verbose_name = "session attribute"
        verbose_name_plural = "session attributes"

    def __str__(self) -> str:
        return str(self.name)


class ImportedSession(models.Model):
    """A key ``import_sessions`` has copied, kept after the session ends so that no later
    run brings it back. Rows go once the expiry the import last saw has passed: an expired
    ``django_session`` row is never imported."""

    app_name = ExactCharField(max_length=MAX_APP_NAME_LENGTH)
    key_hash = models.CharField(
        max_length=KEY_HASH_LENGTH, help_text="Hex SHA-256 of the session key."
    )
    expires_at = models.DateTimeField()

    class Meta:
        db_table = "dbsessions_imported"
        verbose_name = "imported session"
        verbose_name_plural = "imported sessions"
        constraints = [
            models.UniqueConstraint(
                fields=["app_name", "key_hash"], name="dbsessions_imported_app_key"
            )
        ]

    def __str__(self) -> str:
        return f"imported session {self.pk}"


class PurgeLease(models.Model):
    """A lease that one process at a time holds: ``dbsessions.purge.purge_lock`` takes the
    ``"purge"`` one. The row stays; a lease is free once ``expires_at`` has passed."""

    name = ExactCharField(max_length=MAX_LEASE_NAME_LENGTH, primary_key=True)
    holder = ExactCharField(
        max_length=MAX_LEASE_HOLDER_LENGTH,
        blank=True,
        help_text="Random token of the process that took the lease last.",
    )
    expires_at = models.DateTimeField()

    class Meta:
        db_table = LEASE_TABLE
        verbose_name = "purge lease"
        verbose_name_plural = "purge leases"

    def __str__(self) -> str:
        return f"lease {self.name}"


class EndedSessions(models.Model):
    """How many sessions of an application ended, when and why: one row per end or purge
    batch, written in its transaction, read by ``session_stats``. Append-only (concurrent ends
    never wait on one another's row); purges drop the rows older than ``TALLY_HOURS``."""

    app_name = ExactCharField(max_length=MAX_APP_NAME_LENGTH)
    ended_at = models.DateTimeField(db_index=True)
    reason = models.CharField(
        max_length=MAX_REASON_LENGTH, help_text="A reason of dbsessions.signals."
    )
    sessions = models.IntegerField()

    class Meta:
        db_table = "dbsessions_ended"
        verbose_name = "ended sessions tally"
        verbose_name_plural = "ended sessions tallies"

    def __str__(self) -> str:
        return f"{self.sessions} ended ({self.reason})"
