"""The benchmark harness, run tiny so it cannot rot: structure of its outputs, no timings.

Runs ``python -m bench --mode smoke`` (every phase, the purge included) on the database this
test run uses, into a temporary directory (never ``docs/benchmarks``), on its own database name.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.child import PHASES
from bench.engines import ENGINES, OURS, STORE_ENGINES
from bench.lifetime import CASES, LIFETIME_ENGINES, REQUESTS_PER_SECOND, TOUCH_INTERVAL
from bench.profiles import PROFILES
from bench.store import OPERATIONS
from tests.utils import PNG_SIGNATURE, run_bench_smoke

ROOT = Path(__file__).resolve().parent.parent
VENDOR = os.environ.get("DBSESSIONS_DB", "sqlite")
PROFILE = PROFILES["smoke"]


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("bench")
    run_bench_smoke(directory, "bench_dbsessions_smoke")
    return directory


@pytest.fixture(scope="module")
def results(output) -> dict:
    return json.loads((output / "results.json").read_text())


@pytest.fixture(scope="module")
def measured(results) -> dict:
    return results["vendors"][VENDOR]


def test_results_describe_the_run(results):
    assert results["mode"] == "smoke"
    assert results["skipped"] == {}
    assert list(results["vendors"]) == [VENDOR]
    assert results["profile"] == PROFILE.as_dict()
    assert results["machine"]["cores"] >= 1
    assert results["machine"]["packages"]["Django"]
    assert results["vendors"][VENDOR]["server_version"]


def test_store_level_covers_every_engine_size_and_operation(measured):
    cases = {(r["engine"], r["size"], r["op"]) for r in measured["store"]}
    assert cases == {
        (e, s, o) for e in STORE_ENGINES for s in ("small", "large") for o in OPERATIONS
    }
    for row in measured["store"]:
        rate = row["ops_per_s"]
        assert len(rate["runs"]) == PROFILE.repeats
        assert 0 < rate["p25"] <= rate["median"] <= rate["p75"]
        assert row["sql"]["statements"] == len(row["sql"]["sql"]) - row["sql"]["transaction"]


def test_sql_samples_never_hold_session_keys(measured):
    for row in measured["store"]:
        for sql in row["sql"]["sql"]:
            assert "'" not in sql


def test_read_only_request_costs_one_query(measured):
    reads = [r for r in measured["request_sql"] if r["engine"] == OURS and r["page"] == "read"]
    assert [(r["statements"], r["transaction"]) for r in reads] == [(1, 0), (1, 0)]


def test_concurrency_reports_every_engine_and_ours_loses_nothing(measured):
    rows = {r["engine"]: r for r in measured["concurrency"]}
    assert set(rows) == set(ENGINES)
    writes = PROFILE.threads * PROFILE.writes_per_thread
    for row in rows.values():
        assert row["distinct_keys"]["writes"] == row["same_key"]["writes"] == writes
    assert rows[OURS]["distinct_keys"]["lost_updates"] == 0
    assert rows[OURS]["same_key"]["errors"] == 0


def test_storage_is_measured_on_server_databases(measured):
    engines = {r["engine"]: r for r in measured["storage"]}
    if VENDOR == "sqlite":
        assert engines == {}
    else:
        assert set(engines) == {"dbsessions", "django_db"}
        assert all(r["bytes_per_session"] > 0 for r in engines.values())


def test_lifetime_counts_the_writes_of_read_only_requests(measured):
    rows = {(r["engine"], r["case"]): r for r in measured["lifetime"]["writes"]}
    assert set(rows) == {(e, c) for e in LIFETIME_ENGINES for c in CASES}
    requests = PROFILE.lifetime_requests
    touches = requests // (TOUCH_INTERVAL * REQUESTS_PER_SECOND)
    assert touches >= 1  # the smoke profile spans at least one interval
    for engine in LIFETIME_ENGINES:
        touched, every, neither = (rows[(engine, case)] for case in CASES)
        assert all(r["requests"] == requests for r in (touched, every, neither))
        # A touch is one UPDATE, and refreshes the cookie; reads within the interval write
        # nothing.
        assert touched["writes"] == touched["writing_requests"] == touches
        assert touched["cookies_set"] == touches
        assert every["writing_requests"] == every["cookies_set"] == requests
        assert (neither["writes"], neither["cookies_set"]) == (0, 0)
        assert touched["writes_per_1000"] == round(touches * 1000 / requests, 2)


def test_lifetime_rate_compares_touches_on_and_off(measured):
    rows = {r["engine"]: r for r in measured["lifetime"]["rate"]}
    assert set(rows) == set(LIFETIME_ENGINES)
    for row in rows.values():
        for side in ("off", "on"):
            assert len(row[side]["runs"]) == 4 * PROFILE.repeats
            assert row[side]["median"] > 0
        # The median of the pairs' ratios, each pair a round of each side.
        pairs = [on / off for off, on in zip(row["off"]["runs"], row["on"]["runs"], strict=True)]
        assert min(pairs) <= row["ratio"] <= max(pairs)
    # Whether a touch is due costs no query: a cached read is still none, ours still one.
    assert rows["dbsessions"]["sql_per_request"] == {"off": 1, "on": 1}
    assert rows["dbsessions_cached"]["sql_per_request"] == {"off": 0, "on": 0}


def test_lifetime_touch_cost_with_and_without_the_flush_wait(measured):
    touch = measured["lifetime"]["touch"]
    writes = [sql for sql in touch["sql"]["as_built"] if sql.startswith("UPDATE")]
    assert len(writes) == 1
    if VENDOR == "postgresql":
        skip_flush = touch["skip_flush_condition"]
        assert skip_flush.startswith("set_config('synchronous_commit', 'off', true)")
        assert set(touch["ms_per_touch"]) == {"as_built", "waiting_for_flush"}
        # The samples are redacted (literals become ?): look for the function.
        assert [sql for sql in touch["sql"]["as_built"] if "set_config(" in sql] == writes
        assert not any("set_config(" in sql for sql in touch["sql"]["waiting_for_flush"])
        assert touch["ratio"] > 0
        assert touch["server"]["synchronous_commit"] == "on"
    else:
        assert touch["skip_flush_condition"] is None
        assert set(touch["ms_per_touch"]) == {"as_built"}
        assert "ratio" not in touch
    for summary in touch["ms_per_touch"].values():
        assert len(summary["runs"]) == PROFILE.repeats
        assert 0 < summary["p25"] <= summary["median"] <= summary["p75"]


def test_targets_are_evaluated(results):
    targets = {t["target"]: t for t in results["targets"]}
    assert "one-key save, large" in targets
    assert "lost updates" in targets
    assert all(isinstance(t["met"], bool) for t in targets.values())


def test_every_phase_ran_and_was_timed(measured):
    assert set(measured["seconds"]) == set(PHASES)
    assert measured["purge"]["expired"] == PROFILE.purge_sessions


def test_markdown_report_has_the_tables(output, results):
    text = (output / "README.md").read_text()
    headings = ("## Targets", "## Store level", "## Concurrent saves", "## Purge")
    headings += ("## Session lifetime",)
    for heading in headings:
        assert heading in text
    rows = [line for line in text.splitlines() if line.startswith("| load + change one key")]
    assert len(rows) == 2  # the store table's, small and large


def test_report_is_rewritten_from_the_results(output):
    readme = output / "README.md"
    written = readme.read_text()
    readme.unlink()
    command = [sys.executable, "-m", "bench", "report", str(output)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert readme.read_text() == written


def test_charts_are_png_files(output):
    names = {p.name for p in output.glob("*.png")}
    assert f"store-{VENDOR}.png" in names
    for name in names:
        assert (output / name).read_bytes().startswith(PNG_SIGNATURE)
        assert f"]({name})" in (output / "README.md").read_text()
