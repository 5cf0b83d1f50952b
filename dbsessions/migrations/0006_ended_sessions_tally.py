# The tally of ended sessions (dbsessions.tally): one row per end or purge batch, inserted in
# its transaction, so that session_stats can say how many sessions ended in the last hour.
from django.db import migrations, models

import dbsessions.models


class Migration(migrations.Migration):
    dependencies = [("dbsessions", "0005_attribute_primary_key")]

    operations = [
        migrations.CreateModel(
            name="EndedSessions",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("app_name", dbsessions.models.ExactCharField(max_length=100)),
                ("ended_at", models.DateTimeField(db_index=True)),
                (
                    "reason",
                    models.CharField(help_text="A reason of dbsessions.signals.", max_length=32),
                ),
                ("sessions", models.IntegerField()),
            ],
            options={
                "verbose_name": "ended sessions tally",
                "verbose_name_plural": "ended sessions tallies",
                "db_table": "dbsessions_ended",
            },
        ),
    ]
