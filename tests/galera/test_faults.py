"""One node fails under load: SIGKILL, a clean stop (SIGTERM), a partition of one node.

Virtual users (``tests/galera/load.py``) browse the demo site through HAProxy while one node
goes away and comes back. Requests in flight may fail; the asserts are that the site works
again by itself, that no session committed before or during the fault is lost or changed (each
virtual user's expected state, and sessions left idle, on every node, the node that came back
included), that no page shows stale data, and that an isolated node refuses to serve reads.
The figures are printed (``pytest -s``).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from django.db import DatabaseError, connections

from dbsessions.backends.db import SessionStore
from dbsessions.conf import app_settings
from tests.galera.cluster import Cluster, Node, on_node, wsrep_status
from tests.galera.load import Account, Figures, Load, RetryCounter, State
from tests.utils import CACHED_DB_ENGINE, REDIS_URL, clear_session_cache

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True)]

USERS = 16
IDLE_SESSIONS = 60
PASSWORD = "fault-tolerant"
#: Seconds of load before the fault, and of load once every node is back.
WARMUP = 3.0
STEADY = 3.0
#: Seconds the cluster runs without the failed node before it is brought back.
WITHOUT_NODE = 10.0
#: Failures must end, and requests succeed again, within this many seconds of the fault (or of
#: its end, for a partition that HAProxy's health check does not see).
RECOVERY_BOUND = 30.0


@pytest.fixture
def accounts(django_user_model, settings) -> list[Account]:
    # Logins under load: a cheap hasher keeps the 2 cores on the database work.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return [
        Account(f"user{index}", PASSWORD, user.pk)
        for index in range(USERS)
        if (user := django_user_model.objects.create_user(f"user{index}", password=PASSWORD))
    ]


def idle_sessions() -> dict[str, State]:
    """Sessions saved before the fault and not used during it."""
    sessions = {}
    for index in range(IDLE_SESSIONS):
        session = SessionStore()
        session["visits"] = index + 1
        session["cart"] = {"tea": index % 5 + 1}
        session.save()
        sessions[session.session_key] = State.of(dict(session.items()))
    return sessions


@contextmanager
def quiet_logs() -> Iterator[RetryCounter]:
    """500s and dbsessions' retry warnings counted, not printed."""
    counter = RetryCounter()
    request_log, sessions_log = (
        logging.getLogger("django.request"),
        logging.getLogger("dbsessions"),
    )
    saved = request_log.level, sessions_log.handlers[:]
    request_log.setLevel(logging.CRITICAL)
    sessions_log.handlers = [counter]
    try:
        yield counter
    finally:
        request_log.setLevel(saved[0])
        sessions_log.handlers = saved[1]


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> float:
    """Wait until ``condition()``; the moment (monotonic) it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s")
        time.sleep(0.1)
    return time.monotonic()


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def stored_state(key: str | None) -> State:
    return State() if key is None else State.of(SessionStore(key).load())


def table_checksums() -> tuple:
    tables = [app_settings.SESSION_TABLE, app_settings.ATTRIBUTE_TABLE]
    with connections["default"].cursor() as cursor:
        cursor.execute(f"CHECKSUM TABLE {', '.join(tables)}")
        return tuple(row[1] for row in cursor.fetchall())


def check_every_node(load: Load, idle: dict[str, State]) -> dict[str, int]:
    """Every session as expected on every node; all nodes hold the same rows."""
    sessions = load.sessions()
    wrong = []
    checksums = set()
    for number in (1, 2, 3):
        with on_node(number):
            for key, candidates in sessions:
                found = stored_state(key)
                if found not in candidates:
                    wrong.append((number, "virtual user", candidates, found))
            for key, expected in idle.items():
                found = stored_state(key)
                if found != expected:
                    wrong.append((number, "idle", expected, found))
            checksums.add(table_checksums())
    assert wrong == [], f"{len(wrong)} sessions lost or changed, first: {wrong[:3]}"
    assert len(checksums) == 1, f"the nodes hold different rows: {checksums}"
    return {
        "virtual users": len(sessions),
        "ambiguous (a failed write)": sum(len(c) > 1 for _, c in sessions),
        "idle": len(idle),
    }


@dataclass
class Scenario:
    name: str
    load: Load
    fault: float
    back: float  # when the node was being brought back (restart, or the partition's end)
    end: float
    notes: dict[str, str]

    def check_load(self) -> tuple[Figures, Figures]:
        results = self.load.results
        assert self.load.crashes == []
        stale = [r for r in results if r.kind == "stale page"]
        assert stale == [], f"{len(stale)} pages showed stale data: {stale[:3]}"
        before = [
            f"{r.action} {r.started - self.fault:+.2f} s: {r.kind}: {r.detail}"
            for r in results
            if r.ended < self.fault and not r.ok
        ]
        assert before == [], "requests failed before the fault"
        during = Figures.of(results, self.fault, until=self.back)
        after = Figures.of(results, self.back, in_flight=False)
        # The site works again by itself: requests succeed after the last failure, soon.
        for figures in (during, after):
            if figures.last_failure is not None:
                assert figures.last_failure < RECOVERY_BOUND, figures.line()
                assert figures.first_success_after is not None, figures.line()
        # Every node back, Synced: nothing fails any more.
        steady = [r for r in results if r.started > self.end - STEADY + 0.5]
        assert steady, "no requests once every node was back"
        assert [r.kind for r in steady if not r.ok] == []
        return during, after

    def report(self, during: Figures, after: Figures, checked: dict[str, int]) -> None:
        print(f"\n== {self.name}")
        for what, value in self.notes.items():
            print(f"   {what}: {value}")
        details = Counter(
            f"{r.action}: {r.kind}: {r.detail}" for r in self.load.results if not r.ok
        )
        for detail, count in details.most_common():
            print(f"   {count} x {detail}")
        print(f"   until the node is brought back: {during.line()}")
        print(f"   from then on: {after.line()}")
        print(
            "   sessions checked on each of 3 nodes: "
            + ", ".join(f"{what} {count}" for what, count in checked.items())
        )


def run(
    cluster: Cluster,
    accounts: list[Account],
    name: str,
    node: Node,
    fail: Callable[[], None],
    bring_back: Callable[[], None],
    watch: Callable[[float], dict[str, str]] | None = None,
) -> None:
    """Load, ``fail()``, WITHOUT_NODE seconds, ``bring_back()``, STEADY seconds; then check."""
    idle = idle_sessions()
    survivor = next(other for other in cluster.nodes if other != node)
    notes: dict[str, str] = {}
    with quiet_logs() as retries:
        load = Load(accounts, seed=len(name)).start()
        try:
            time.sleep(WARMUP)
            fault = time.monotonic()
            fail()
            notes["fault took"] = f"{time.monotonic() - fault:.1f} s"
            gone = wait_for(lambda: cluster.cluster_size(survivor) == 2, RECOVERY_BOUND)
            notes["the others saw it gone after"] = f"{gone - fault:.1f} s"
            if watch is not None:
                notes.update(watch(fault))
            sleep_until(fault + WITHOUT_NODE)
            back = time.monotonic()
            bring_back()
            cluster.wait_synced()
            notes["node back and every node Synced after"] = f"{time.monotonic() - back:.1f} s"
            time.sleep(STEADY)
            end = time.monotonic()
        finally:
            load.stop()
        notes["retries after a conflict"] = str(retries.retries)
    scenario = Scenario(name, load, fault, back, end, notes)
    during, after = scenario.check_load()
    checked = check_every_node(load, idle)
    scenario.report(during, after, checked)


def state_transfer(node: Node, since: int) -> str:
    """How the node caught up: from its log, written after offset ``since``."""
    with open(node.log, errors="replace") as log:
        log.seek(since)
        text = log.read()
    if "IST received" in text or "Receiving IST" in text:
        return "IST"
    if "SST" in text and "State transfer required" in text:
        return "SST"
    return "none needed"


def log_size(node: Node) -> int:
    return node.log.stat().st_size


@pytest.fixture
def engine(request, settings) -> Iterator[str]:
    """The SESSION_ENGINE of the load: the database alone, or Redis in front (docs/scaling.md)."""
    settings.SESSION_ENGINE = request.param
    if request.param == CACHED_DB_ENGINE:
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_URL,
                "OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
            }
        }
        clear_session_cache()
    yield request.param
    if request.param == CACHED_DB_ENGINE:
        clear_session_cache()


@pytest.mark.parametrize(
    "number, label, fail, engine",
    [
        (1, "SIGKILL node1", Cluster.kill_node, "dbsessions.backends.db"),
        (2, "SIGTERM node2", Cluster.stop_node, "dbsessions.backends.db"),
        (1, "SIGKILL node1, cached_db on Redis", Cluster.kill_node, CACHED_DB_ENGINE),
    ],
    ids=["sigkill", "clean-stop", "sigkill-cached_db"],
    indirect=["engine"],
)
def test_one_node_killed_or_stopped_mid_load(cluster, accounts, number, label, fail, engine):
    node = cluster.node(number)
    offset = log_size(node)
    notes: dict[str, str] = {}

    def bring_back() -> None:
        started = time.monotonic()
        cluster.start_node(node)
        notes["restart"] = f"{time.monotonic() - started:.1f} s, {state_transfer(node, offset)}"

    run(cluster, accounts, label, node, lambda: fail(cluster, node), bring_back)
    print(f"   {node.name} restart: {notes['restart']}")


def test_partition_of_one_node_mid_load(cluster, accounts):
    node, other = cluster.node(3), cluster.node(1)
    canary = SessionStore()
    canary["cart"] = {"before": 1}
    canary.save()
    key = canary.session_key

    def watch(fault: float) -> dict[str, str]:
        """Once the others have moved on, a change on them; the isolated node must refuse to
        show the old data."""
        with on_node(other.number):
            session = SessionStore(key)
            session["cart"] = {"after": 1}
            session.save()
        refusals: dict[str, int] = {}
        deadline = time.monotonic() + 2.0
        with on_node(node.number):
            while time.monotonic() < deadline:
                try:
                    seen = SessionStore(key).load()
                except DatabaseError as exc:
                    cause = exc.__cause__ or exc
                    code = str(cause.args[0]) if cause.args else type(exc).__name__
                    refusals[code] = refusals.get(code, 0) + 1
                    connections["default"].close()
                else:
                    raise AssertionError(f"the isolated node answered a read: {seen}")
                time.sleep(0.1)
        status = wsrep_status(node).get("wsrep_cluster_status", "?")
        assert status != "Primary"
        return {
            "isolated node": f"{status}; its reads: {refusals}",
        }

    run(
        cluster,
        accounts,
        "partition of node3",
        node,
        lambda: cluster.isolate_node(node, True),
        lambda: cluster.isolate_node(node, False),
        watch,
    )
    with on_node(node.number):
        assert SessionStore(key).load() == {"cart": {"after": 1}}
