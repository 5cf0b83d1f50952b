"""The soak test (``python -m bench soak``), run for a few seconds so that it cannot rot.

On the PostgreSQL and MariaDB runs the soak runs on this run's server, on a database of its own
(``soak_smoke`` plus ``DBSESSIONS_TEST_SUFFIX``), with ``dbsessions.backends.db`` and with
``cached_db`` on Redis, into a temporary directory: its results must have their structure,
every virtual user's session must be as it expected, no server error may fall outside the
moments of a kill, and kills and purges must have happened. No timing is asserted. SQLite is not
part of the soak; on every run, the pages the virtual users read are parsed as the demo site
serves them, and the bookkeeping of expected states and of kill windows is checked on its own.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from bench import soak
from bench.soak_users import (
    EMPTY,
    KINDS,
    Expectation,
    State,
    cart_change,
    csrf_token,
    parse_cart,
    parse_home,
    parse_nav_user,
)
from tests.utils import PASSWORD, PNG_SIGNATURE, redis_reachable

VENDOR = os.environ.get("DBSESSIONS_DB", "sqlite")
ROOT = Path(__file__).resolve().parent.parent
SECONDS = 8
USERS = 4
#: cached_db needs the soak's Redis; CI has one.
ENGINES = ["db", "cached_db"] if os.environ.get("CI") == "true" or redis_reachable() else ["db"]


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> Path:
    if VENDOR not in soak.VENDORS:
        pytest.skip(f"the soak runs on PostgreSQL and MariaDB, not {VENDOR}")
    directory = tmp_path_factory.mktemp("soak")
    db_name = "soak_smoke" + os.environ.get("DBSESSIONS_TEST_SUFFIX", "")
    command = [
        sys.executable, "-m", "bench", "soak", "--vendors", VENDOR,
        "--engines", ",".join(ENGINES), "--seconds", str(SECONDS), "--users", str(USERS),
        "--kill-every", "3", "--purge-every", "3", "--expired", "50", "--sample-every", "1",
        "--bucket", "2", "--db-name", db_name, "--output", str(directory),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    return directory


@pytest.fixture(scope="module")
def results(output) -> dict:
    return json.loads((output / "results.json").read_text())


@pytest.fixture(scope="module")
def configs(results) -> dict:
    assert results["skipped"] == {}
    assert list(results["configs"]) == [f"{VENDOR}-{engine}" for engine in ENGINES]
    return results["configs"]


def test_results_have_their_structure(results, configs):
    assert {"schema", "generated_at", "machine", "server", "options", "seconds"} <= set(results)
    assert results["options"]["seconds"] == SECONDS
    assert results["options"]["users"] == USERS
    for name, config in configs.items():
        assert config["vendor"] == VENDOR
        assert config["engine"] == soak.ENGINES[name.split("-", 1)[1]]
        assert set(config["criteria"]) == {
            "no_5xx_outside_kill_windows",
            "sessions_intact",
            "memory_flat",
        }
        assert config["passed"] == all(config["criteria"].values())
        # Every kind of request was made, the final check included.
        assert set(config["by_kind"]) == set(KINDS)
        assert config["requests"] == sum(sum(c.values()) for c in config["by_kind"].values())
        latency = config["latency_ms"]
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
        series = config["buckets"]
        assert [b["t"] for b in series] == [0, 2, 4, 6]
        assert all(b["requests"] > 0 and b["p50_ms"] <= b["p99_ms"] for b in series)
        memory = config["memory"]
        assert len(memory["workers"]) == 2  # bench.load.SERVER's two workers
        for worker in memory["workers"]:
            assert worker["baseline_kb"] > 0 and worker["last_kb"] > 0
            assert len(worker["samples"]) >= SECONDS - 1


def test_every_users_session_was_as_it_expected(configs):
    for config in configs.values():
        sessions = config["sessions"]
        assert sessions["users"] == USERS
        assert (sessions["lost"], sessions["changed"], sessions["unanswered"]) == (0, 0, 0)
        assert sessions["matched"] == USERS, sessions["examples"]
        assert sessions["mid_run_mismatches"] == 0, sessions["examples"]
        assert sessions["unexpected_responses"] == 0
        assert sessions["logins"] > 0 and sessions["logouts"] > 0
        assert config["criteria"]["sessions_intact"]


def test_no_server_error_outside_the_kill_windows(configs):
    for config in configs.values():
        errors = config["errors"]
        assert errors["5xx_outside_kill_windows"] == 0, errors["outside_examples"]
        assert errors["dropped_outside_kill_windows"] == 0, errors["outside_examples"]
        assert config["server_errors"]["outside_kill_windows"] == {}
        assert config["criteria"]["no_5xx_outside_kill_windows"]
        assert config["gunicorn_log"] == []


def test_connections_were_killed_and_sessions_purged(configs):
    for config in configs.values():
        kills = config["kills"]
        assert [round(kill["t"]) for kill in kills] == [3, 6]
        assert all(kill["killed"] > 0 for kill in kills)
        done = [purge for purge in config["purges"] if purge.get("ok")]
        assert done, config["purges"]
        for purge in done:
            assert purge["planted"] == 50
            assert purge["expired_left"] == 0


def test_cached_db_ran_on_redis(configs):
    for name, config in configs.items():
        if name.endswith("cached_db"):
            assert config["redis_keys"] > 0
        else:
            assert config["redis_keys"] is None


def test_charts_and_summary_are_written(output, configs):
    names = [f"soak-{name}.png" for name in configs] + ["soak-memory.png"]
    for name in names:
        assert (output / name).read_bytes().startswith(PNG_SIGNATURE)
    summary = (output / "README.md").read_text()
    assert summary.startswith("# Soak test\n")
    for name, config in configs.items():
        row = next(
            line
            for line in summary.splitlines()
            if line.startswith(f"| {soak.label(name, config)} |")
        )
        assert row.endswith(" | yes |" if config["passed"] else " | **no** |")
    for name in names:
        assert f"]({name})" in summary


# What runs on every database: the pages as the site serves them, and the bookkeeping -------


@pytest.mark.django_db(databases="__all__")
def test_the_users_read_the_demo_pages_as_served(client, alice):
    home = parse_home(client.get(reverse("home")).content.decode())
    assert home == {"visits": 0, "user": None}
    page = client.get(reverse("login")).content.decode()
    assert parse_nav_user(page) == (True, None)
    token = csrf_token(page)
    assert token
    form = {"csrfmiddlewaretoken": token, "username": "alice", "password": PASSWORD, "next": ""}
    client.handler.enforce_csrf_checks = True
    response = client.post(reverse("login"), form)
    assert (response.status_code, response["Location"]) == (302, "/")
    client.post(reverse("cart"), {"csrfmiddlewaretoken": csrf_token(
        client.get(reverse("cart")).content.decode()), "item": "tea", "action": "add"})  # fmt: skip
    assert parse_home(client.get(reverse("home")).content.decode()) == {
        "visits": 1,
        "user": "alice",
    }
    cart = client.get(reverse("cart")).content.decode()
    assert parse_cart(cart) == {"cart": (("tea", 1),), "user": "alice"}
    page = client.get(reverse("dbsessions:user_sessions")).content.decode()
    assert parse_nav_user(page) == (True, "alice")
    assert "<strong>This device</strong>" in page


def test_a_failed_request_leaves_either_state_until_a_page_tells():
    expect = Expectation()
    expect.apply(lambda s: State(visits=s.visits + 1))
    expect.failed(lambda s: State(visits=s.visits + 1))
    assert expect.states == [State(visits=1), State(visits=2)]
    assert expect.observe({"visits": 2, "user": None}, 1.0, "home")
    assert expect.states == [State(visits=2)]
    assert (expect.resolved, expect.mismatch_count) == (1, 0)


def test_a_page_that_shows_no_expected_state_is_a_mismatch():
    expect = Expectation()
    expect.apply(lambda s: State(visits=3, cart=cart_change(s.cart, "tea", "add"), user="ann"))
    assert not expect.observe({"visits": 0, "user": None}, 2.5, "home")
    assert expect.mismatch_count == 1
    assert expect.last_mismatch == {
        "t": 2.5,
        "kind": "home",
        "expected": [{"visits": 3, "cart": {"tea": 1}, "user": "ann"}],
        "served": {"visits": 0, "user": None},
    }
    # The user goes on from what it was served.
    assert expect.states == [State(visits=0, cart=(("tea", 1),), user=None)]


def test_a_failed_login_may_have_lost_the_session():
    expect = Expectation()
    expect.apply(lambda s: State(visits=4))
    expect.failed(
        lambda s: State(visits=s.visits, user="ann"), State(note="lost by a failed login")
    )
    assert expect.uncertain_user
    assert expect.observe({"visits": 0, "user": None}, 3.0, "home")
    assert expect.states == [EMPTY]
    assert expect.lost_by_failed_login == 1


def test_cart_changes_as_the_demo_view_does():
    cart = cart_change(cart_change((), "tea", "add"), "apple", "add")
    assert cart == (("apple", 1), ("tea", 1))
    assert cart_change(cart, "tea", "remove") == (("apple", 1),)
    assert cart_change(cart, "bread", "remove") == cart


def test_errors_are_told_apart_by_the_kill_windows():
    task = {**soak.task_of(soak.parser().parse_args(["--seconds", "20"])), "bucket": 10}
    final = KINDS.index("final")
    records = [
        [0.5, 10.0, 200, 0],
        [4.9, 200.0, 500, 0],  # in flight when the kill at 5.0 came
        [6.5, 10.0, 500, 1],  # within the 2 s window
        [12.0, 10.0, 500, 2],  # outside any window
        [13.0, 10.0, 0, 1],  # a dropped connection, outside
        [20.5, 10.0, 200, final],
    ]
    users = [
        {
            "index": 0,
            "logins": 1,
            "logouts": 0,
            "unexpected": 0,
            "mismatches": 0,
            "mismatch_examples": [],
            "resolved_after_failure": 1,
            "lost_by_failed_login": 0,
            "final": {"verdict": "matched"},
        }
    ]
    kills = [{"t": 5.0, "killed": 3}]
    samples = {7: [[0.0, 1000], [4.0, 1000], [10.0, 1050], [19.0, 1100]]}
    analysed = soak.analyse(records, users, kills, [], samples, [[12.01, "/", "E"]], task)
    errors = analysed["errors"]
    assert (errors["5xx_in_kill_windows"], errors["5xx_outside_kill_windows"]) == (2, 1)
    assert (errors["dropped_in_kill_windows"], errors["dropped_outside_kill_windows"]) == (0, 1)
    assert [x["t"] for x in errors["outside_examples"]] == [12.0, 13.0]
    assert analysed["server_errors"] == {"in_kill_windows": {}, "outside_kill_windows": {"E": 1}}
    assert analysed["criteria"] == {
        "no_5xx_outside_kill_windows": False,
        "sessions_intact": True,
        "memory_flat": True,  # 1050 -> 1100 kB after the 5 s warm-up: +4.8%
    }
    assert [b["requests"] for b in analysed["buckets"]] == [3, 2]  # the final check apart
    assert analysed["memory"]["workers"][0]["growth"] == pytest.approx(0.0476, abs=1e-4)


def test_memory_that_grows_or_a_replaced_worker_fails_the_criterion():
    grew = soak.memory({1: [[0, 100], [10, 100], [20, 111]]}, warmup=10)
    assert (grew["max_growth"], grew["flat"]) == (0.11, False)
    replaced = soak.memory({1: [[0, 100], [10, 100]], 2: [[10, 90], [20, 90]]}, warmup=0)
    assert (replaced["replaced"], replaced["flat"]) == (2, False)


def test_the_soak_refuses_sqlite():
    with pytest.raises(SystemExit):
        soak.parser().parse_args(["--vendors", "sqlite"])
