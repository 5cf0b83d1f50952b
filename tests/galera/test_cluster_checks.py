"""The system checks that find a Galera cluster behind the sessions database (W005, W006)."""

from io import StringIO

import pytest
from django.core.checks import Tags, run_checks
from django.core.management import call_command
from django.db import connections

from tests.galera.cluster import default_connection
from tests.utils import override_dbsessions

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True)]


def cluster_check_ids() -> set[str]:
    return {
        message.id
        for message in run_checks(databases=["default"], tags=[Tags.database])
        if message.id in ("dbsessions.W005", "dbsessions.W006")
    }


def without_init_command():
    """This thread's ``default`` connection without the settings' ``wsrep_sync_wait``."""
    options = connections["default"].settings_dict["OPTIONS"]
    return default_connection(OPTIONS={k: v for k, v in options.items() if k != "init_command"})


def test_the_advised_configuration_passes(cluster):
    assert cluster_check_ids() == set()


def test_reads_that_do_not_wait_are_reported(cluster):
    with without_init_command():
        assert cluster_check_ids() == {"dbsessions.W005"}


def test_too_few_retries_are_reported(cluster):
    with override_dbsessions(RETRIES=3):
        assert cluster_check_ids() == {"dbsessions.W006"}


def test_migrate_and_check_database_show_the_warning(cluster):
    out = StringIO()
    with without_init_command():
        call_command("check", databases=["default"], stdout=out, stderr=out)
    assert "dbsessions.W005" in out.getvalue()
