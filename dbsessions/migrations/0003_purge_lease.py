# The purge lease: one row that a purge takes, renews and releases, so that only one purge
# runs at a time on a database, across every node of a cluster.
from django.db import migrations, models

import dbsessions.models


class Migration(migrations.Migration):
    dependencies = [("dbsessions", "0002_exact_names_import_ledger")]

    operations = [
        migrations.CreateModel(
            name="PurgeLease",
            fields=[
                (
                    "name",
                    dbsessions.models.ExactCharField(
                        max_length=64, primary_key=True, serialize=False
                    ),
                ),
                (
                    "holder",
                    dbsessions.models.ExactCharField(
                        blank=True,
                        help_text="Random token of the process that took the lease last.",
                        max_length=64,
                    ),
                ),
                ("expires_at", models.DateTimeField()),
            ],
            options={
                "verbose_name": "purge lease",
                "verbose_name_plural": "purge leases",
                "db_table": "dbsessions_lease",
            },
        ),
    ]
