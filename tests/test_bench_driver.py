"""The driver-ceiling benchmark, run tiny so it cannot rot: what it measures and reports, no timings.

Runs only the driver phase of ``python -m bench`` in smoke mode, on the database this test run
uses, on its own database name, into a temporary directory.
"""

import json
import os
from pathlib import Path

import pytest

from bench.driver import OPERATIONS, TARGETS
from bench.profiles import PROFILES
from tests.utils import PNG_SIGNATURE, run_bench_smoke

VENDOR = os.environ.get("DBSESSIONS_DB", "sqlite")
PROFILE = PROFILES["smoke"]


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("bench_driver")
    done = run_bench_smoke(directory, "bench_driver_smoke", "--only", "driver")
    assert "WARNING" not in done.stderr
    return directory


@pytest.fixture(scope="module")
def results(output) -> dict:
    return json.loads((output / "results.json").read_text())


@pytest.fixture(scope="module")
def driver(results) -> dict:
    vendor = results["vendors"][VENDOR]
    assert set(vendor) == {"server_version", "seconds", "driver"}
    return vendor["driver"]


def test_every_size_and_operation_is_measured_on_both_sides(driver):
    rows = {(r["size"], r["op"]): r for r in driver["rows"]}
    assert set(rows) == {(s, o) for s in ("small", "large") for o in OPERATIONS}
    ops = {"small": PROFILE.ops_small, "large": PROFILE.ops_large}
    for (size, _), row in rows.items():
        assert row["ops_per_round"] == ops[size]
        for side in ("ceiling", "ours", "ratio"):
            summary = row[side]
            assert len(summary["runs"]) == PROFILE.repeats
            assert 0 < summary["p25"] <= summary["median"] <= summary["p75"]


def test_the_ceiling_sends_the_engines_statements(driver):
    assert driver["matches_engine"] is True
    assert driver["differences"] == []
    # A read is the load alone; a save the load and the touch with the upsert, in one
    # statement on PostgreSQL, else in a transaction.
    save = (2, 0) if VENDOR == "postgresql" else (3, 2)
    for row in driver["rows"]:
        expected = (1, 0) if row["op"] == "read" else save
        for side in ("ceiling", "ours"):
            sql = row["sql"][side]
            assert (sql["statements"], sql["transaction"]) == expected
            assert len(sql["sql"]) == sum(expected)
            assert all("'" not in text for text in sql["sql"])  # redacted: no literals
        assert row["sql"]["ceiling"]["sql"][0].startswith("SELECT ")


def test_server_side_statement_counts_on_mysql(driver):
    for row in driver["rows"]:
        ceiling, ours = row["sql"]["ceiling"], row["sql"]["ours"]
        if VENDOR != "mysql":
            assert "server" not in ceiling and "server" not in ours
            continue
        # The ceiling sends nothing beyond what it executes; Django's atomic also switches
        # autocommit.
        assert ceiling["server"] == ceiling["statements"] + ceiling["transaction"]
        assert ours["server"] >= ours["statements"] + ours["transaction"]


def test_the_connections_are_described(driver):
    for side in ("ceiling", "ours"):
        assert driver[side]["binding"]
        assert driver[side]["cursor"]
        assert driver[side]["transaction"]
    assert driver["ceiling"]["driver"]
    if VENDOR == "postgresql":
        assert driver["ceiling"]["binding"].startswith("server-side")
        assert driver["ceiling"]["results"] in ("binary", "text")
        # The engine's cursors, as traced: the load's and the save's write.
        assert driver["ours"]["binding"].startswith("load: ")
        assert "save's write: " in driver["ours"]["binding"]


def test_targets_are_evaluated_for_small_sessions(results, driver):
    targets = {t["target"]: t for t in results["targets"] if t["vendor"] == VENDOR}
    rows = {(r["size"], r["op"]): r for r in driver["rows"]}
    for op, target in TARGETS.items():
        check = targets[target]
        assert check["goal"] == ">= 0.5x"
        assert check["value"] == rows[("small", op)]["ratio"]["median"]
        assert check["met"] is (check["value"] >= 0.5)


def test_report_section_and_chart(output):
    text = (output / "README.md").read_text()
    section = text[text.index("## Driver ceiling") :]
    assert section.count("| load + read one key |") == 2
    assert section.count("| load + change one key + save |") == 2
    assert "the ceiling uses" in section
    assert (output / "driver-ceiling.png").read_bytes().startswith(PNG_SIGNATURE)
    assert "](driver-ceiling.png)" in text
