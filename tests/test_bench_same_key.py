"""The same-key benchmark, run tiny so it cannot rot: what it measures and reports, no timings.

Runs only the same_key phase of ``python -m bench`` in smoke mode, on the database this test run
uses, on its own database name, into a temporary directory.
"""

import json
import os

import pytest

from bench.profiles import PROFILES
from bench.same_key import ENGINES, MODES, OPERATIONS
from tests.utils import run_bench_smoke

VENDOR = os.environ.get("DBSESSIONS_DB", "sqlite")
PROFILE = PROFILES["smoke"]


@pytest.fixture(scope="module")
def output(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bench_same_key")
    run_bench_smoke(directory, "bench_same_key_smoke", "--only", "same_key")
    return directory


@pytest.fixture(scope="module")
def same_key(output) -> dict:
    results = json.loads((output / "results.json").read_text())
    return results["vendors"][VENDOR]["same_key"]


def test_every_engine_and_operation_is_timed_against_the_plain_save(same_key):
    rows = {(r["engine"], r["op"]): r for r in same_key["cost"]}
    assert set(rows) == {(e, o) for e in ENGINES for o in OPERATIONS}
    for (_, op), row in rows.items():
        assert len(row["ops_per_s"]["runs"]) == PROFILE.repeats
        assert row["ops_per_s"]["median"] > 0
        if op == "save":
            assert row["ratio"]["runs"] == [1.0] * PROFILE.repeats


def test_contention_counts_add_up_and_neither_tool_loses_an_append(same_key):
    writes = PROFILE.threads * PROFILE.writes_per_thread
    rows = {(r["engine"], r["mode"]): r for r in same_key["contention"]}
    assert set(rows) == {(e, m) for e in ENGINES for m in MODES}
    for (_, mode), row in rows.items():
        assert row["errors"] == []
        assert row["writes"] == writes
        assert row["saved"] + row["conflicts"] == writes
        assert row["kept"] + row["lost"] == row["saved"]
        if mode != "last_wins":
            assert row["lost"] == 0
        if mode == "atomic_update":
            assert row["kept"] == writes and row["conflicts"] == 0


def test_the_report_has_the_section_and_the_targets(output):
    report = (output / "README.md").read_text()
    assert "## Same-key concurrency" in report
    assert 'one-key save, "detect"' in report
    results = json.loads((output / "results.json").read_text())
    targets = {t["target"] for t in results["targets"]}
    assert "detect overhead on one-key saves" in targets
    assert {"appends lost silently, detect", "appends lost silently, atomic_update"} <= targets
