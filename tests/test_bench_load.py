"""The load phase, run tiny so it cannot rot: every case ran, on Redis, without errors.

Runs only the load phase of ``python -m bench`` in smoke mode on the database this test run
uses, on its own database name, into a temporary directory; no timings are asserted. The cached
engines need the benchmark's Redis (``BENCH_REDIS_URL``, whose database the phase empties).
"""

import json
import os
from pathlib import Path

import pytest

from bench.engines import ENGINES
from bench.load import CACHED, MODES, PAGES, PAIRS, USERS
from tests.utils import PNG_SIGNATURE, needs_redis, run_bench_smoke

VENDOR = os.environ.get("DBSESSIONS_DB", "sqlite")
MODE = MODES["smoke"]


pytestmark = needs_redis()


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("bench_load")
    run_bench_smoke(directory, "bench_load_smoke", "--only", "load")
    return directory


@pytest.fixture(scope="module")
def results(output) -> dict:
    return json.loads((output / "results.json").read_text())


@pytest.fixture(scope="module")
def load(results) -> dict:
    vendor = results["vendors"][VENDOR]
    assert set(vendor) == {"server_version", "seconds", "load"}
    return vendor["load"]


def test_every_engine_users_and_page_ran_without_errors(load):
    cases = {(r["engine"], r["size"], r["users"], r["page"]) for r in load["rows"]}
    assert cases == {
        (e, s, u, p) for e in ENGINES for s in MODE.sizes for u in USERS for p in PAGES
    }
    for row in load["rows"]:
        assert row["requests"] > 0
        assert row["errors"] == 0
        assert len(row["runs"]) == MODE.rounds
        assert row["requests_per_s"] > 0
        latency = row["latency_ms"]
        assert set(latency) == {"p50", "p95", "p99"}
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]


def test_cpu_per_request_is_counted_for_each_part_of_the_server(load):
    for row in load["rows"]:
        groups = {"app"} | ({"database"} if VENDOR != "sqlite" else set())
        groups |= {"cache"} if row["engine"] in CACHED else set()
        assert set(row["cpu_ms"]) == groups
        assert all(ms >= 0 for ms in row["cpu_ms"].values())


def test_each_user_kept_its_cookie(load):
    # Each user seeds one session; one that lost its cookie would have written new ones.
    for row in load["rows"]:
        assert row["new_sessions"] == [row["users"]] * MODE.rounds


def test_cached_engines_ran_on_redis(load):
    for row in load["rows"]:
        if row["engine"] in CACHED:
            assert row["cache"] == "redis"
            assert row["redis_keys"] > 0
        else:
            assert row["cache"] is None


def test_server_generators_and_ceiling_are_described(load):
    assert load["server"]["workers"] > 1
    assert load["server"]["cores"] >= 1
    assert load["generators"] >= 1
    assert [c["users"] for c in load["ceiling"]] == list(USERS)
    for ceiling in load["ceiling"]:
        assert ceiling["requests"] > 0
        assert ceiling["errors"] == 0
        assert ceiling["generator_cpu"] > 0


def test_targets_compare_ours_with_django_at_each_users_and_page(results):
    rows = [t for t in results["targets"] if t["vendor"] == VENDOR]
    assert len(rows) == len(USERS) * len(PAGES) * len(PAIRS)
    for users in USERS:
        for ours, base in PAIRS.items():
            found = [
                t for t in rows if f"{users} users" in t["target"] and f"{ours} / " in t["target"]
            ]
            assert len(found) == len(PAGES)
            assert all(base in t["target"] and t["goal"] == ">= 1.0x" for t in found)
    assert all(t["value"] > 0 and isinstance(t["met"], bool) for t in rows)


def test_report_has_the_section_and_the_chart(output):
    text = (output / "README.md").read_text()
    assert "## Under load: gunicorn, 8 and 32 users" in text
    assert "| redis |" in text
    assert "CPU ms/req: app / db / cache" in text
    chart = output / f"load-{VENDOR}.png"
    assert chart.read_bytes().startswith(PNG_SIGNATURE)
    assert f"]({chart.name})" in text
