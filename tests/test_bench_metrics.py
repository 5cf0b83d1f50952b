"""The metrics benchmark, run tiny so it cannot rot: what it measures and reports, no timings.

Runs only the metrics phase of ``python -m bench`` in smoke mode, on the database this test run
uses, on its own database name, into a temporary directory.
"""

import json
import os

import pytest

from bench.metrics import ENGINES, OPERATIONS
from bench.profiles import PROFILES
from tests.utils import run_bench_smoke

VENDOR = os.environ.get("DBSESSIONS_DB", "sqlite")
PROFILE = PROFILES["smoke"]


@pytest.fixture(scope="module")
def output(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bench_metrics")
    run_bench_smoke(directory, "bench_metrics_smoke", "--only", "metrics")
    return directory


def test_both_sides_of_every_case_are_timed_in_every_round(output):
    results = json.loads((output / "results.json").read_text())
    rows = {(r["engine"], r["op"]): r for r in results["vendors"][VENDOR]["metrics"]["rows"]}
    assert set(rows) == {(e, o) for e in ENGINES for o in OPERATIONS}
    for row in rows.values():
        for side in ("without", "with", "ratio"):
            assert len(row[side]["runs"]) == PROFILE.repeats
            assert row[side]["median"] > 0


def test_the_report_has_the_section(output):
    report = (output / "README.md").read_text()
    assert "## Metrics" in report
    assert "| with / without (p25-p75) |" in report
