"""Session lifetime: what ``TOUCH_INTERVAL`` writes and what it costs, for both our engines.

- ``writes``: SQL writes of a logged-in user's read-only requests through Django's test client
  and ``SessionMiddleware``, 10 requests a second with the clock moved 0.1 s per request
  (time-machine: no real waiting), with ``TOUCH_INTERVAL = 60``, with
  ``SESSION_SAVE_EVERY_REQUEST`` and with neither.
- ``rate``: read-only requests per second with touches on (none due: the real clock never
  reaches the interval) against off, rounds interleaved as in ``bench.store``.
- ``touch``: the time of one touch-only save as built and, where the dialect lets a touch skip
  its flush wait (PostgreSQL: ``set_config('synchronous_commit', 'off', true)`` inside the
  UPDATE), without that: the commit then waits for its WAL flush.
"""

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from bench.data import payload
from bench.engines import ENGINES, store_class
from bench.profiles import Profile
from bench.sqlcount import is_control, is_write, redact
from bench.store import summarize
from dbsessions.conf import app_settings
from dbsessions.dialects import dialect_for

#: Only our engines have touches.
LIFETIME_ENGINES = ("dbsessions", "dbsessions_cached")
TOUCH_INTERVAL = 60
REQUESTS_PER_SECOND = 10
#: What the writes are counted under: DBSESSIONS keys and Django settings of each case.
CASES: dict[str, dict[str, Any]] = {
    "touch_interval": {"TOUCH_INTERVAL": TOUCH_INTERVAL},
    "save_every_request": {"SESSION_SAVE_EVERY_REQUEST": True},
    "neither": {},
}


@contextmanager
def configured(engine: str, case: dict[str, Any]) -> Iterator[None]:
    """``engine`` with one case's settings, the other DBSESSIONS keys as configured."""
    dbsessions = {k: v for k, v in case.items() if k == "TOUCH_INTERVAL"}
    with override_settings(
        SESSION_ENGINE=ENGINES[engine],
        SESSION_SAVE_EVERY_REQUEST=case.get("SESSION_SAVE_EVERY_REQUEST", False),
        DBSESSIONS={**getattr(settings, "DBSESSIONS", {}), "TOUCH_INTERVAL": None, **dbsessions},
    ):
        yield


def logged_in_client() -> Client:
    """A client whose session holds a small payload and a login, as after a sign-in."""
    user, _ = get_user_model().objects.get_or_create(username="bench-lifetime")
    client = Client()
    client.get("/seed/small/")
    client.force_login(user)
    return client


def _read(client: Client) -> Any:
    response = client.get("/read/")
    if response.status_code != 200:
        raise RuntimeError(f"/read/ answered {response.status_code}")
    return response


def writes(engine: str, case: str, requests: int) -> dict[str, Any]:
    """Writes of ``requests`` read-only requests, one every 0.1 s of a travelling clock."""
    start = datetime.now(UTC).replace(microsecond=0)
    step = timedelta(seconds=1 / REQUESTS_PER_SECOND)
    connection = connections[app_settings.DATABASE]
    statements = writing_requests = cookies = 0
    with configured(engine, CASES[case]), time_machine.travel(start, tick=False) as clock:
        client = logged_in_client()
        for i in range(1, requests + 1):
            clock.move_to(start + i * step)
            # The log holds 9,000 queries at most, and a full log captures nothing.
            connection.queries_log.clear()
            with CaptureQueriesContext(connection) as captured:
                response = _read(client)
            written = sum(1 for q in captured.captured_queries if is_write(q["sql"]))
            statements += written
            writing_requests += written > 0
            cookies += settings.SESSION_COOKIE_NAME in response.cookies
    return {
        "engine": engine,
        "case": case,
        "requests": requests,
        "writes": statements,
        "writing_requests": writing_requests,
        "cookies_set": cookies,
        "writes_per_1000": round(statements * 1000 / requests, 2),
        "expected_per_1000": round(_expected(case), 2),
    }


def _expected(case: str) -> float:
    if case == "touch_interval":
        return 1000 / (TOUCH_INTERVAL * REQUESTS_PER_SECOND)
    return 1000.0 if case == "save_every_request" else 0.0


def _rate(client: Client, requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        _read(client)
    return requests / (time.perf_counter() - started)


def _sql_per_request(client: Client) -> int:
    connection = connections[app_settings.DATABASE]
    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as captured:
        _read(client)
    return sum(1 for q in captured.captured_queries if not is_control(q["sql"]))


def rate(engine: str, profile: Profile, log: Callable[[str], None]) -> dict[str, Any]:
    """Read-only requests per second, touches on against off, in interleaved rounds."""
    sides = {"off": CASES["neither"], "on": CASES["touch_interval"]}
    # One client, one session: the sides differ in the setting alone.
    with configured(engine, sides["off"]):
        client = logged_in_client()
    sql: dict[str, int] = {}
    for side, case in sides.items():
        with configured(engine, case):
            _rate(client, 5)  # warm: connections, cached_db's cache, code paths
            sql[side] = _sql_per_request(client)
    # The machine's speed drifts from second to second: many short pairs of rounds, each
    # side first in every other pair, and the ratio is the median of the pairs' ratios.
    pairs = 4 * profile.repeats
    requests = max(1, profile.lifetime_rate_requests // 4)
    rates: dict[str, list[float]] = {side: [] for side in sides}
    for pair in range(pairs):
        if pair % 4 == 0:
            log(f"  lifetime rate {engine}: pair {pair + 1}/{pairs}")
        order = list(sides) if pair % 2 == 0 else list(reversed(sides))
        for side in order:
            with configured(engine, sides[side]):
                rates[side].append(_rate(client, requests))
    ratios = [on / off for off, on in zip(rates["off"], rates["on"], strict=True)]
    return {
        "engine": engine,
        "requests_per_round": requests,
        "off": summarize(rates["off"]),
        "on": summarize(rates["on"]),
        "ratio": statistics.median(ratios),
        "sql_per_request": sql,
    }


@contextmanager
def waiting_for_flush() -> Iterator[None]:
    """Touches that wait for their flush: on PostgreSQL, commits that wait for the WAL. The
    condition is a class attribute of the dialect, patched for the measurement only."""
    dialect = type(dialect_for(connections[app_settings.DATABASE]))
    with mock.patch.object(dialect, "skip_flush_condition", None):
        yield


class Toucher:
    """One session of ``engine`` touched over and over: the clock jumps one interval between
    loads, so each load finds a touch due and its save is a touch alone."""

    def __init__(self, engine: str, clock: Any) -> None:
        self.store = store_class(engine)
        self.clock = clock
        session = self.store()
        session.update(payload("small"))
        session.save()
        self.key = session.session_key

    def touch(self) -> float:
        """Seconds of one touch-only save (the load before it is not timed)."""
        self.clock.shift(TOUCH_INTERVAL)
        session = self.store(self.key)
        session["k0"]
        if not session.modified:
            raise RuntimeError("no touch was due after a whole interval")
        started = time.perf_counter()
        session.save()
        return time.perf_counter() - started

    def sql(self) -> list[str]:
        connection = connections[app_settings.DATABASE]
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as captured:
            self.touch()
        return [redact(q["sql"]) for q in captured.captured_queries]


def touch(profile: Profile, log: Callable[[str], None]) -> dict[str, Any]:
    """Milliseconds per touch as built and, where it skips its flush wait, waiting for it."""
    skip_flush = dialect_for(connections[app_settings.DATABASE]).skip_flush_condition
    variants: dict[str, Callable[[], AbstractContextManager[Any]]] = {"as_built": nullcontext}
    if skip_flush is not None:
        variants["waiting_for_flush"] = waiting_for_flush
    ms: dict[str, list[float]] = {name: [] for name in variants}
    sql: dict[str, list[str]] = {}
    engine = LIFETIME_ENGINES[0]
    travel = time_machine.travel(datetime.now(UTC))
    with configured(engine, CASES["touch_interval"]), travel as clock:
        toucher = Toucher(engine, clock)
        for name, variant in variants.items():
            with variant():
                sql[name] = toucher.sql()  # also the warm-up
        for repeat in range(profile.repeats):
            log(f"  lifetime touch: round {repeat + 1}/{profile.repeats}")
            for name, variant in variants.items():
                with variant():
                    spent = [toucher.touch() for _ in range(profile.touch_ops)]
                ms[name].append(1000 * sum(spent) / len(spent))
    medians = {name: summarize(values) for name, values in ms.items()}
    result: dict[str, Any] = {
        "engine": engine,
        "skip_flush_condition": skip_flush,
        "touches_per_round": profile.touch_ops,
        "ms_per_touch": medians,
        "sql": sql,
        "server": server_settings(),
    }
    if skip_flush is not None:
        result["ratio"] = medians["waiting_for_flush"]["median"] / medians["as_built"]["median"]
    return result


def server_settings() -> dict[str, str]:
    """The PostgreSQL settings a commit's durability depends on; nothing elsewhere."""
    connection = connections[app_settings.DATABASE]
    if connection.vendor != "postgresql":
        return {}
    names = ("fsync", "synchronous_commit", "wal_sync_method", "wal_writer_delay")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, setting || COALESCE(unit, '') FROM pg_settings WHERE name = ANY(%s)",
            [list(names)],
        )
        return dict(cursor.fetchall())


def run(profile: Profile, log: Callable[[str], None]) -> dict[str, Any]:
    writes_rows = []
    for engine in LIFETIME_ENGINES:
        for case in CASES:
            log(f"  lifetime writes {engine}: {case}")
            writes_rows.append(writes(engine, case, profile.lifetime_requests))
    return {
        "touch_interval": TOUCH_INTERVAL,
        "requests_per_second": REQUESTS_PER_SECOND,
        "writes": writes_rows,
        "rate": [rate(engine, profile, log) for engine in LIFETIME_ENGINES],
        "touch": touch(profile, log),
    }
