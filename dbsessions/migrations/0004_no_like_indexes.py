# The key hash's unique constraint and the principal's index move to Meta: for unique=True and
# db_index=True on a text column, Django's PostgreSQL backend adds a second varchar_pattern_ops
# index (for LIKE) that no query of the engine uses and every save that moves the expiry writes.
# The new constraint and index come first, so that key hashes stay unique throughout.
from django.db import migrations, models

import dbsessions.models


class Migration(migrations.Migration):
    dependencies = [("dbsessions", "0003_purge_lease")]

    operations = [
        migrations.AddConstraint(
            model_name="session",
            constraint=models.UniqueConstraint(
                fields=("key_hash",), name="dbsessions_session_key_hash"
            ),
        ),
        migrations.AddIndex(
            model_name="session",
            index=models.Index(fields=["principal"], name="dbsessions_session_principal"),
        ),
        migrations.AlterField(
            model_name="session",
            name="key_hash",
            field=models.CharField(help_text="Hex SHA-256 of the session key.", max_length=64),
        ),
        migrations.AlterField(
            model_name="session",
            name="principal",
            field=dbsessions.models.ExactCharField(
                blank=True,
                help_text="Primary key of the logged-in user, as text.",
                max_length=255,
                null=True,
            ),
        ),
    ]
