"""The purge benchmark, run tiny so it cannot rot: what it deletes and reports, no timings.

Runs only the purge phase of ``python -m bench``, in smoke mode (a few hundred expired
sessions), on the database this test run uses, on its own database name, into a temporary
directory.
"""

import json
import os

import pytest

from bench.profiles import PROFILES
from bench.purge import ATTRIBUTES
from tests.utils import run_bench_smoke

VENDOR = os.environ.get("DBSESSIONS_DB", "sqlite")
EXPIRED = PROFILES["smoke"].purge_sessions


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> dict:
    output = tmp_path_factory.mktemp("bench_purge")
    done = run_bench_smoke(output, "bench_purge_smoke", "--only", "purge")
    assert "unbatched DELETEs" in done.stderr
    vendor = json.loads((output / "results.json").read_text())["vendors"][VENDOR]
    assert set(vendor) == {"server_version", "seconds", "purge"}
    assert vendor["server_version"]
    return vendor["purge"]


def test_describes_the_filled_tables(measured):
    assert measured["expired"] == EXPIRED
    assert measured["live"] == EXPIRED // 10
    assert measured["foreign_key"] is True


@pytest.mark.parametrize("run", ["purge_sessions", "clearsessions"])
def test_every_expired_session_goes_while_a_writer_saves(measured, run):
    result = measured[run]
    assert result["sessions"] == EXPIRED
    assert result["writer_saves"] > 0
    assert result["slow_saves"] <= result["writer_saves"]
    assert result["max_stall_ms"] > 0


def test_purge_and_unbatched_delete_the_same_rows(measured):
    expected_attributes = EXPIRED * ATTRIBUTES
    assert measured["purge_sessions"]["attributes"] == expected_attributes
    assert measured["unbatched"]["sessions"] == EXPIRED
    assert measured["unbatched"]["attributes"] == expected_attributes
    assert measured["clearsessions"]["attributes"] == 0  # Django's rows hold everything
