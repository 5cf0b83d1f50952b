# Names, app names and principals compare byte for byte: on MySQL/MariaDB and SQL Server the
# columns get a binary collation (ExactCharField picks it per vendor). The import ledger keeps
# import_sessions from bringing back a session that ended after an earlier run.
from typing import TYPE_CHECKING

from django.db import migrations, models

import dbsessions.models

if TYPE_CHECKING:
    from django.db.backends.base.schema import BaseDatabaseSchemaEditor
    from django.db.migrations.state import ProjectState


class AlterToExactField(migrations.AlterField):
    """An AlterField that runs only where the exact collation differs from the default.

    Elsewhere the column already compares exactly, and SQLite would rebuild the whole table
    for a change of field class alone.
    """

    def database_forwards(
        self,
        app_label: str,
        schema_editor: "BaseDatabaseSchemaEditor",
        from_state: "ProjectState",
        to_state: "ProjectState",
    ) -> None:
        if dbsessions.models.exact_collation(schema_editor.connection) is not None:
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(
        self,
        app_label: str,
        schema_editor: "BaseDatabaseSchemaEditor",
        from_state: "ProjectState",
        to_state: "ProjectState",
    ) -> None:
        if dbsessions.models.exact_collation(schema_editor.connection) is not None:
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [("dbsessions", "0001_initial")]

    operations = [
        AlterToExactField(
            model_name="attribute",
            name="name",
            field=dbsessions.models.ExactCharField(max_length=200),
        ),
        AlterToExactField(
            model_name="session",
            name="app_name",
            field=dbsessions.models.ExactCharField(default="default", max_length=100),
        ),
        AlterToExactField(
            model_name="session",
            name="principal",
            field=dbsessions.models.ExactCharField(
                blank=True,
                db_index=True,
                help_text="Primary key of the logged-in user, as text.",
                max_length=255,
                null=True,
            ),
        ),
        migrations.CreateModel(
            name="ImportedSession",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("app_name", dbsessions.models.ExactCharField(max_length=100)),
                (
                    "key_hash",
                    models.CharField(help_text="Hex SHA-256 of the session key.", max_length=64),
                ),
                ("expires_at", models.DateTimeField()),
            ],
            options={
                "verbose_name": "imported session",
                "verbose_name_plural": "imported sessions",
                "db_table": "dbsessions_imported",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("app_name", "key_hash"), name="dbsessions_imported_app_key"
                    )
                ],
            },
        ),
    ]
