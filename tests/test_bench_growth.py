"""The growth benchmark, run tiny so it cannot rot: what it fills and reports, no timings.

Runs only the growth phase of ``python -m bench``, in smoke mode (a few thousand sessions), on
the database this test run uses, on its own database name, into a temporary directory.
"""

import json
import os
from pathlib import Path

import pytest

from bench.fill import ATTRIBUTES
from bench.growth import OPERATIONS, PERCENTILES, SAMPLES, SIZES, TARGET_VENDORS
from tests.utils import PNG_SIGNATURE, run_bench_smoke

VENDOR = os.environ.get("DBSESSIONS_DB", "sqlite")


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("bench_growth")
    run_bench_smoke(directory, "bench_growth_smoke", "--only", "growth")
    return directory


@pytest.fixture(scope="module")
def results(output) -> dict:
    return json.loads((output / "results.json").read_text())


@pytest.fixture(scope="module")
def growth(results) -> dict:
    vendor = results["vendors"][VENDOR]
    assert set(vendor) == {"server_version", "seconds", "growth"}
    return vendor["growth"]


def test_every_size_is_measured_in_order(growth):
    assert growth["vendor"] == VENDOR
    assert growth["sizes"] == list(SIZES["smoke"])
    assert [point["sessions"] for point in growth["points"]] == list(SIZES["smoke"])
    assert growth["buffer_pool"]["bytes"] > 0
    assert growth["buffer_pool"]["settings"]


def test_the_table_holds_exactly_the_filled_sessions(growth):
    for point in growth["points"]:
        assert point["counted"] == {
            "sessions": point["sessions"],
            "attributes": point["sessions"] * len(ATTRIBUTES),
        }
        assert point["bytes"] > 0
        assert point["plan"]


def test_every_sampled_load_found_its_session(growth):
    for point in growth["points"]:
        for op in OPERATIONS:
            measured = point["ops"][op]
            assert measured["samples"] == SAMPLES["smoke"]
            assert measured["found"] == measured["samples"]
            assert measured["missing"] == 0


def test_percentiles_are_present_and_ordered(growth):
    for point in growth["points"]:
        for op in (*OPERATIONS, "control"):
            latencies = [point["ops"][op][p] for p in PERCENTILES]
            assert 0 < latencies[0] <= latencies[1] <= latencies[2] <= point["ops"][op]["max"]
    for op in OPERATIONS:
        assert set(growth["ratios"][op]) == {"p50", "p99"}
        assert all(ratio > 0 for ratio in growth["ratios"][op].values())


def test_server_databases_count_the_buffer_pool(growth):
    for point in growth["points"]:
        if VENDOR == "sqlite":
            assert point["cache"] == {}
        else:
            assert point["cache"]["lookups"] > 0
            assert 0 <= point["cache"]["hit_ratio"] <= 1


def test_targets_are_checked_on_server_databases(results):
    rows = [row for row in results["targets"] if row["vendor"] == VENDOR]
    targets = {row["target"].split(",")[0] for row in rows}
    if VENDOR in TARGET_VENDORS:
        assert targets == {f"{op} {p}" for op in OPERATIONS for p in ("p50", "p99")}
    else:
        assert targets == set()


def test_report_and_chart(output):
    readme = (output / "README.md").read_text()
    smallest, largest = SIZES["smoke"][0], SIZES["smoke"][-1]
    assert f"## Growth: {smallest:,} to {largest:,} sessions" in readme
    assert (output / "growth.png").read_bytes().startswith(PNG_SIGNATURE)
