"""The storage model: a session row and one row per attribute."""

from django.db import models

from dbsessions.conf import app_settings


class Session(models.Model):
    """One session. ``id`` never changes; rotating the key rewrites only ``key_hash``."""

    key_hash = models.CharField(
        max_length=64, unique=True, help_text="Hex SHA-256 of the session key."
    )
    app_name = models.CharField(max_length=100, default="default")
    principal = models.CharField(
        max_length=255,
        null=True,
        blank=True,
        db_index=True,
        help_text="Primary key of the logged-in user, as text.",
    )
    created_at = models.DateTimeField()
    last_access = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        db_table = app_settings.SESSION_TABLE
        verbose_name = "session"
        verbose_name_plural = "sessions"
        permissions = [("view_session_data", "Can view decoded session data")]

    def __str__(self) -> str:
        return f"session {self.pk}"


class Attribute(models.Model):
    """One key of a session; ``value`` holds the ``SESSION_SERIALIZER`` output."""

    session = models.ForeignKey(
        Session,
        on_delete=models.CASCADE,
        related_name="attributes",
        # The unique (session, name) index already starts with session_id.
        db_index=False,
    )
    name = models.CharField(max_length=200)
    # BinaryField maps to bytea, LONGBLOB, BLOB and VARBINARY(MAX): unbounded everywhere.
    value = models.BinaryField()

    class Meta:
        db_table = app_settings.ATTRIBUTE_TABLE
        verbose_name = "session attribute"
        verbose_name_plural = "session attributes"
        constraints = [
            models.UniqueConstraint(
                fields=["session", "name"], name="dbsessions_attribute_session_name"
            )
        ]

    def __str__(self) -> str:
        return self.name
