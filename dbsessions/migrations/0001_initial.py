# Table names come from DBSESSIONS when the migration is loaded, so a project that sets
# SESSION_TABLE / ATTRIBUTE_TABLE before its first migrate gets them without a migration of
# its own. Renaming the tables later is a manual step (see the README).
import django.db.models.deletion
from django.db import migrations, models

from dbsessions.conf import app_settings


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Session",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "key_hash",
                    models.CharField(
                        help_text="Hex SHA-256 of the session key.", max_length=64, unique=True
                    ),
                ),
                ("app_name", models.CharField(default="default", max_length=100)),
                (
                    "principal",
                    models.CharField(
                        blank=True,
                        db_index=True,
                        help_text="Primary key of the logged-in user, as text.",
                        max_length=255,
                        null=True,
                    ),
                ),
                ("created_at", models.DateTimeField()),
                ("last_access", models.DateTimeField()),
                ("expires_at", models.DateTimeField(db_index=True)),
                ("client_ip", models.GenericIPAddressField(blank=True, null=True)),
                ("user_agent", models.CharField(blank=True, max_length=255, null=True)),
            ],
            options={
                "verbose_name": "session",
                "verbose_name_plural": "sessions",
                "db_table": app_settings.SESSION_TABLE,
                "permissions": [("view_session_data", "Can view decoded session data")],
            },
        ),
        migrations.CreateModel(
            name="Attribute",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=200)),
                ("value", models.BinaryField()),
                (
                    "session",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="attributes",
                        to="dbsessions.session",
                    ),
                ),
            ],
            options={
                "verbose_name": "session attribute",
                "verbose_name_plural": "session attributes",
                "db_table": app_settings.ATTRIBUTE_TABLE,
                "constraints": [
                    models.UniqueConstraint(
                        fields=("session", "name"), name="dbsessions_attribute_session_name"
                    )
                ],
            },
        ),
    ]
