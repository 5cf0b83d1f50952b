"""The driver ceiling: the engine's own statements sent straight through the database driver.

For a read (load + read one key) and a one-key save (load + change one key + save), a
hand-written client (``Ceiling``) runs the statements ``dbsessions.backends.db`` sends, built by
the same dialect methods with the same parameters, on a connection of its own opened with the
driver (psycopg 3, mysqlclient, sqlite3) from ``settings.DATABASES["default"]``, without Django.
A traced read and save of each side are compared before the rounds (``matches_engine``). The
engine runs the same operations on the same sessions, interleaved with the ceiling within each
round (each side first in every other round), so that ours / ceiling is a same-run ratio: the
median of the rounds' ratios.
"""

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from django.conf import settings
from django.db import connections

from bench.data import SIZES
from bench.engines import OURS, StoredSessions
from bench.profiles import Profile
from bench.sqlcount import capture, is_control, redact
from bench.store import summarize
from bench.vendors import vendor_label
from dbsessions.conf import app_settings
from dbsessions.dialects import Dialect, dialect_for
from dbsessions.keys import hash_key

OPERATIONS = ("read", "save")
OP_LABELS = {"read": "load + read one key", "save": "load + change one key + save"}
#: The key each operation reads or changes, as in ``bench.store``.
READ_KEY, SAVED_KEY = "k0", StoredSessions.CHANGED_KEY
#: Untimed operations per side before the rounds: connections, caches, and psycopg's
#: statements prepared (after 5 executions, by default).
WARM_UP = 10
TARGET = 0.5
TARGETS = {"read": "read vs driver ceiling", "save": "one-key save vs driver ceiling"}


class Call(NamedTuple):
    """One statement as sent."""

    sql: str
    params: list[Any]
    #: Whether it asked for binary results (psycopg 3's ``Cursor.format``).
    binary: bool
    #: The driver's cursor class that sent it.
    cursor: type


# Django's SQLite backend turns ``%s`` into ``?`` (and ``%%`` into ``%``) the same way.
_FORMAT_MARK = re.compile(r"(?<!%)%s")
_TIME_TEXT = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")


def dumps(value: Any) -> bytes:
    """Django's ``JSONSerializer.dumps``, the engine's serializer in the benchmark settings."""
    return json.dumps(value, separators=(",", ":")).encode("latin-1")


def loads(data: bytes) -> Any:
    return json.loads(data.decode("latin-1"))


def _qmarks(sql: str) -> str:
    return _FORMAT_MARK.sub("?", sql).replace("%%", "%")


class SessionGone(Exception):
    """The touch matched no row: the engine raises UpdateError there."""


class Ceiling:
    """A hand-written client: the engine's statements for one session, on a raw connection."""

    def __init__(self, vendor: str, dialect: Dialect, database: dict[str, Any]) -> None:
        self.vendor = vendor
        self.connection, self.about = _connect(vendor, database)
        self.cursor = self.connection.cursor()
        marks = _qmarks if vendor == "sqlite" else str
        self.load_sql = marks(dialect.load_sql)
        self.one_statement = dialect.has_touch_and_upsert
        if self.one_statement:
            # The engine's save of one changed key without a transaction (PostgreSQL).
            self.save_sql = marks(dialect.touch_and_upsert_sql(1, False))
            self.about["transaction"] = "none: one statement in autocommit"
        else:
            assert dialect.has_upsert  # every vendor measured here has one
            self.touch_sql = marks(dialect.touch_session_sql(False))
            self.upsert_sql = marks(dialect.upsert_sql(1))
            self.about["transaction"] = f"{self.about['begin']} ... COMMIT"
        self.begin = self.about.pop("begin", None)
        self.time = _time_param(vendor)
        self.app_name = app_settings.APP_NAME
        self.age = timedelta(seconds=settings.SESSION_COOKIE_AGE)

    def close(self) -> None:
        self.connection.close()

    def _load(self, key_hash: str) -> list[tuple[Any, ...]]:
        cursor = self.cursor
        cursor.execute(self.load_sql, [key_hash, self.app_name, self.time(datetime.now(UTC))])
        return cursor.fetchall()

    def read(self, session_key: str, name: str) -> Any:
        """Every row of the session, then the one value read decoded."""
        stored = {row[4]: row[5] for row in self._load(hash_key(session_key))}
        return loads(stored[name])

    def save(self, session_key: str, name: str, value: Any) -> None:
        """Load the session, then write the changed value with the session row's touch."""
        key_hash = hash_key(session_key)
        rows = self._load(key_hash)
        stored = {row[4]: row[5] for row in rows}
        raw = dumps(value)
        if stored.get(name) == raw:
            return
        now = datetime.now(UTC)
        touch = [self.time(now), self.time(now + self.age), None, key_hash, self.app_name]
        cursor = self.cursor
        if self.one_statement:
            cursor.execute(self.save_sql, [*touch, name, raw])
            if cursor.rowcount == 0:
                raise SessionGone
            return
        cursor.execute(self.begin)
        try:
            cursor.execute(self.touch_sql, touch)
            if cursor.rowcount == 0:
                raise SessionGone
            cursor.execute(self.upsert_sql, [rows[0][0], name, raw])
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        cursor.execute("COMMIT")

    def results_in_binary(self, binary: bool) -> None:
        """Ask for binary results, as the engine may on PostgreSQL (``Dialect.fetch_all``):
        the same rows then travel and are decoded the same way on both sides."""
        if self.vendor != "postgresql":
            return
        import psycopg

        self.cursor.format = psycopg.pq.Format.BINARY if binary else psycopg.pq.Format.TEXT
        self.about["results"] = "binary" if binary else "text"

    @contextmanager
    def traced(self) -> Iterator[list[Call]]:
        """Every statement sent meanwhile, transaction control included."""
        calls: list[Call] = []
        cursor = self.cursor
        self.cursor = _Recorder(cursor, calls)
        try:
            yield calls
        finally:
            self.cursor = cursor


class _Recorder:
    """A cursor that notes what it executes."""

    def __init__(self, cursor: Any, calls: list[Call]) -> None:
        self._cursor = cursor
        self._calls = calls

    def execute(self, sql: str, *params: Any) -> Any:
        cursor = self._cursor
        self._calls.append(
            Call(sql, list(params[0]) if params else [], _binary(cursor), type(cursor))
        )
        return self._cursor.execute(sql, *params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


def _time_param(vendor: str) -> Callable[[datetime], Any]:
    """A UTC datetime as the ceiling passes it: PostgreSQL takes it as it is, mysqlclient a
    naive one (in UTC, as Django stores them); SQLite holds Django's text form of it."""
    if vendor == "postgresql":
        return lambda value: value
    if vendor == "mysql":
        return lambda value: value.replace(tzinfo=None)
    return lambda value: str(value.replace(tzinfo=None))


def _connect(vendor: str, database: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A raw connection with the settings Django's backend would give it, and what it is."""
    options = dict(database.get("OPTIONS") or {})
    if vendor == "postgresql":
        return _connect_postgresql(database, options)
    if vendor == "mysql":
        return _connect_mysql(database, options)
    return _connect_sqlite(database, options)


def _connect_postgresql(database: dict[str, Any], options: dict[str, Any]) -> tuple[Any, dict]:
    import psycopg

    isolation = options.pop("isolation_level", None)
    for django_only in ("server_side_binding", "pool", "assume_role"):
        options.pop(django_only, None)
    kwargs = {"dbname": database["NAME"], **options, "client_encoding": "UTF8"}
    for setting, name in (("USER", "user"), ("PASSWORD", "password"), ("HOST", "host")):
        if database.get(setting):
            kwargs[name] = database[setting]
    if database.get("PORT"):
        kwargs["port"] = database["PORT"]
    connection = psycopg.connect(**kwargs, autocommit=True)
    # Django's defaults: READ COMMITTED (the server's), the time zone of its connection.
    if isolation is not None:
        connection.isolation_level = psycopg.IsolationLevel(isolation)
    zone = connections["default"].timezone_name
    if connection.info.parameter_status("TimeZone") != zone:
        connection.execute("SELECT set_config('TimeZone', %s, false)", [zone])
    threshold = connection.prepare_threshold
    prepared = f"prepared after {threshold} executions" if threshold is not None else "unprepared"
    return connection, {
        "driver": f"psycopg {psycopg.__version__}",
        "cursor": "psycopg.Cursor",
        "binding": f"server-side (parameters sent apart from the SQL), {prepared}",
        "isolation": isolation or "READ COMMITTED",
    }


def _connect_mysql(database: dict[str, Any], options: dict[str, Any]) -> tuple[Any, dict]:
    import MySQLdb
    from MySQLdb.constants import CLIENT

    isolation = options.pop("isolation_level", "read committed")
    # Django's: UPDATE counts the rows it matched (the touch's check), not those it changed.
    kwargs: dict[str, Any] = {"charset": "utf8mb4", "client_flag": CLIENT.FOUND_ROWS}
    for setting, name in (("USER", "user"), ("NAME", "database"), ("PASSWORD", "password")):
        if database.get(setting):
            kwargs[name] = database[setting]
    host = database.get("HOST") or ""
    if host.startswith("/"):
        kwargs["unix_socket"] = host
    elif host:
        kwargs["host"] = host
    if database.get("PORT"):
        kwargs["port"] = int(database["PORT"])
    kwargs.update(options)
    connection = MySQLdb.connect(**kwargs, autocommit=True)
    if isolation:
        with connection.cursor() as cursor:
            cursor.execute(f"SET SESSION TRANSACTION ISOLATION LEVEL {isolation.upper()}")
    return connection, {
        "driver": f"mysqlclient {'.'.join(map(str, MySQLdb.version_info[:3]))}",
        "cursor": "MySQLdb.cursors.Cursor",
        "binding": "client-side (parameters escaped into the SQL text, mysqlclient's only way)",
        "isolation": (isolation or "the server's").upper(),
        "begin": "BEGIN",
    }


def _connect_sqlite(database: dict[str, Any], options: dict[str, Any]) -> tuple[Any, dict]:
    import sqlite3

    mode = options.pop("transaction_mode", None)
    init_command = options.pop("init_command", "")
    # isolation_level=None: autocommit, with explicit BEGIN, as Django runs it.
    connection = sqlite3.connect(database["NAME"], isolation_level=None, **options)
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA legacy_alter_table = OFF")
    for command in init_command.split(";"):
        if command.strip():
            connection.execute(command)
    return connection, {
        "driver": f"sqlite3 (SQLite {sqlite3.sqlite_version})",
        "cursor": "sqlite3.Cursor",
        "binding": "? placeholders bound by SQLite; no type detection (times stay text)",
        "isolation": "serializable (SQLite's only one)",
        "begin": f"BEGIN {mode}" if mode else "BEGIN",
    }


def _engine_about(vendor: str, traced: dict[str, list[Call]]) -> dict[str, Any]:
    """How the engine's statements reach the driver (PostgreSQL: as traced, per statement)."""
    connection = connections["default"]
    if vendor == "postgresql":
        import psycopg

        threshold = connection.connection.prepare_threshold
        seen: dict[str, str] = {}
        for op, calls in traced.items():
            for call in calls:
                client = issubclass(call.cursor, psycopg.ClientCursor)
                binding = "client-side binding" if client else "server-side binding"
                results = "binary results" if call.binary else "text results"
                cursor = f"{call.cursor.__module__}.{call.cursor.__qualname__}"
                what = "load" if _reads(call.sql) else f"{op}'s write"
                seen.setdefault(what, f"{what}: `{cursor}`, {binding}, {results}")
        prepared = f"prepared after {threshold}" if threshold is not None else "unprepared"
        return {
            "cursor": "Django's CursorWrapper over the driver's cursor",
            "binding": f"{'; '.join(seen.values())}; {prepared}",
            "transaction": "none: one statement in autocommit",
        }
    if vendor == "mysql":
        return {
            "cursor": "Django's CursorWrapper over MySQLdb.cursors.Cursor",
            "binding": "client-side (parameters escaped into the SQL text)",
            "transaction": "SET autocommit=0 ... COMMIT, SET autocommit=1 (Django's atomic)",
        }
    mode = connection.transaction_mode
    return {
        "cursor": "Django's CursorWrapper over its SQLiteCursorWrapper (%s rewritten to ?)",
        "binding": "? placeholders bound by SQLite; PARSE_DECLTYPES (times parsed per row)",
        "transaction": f"{f'BEGIN {mode}' if mode else 'BEGIN'} ... COMMIT (Django's atomic)",
    }


class Sessions(StoredSessions):
    """Stored sessions of one size, written by the engine, and the engine's operations on
    them (``bench.store``'s read and save), by index."""

    def __init__(self, size: str, pool_size: int) -> None:
        super().__init__(OURS, pool_size, size)

    def read(self, i: int) -> None:
        self.store(self.keys[i % len(self.keys)])[READ_KEY]

    def save(self, i: int) -> None:
        session = self.store(self.keys[i % len(self.keys)])
        session[SAVED_KEY] = self.changed_value()
        session.save()


# What each side sends ----------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A parameter as compared between the two sides: times masked (they differ by when the
    statement ran), binary wrappers unwrapped."""
    value = getattr(value, "obj", value)  # psycopg's Binary
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, datetime) or (isinstance(value, str) and _TIME_TEXT.match(value)):
        return "<time>"
    return value


def _binary(cursor: Any) -> bool:
    """Whether a driver cursor asks for binary results (psycopg 3's ``format``)."""
    return getattr(cursor, "format", 0) == 1


def _reads(sql: str) -> bool:
    return sql.lstrip()[:6].upper() == "SELECT"


def _comparable(calls: list[Call], vendor: str) -> list[tuple[str, list, bool | None]]:
    """Statements as compared: control left out (it differs by design, see ``about``), the
    result format for those that return rows."""
    marks = _qmarks if vendor == "sqlite" else str
    return [
        (marks(sql), [_plain(p) for p in params], binary if _reads(sql) else None)
        for sql, params, binary, _ in calls
        if not is_control(sql)
    ]


@contextmanager
def _engine_traced() -> Iterator[list[Call]]:
    """Every statement the engine sends through Django's cursors."""
    calls: list[Call] = []

    def record(execute, sql, params, many, context):  # noqa: ANN001, ANN202 (Django's hook)
        cursor = context["cursor"].cursor  # the driver's, under Django's wrapper
        calls.append(Call(sql, list(params or []), _binary(cursor), type(cursor)))
        return execute(sql, params, many, context)

    with connections["default"].execute_wrapper(record):
        yield calls


def compare(sessions: Sessions, ceiling: Ceiling) -> tuple[list[str], dict[str, list[Call]]]:
    """Trace a read and a save of one session on each side: how the statements differ,
    times aside ([] when they are the same), and the engine's. The ceiling first takes the
    result format of the engine's load."""
    key, vendor = sessions.keys[0], ceiling.vendor
    original, changed = sessions.payload[SAVED_KEY], sessions.changed_value()
    with _engine_traced() as engine_read:
        sessions.store(key)[READ_KEY]
    with _engine_traced() as engine_save:
        session = sessions.store(key)
        session[SAVED_KEY] = changed
        session.save()
    ceiling.results_in_binary(any(call.binary for call in engine_read if _reads(call.sql)))
    with ceiling.traced() as ceiling_read:
        ceiling.read(key, READ_KEY)
    ceiling.save(key, SAVED_KEY, original)  # back, so that the traced save changes it again
    with ceiling.traced() as ceiling_save:
        ceiling.save(key, SAVED_KEY, changed)
    differences = []
    for op, ours, theirs in (
        ("read", engine_read, ceiling_read),
        ("save", engine_save, ceiling_save),
    ):
        ours_cmp, theirs_cmp = _comparable(ours, vendor), _comparable(theirs, vendor)
        if ours_cmp != theirs_cmp:
            same_sql = [c[0] for c in ours_cmp] == [c[0] for c in theirs_cmp]
            differences.append(
                f"{op}: {'other parameters or result format' if same_sql else 'other SQL'}; "
                f"the engine sent {[redact(c[0]) for c in ours_cmp]}, the ceiling "
                f"{[redact(c[0]) for c in theirs_cmp]}"
            )
    return differences, {"read": engine_read, "save": engine_save}


def _sql(calls: list[Call]) -> dict[str, Any]:
    """The ceiling's statements for one operation, described as ``bench.sqlcount.capture``
    describes the engine's."""
    sqls = [call.sql for call in calls]
    return {
        "statements": sum(1 for s in sqls if not is_control(s)),
        "transaction": sum(1 for s in sqls if is_control(s)),
        "sql": [redact(s) for s in sqls],
    }


def _server_statements(cursor: Any, operation: Callable[[], object]) -> int:
    """Statements the MariaDB/MySQL server received for ``operation`` on this cursor's
    connection (its session's ``Questions``), transaction control included: Django's atomic
    switches autocommit with statements that no cursor sees."""

    def questions() -> int:
        cursor.execute("SHOW SESSION STATUS LIKE 'Questions'")
        return int(cursor.fetchone()[1])

    before = questions()
    operation()
    return questions() - before - 1  # the second SHOW counts itself


# Measurement ---------------------------------------------------------------------------------


def _rate(operation: Callable[[int], object], ops: int) -> float:
    start = time.perf_counter()
    for i in range(ops):
        operation(i)
    return ops / (time.perf_counter() - start)


def _sides(sessions: Sessions, ceiling: Ceiling) -> dict[str, dict[str, Callable[[int], object]]]:
    keys = sessions.keys

    def read(i: int) -> None:
        ceiling.read(keys[i % len(keys)], READ_KEY)

    def save(i: int) -> None:
        ceiling.save(keys[i % len(keys)], SAVED_KEY, sessions.changed_value())

    return {
        "ours": {"read": sessions.read, "save": sessions.save},
        "ceiling": {"read": read, "save": save},
    }


def _statements(vendor: str, sessions: Sessions, ceiling: Ceiling, op: str) -> dict[str, dict]:
    sides = _sides(sessions, ceiling)
    ours = capture(lambda: sides["ours"][op](0))
    with ceiling.traced() as calls:
        sides["ceiling"][op](0)
    theirs = _sql(calls)
    if vendor == "mysql":
        with connections["default"].cursor() as cursor:
            ours["server"] = _server_statements(cursor, lambda: sides["ours"][op](0))
        cursor = ceiling.connection.cursor()
        theirs["server"] = _server_statements(cursor, lambda: sides["ceiling"][op](0))
        cursor.close()
    return {"ceiling": theirs, "ours": ours}


def _measure(
    vendor: str, size: str, ceiling: Ceiling, profile: Profile, log: Callable[[str], None]
) -> tuple[list[dict[str, Any]], list[str], dict[str, list[Call]]]:
    ops = profile.ops_small if size == "small" else profile.ops_large
    sessions = Sessions(size, ops)
    differences, traced = compare(sessions, ceiling)
    sides = _sides(sessions, ceiling)
    for operations in sides.values():
        for op in OPERATIONS:
            _rate(operations[op], WARM_UP)
    rates: dict[tuple[str, str], list[float]] = {}
    for repeat in range(profile.repeats):
        log(f"  driver {size}: round {repeat + 1}/{profile.repeats}")
        order = ("ours", "ceiling") if repeat % 2 == 0 else ("ceiling", "ours")
        for op in OPERATIONS:
            for side in order:
                rates.setdefault((side, op), []).append(_rate(sides[side][op], ops))
    rows = []
    for op in OPERATIONS:
        ours, theirs = rates[("ours", op)], rates[("ceiling", op)]
        rows.append(
            {
                "size": size,
                "op": op,
                "ops_per_round": ops,
                "ceiling": summarize(theirs),
                "ours": summarize(ours),
                # Each round's ratio: both sides ran in it, one after the other.
                "ratio": summarize([o / c for o, c in zip(ours, theirs, strict=True)]),
                "sql": _statements(vendor, sessions, ceiling, op),
            }
        )
    return rows, differences, traced


def run(vendor: str, profile: Profile, log: Callable[[str], None]) -> dict[str, Any]:
    database = settings.DATABASES["default"]
    ceiling = Ceiling(vendor, dialect_for(connections["default"]), database)
    try:
        rows, differences, traced = [], [], {}
        for size in SIZES:
            measured, different, traced = _measure(vendor, size, ceiling, profile, log)
            rows += measured
            differences += [f"{size} session, {text}" for text in different]
        for text in differences:
            log(f"  driver: WARNING the ceiling's statements are not the engine's: {text}")
        return {
            "ceiling": ceiling.about,
            "ours": _engine_about(vendor, traced),
            "matches_engine": not differences,
            "differences": differences,
            "rows": rows,
        }
    finally:
        ceiling.close()


# Reporting -----------------------------------------------------------------------------------


def _row(driver: dict, size: str, op: str) -> dict[str, Any]:
    for row in driver["rows"]:
        if (row["size"], row["op"]) == (size, op):
            return row
    raise KeyError((size, op))


def checks(vendor_results: dict) -> list[tuple[str, str, float, bool]]:
    """Ours / ceiling for small sessions; a ceiling that sent other statements meets nothing."""
    driver = vendor_results["driver"]
    out = []
    for op, target in TARGETS.items():
        ratio = _row(driver, "small", op)["ratio"]["median"]
        out.append((target, f">= {TARGET}x", ratio, ratio >= TARGET and driver["matches_engine"]))
    return out


def _n(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _spread(summary: dict[str, float], cell: Callable[[float], str]) -> str:
    return f"{cell(summary['median'])} ({cell(summary['p25'])}-{cell(summary['p75'])})"


def _x(value: float) -> str:
    return f"{value:.2f}x"


def _statement_cell(sql: dict[str, Any]) -> str:
    text = f"{sql['statements']} + {sql['transaction']} tx"
    return f"{text} ({sql['server']} at the server)" if "server" in sql else text


def markdown(results: dict) -> list[str]:
    header = ["database", "operation", "size", "ceiling ops/s (p25-p75)", "ours ops/s (p25-p75)"]
    header += ["ours / ceiling (p25-p75)", "SQL ceiling", "SQL ours"]
    lines = [
        "## Driver ceiling",
        "",
        "The statements `dbsessions.backends.db` sends for a read and a one-key save, sent by a "
        "hand-written client straight through the database driver on a connection of its own "
        "(no Django), and the engine doing the same operations on the same sessions; each "
        "round runs both (each first in every other round), and ours / ceiling is the median "
        "of the rounds' ratios. The ceiling loads every row of the session and decodes the "
        "value read, and a save loads the session first, as the engine does.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    notes = []
    for name, vendor in results["vendors"].items():
        driver = vendor.get("driver")
        if not driver:
            continue
        label = vendor_label(name, vendor)
        for row in driver["rows"]:
            cells = [
                label,
                OP_LABELS[row["op"]],
                row["size"],
                _spread(row["ceiling"], _n),
                _spread(row["ours"], _n),
                _spread(row["ratio"], _x),
                _statement_cell(row["sql"]["ceiling"]),
                _statement_cell(row["sql"]["ours"]),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        ceiling, ours = driver["ceiling"], driver["ours"]
        results_format = ceiling.get("results")
        results_format = (
            f", {results_format} results as the engine's load" if results_format else ""
        )
        notes.append(
            f"- {label}: the ceiling uses {ceiling['driver']}, `{ceiling['cursor']}`, "
            f"{ceiling['binding']}{results_format}; a save's transaction: "
            f"{ceiling['transaction']}. The engine: {ours['cursor']}, {ours['binding']}; "
            f"{ours['transaction']}."
        )
        if not driver["matches_engine"]:
            notes.append(
                f"- **{label}: the ceiling did not send the engine's statements**, so the "
                f"ratios compare different work: {'; '.join(driver['differences'])}"
            )
    lines += ["", *notes]
    if any("server" in row["sql"]["ours"] for v in results["vendors"].values()
           for row in v.get("driver", {}).get("rows", [])):  # fmt: skip
        lines += [
            "",
            "At the server: the statements MariaDB/MySQL counted (`Questions`), the switches "
            "of autocommit included.",
        ]
    return lines


def charts(results: dict, directory: Path) -> list[str]:
    """Ours / ceiling per database and case, with the target line."""
    measured = {n: v for n, v in results["vendors"].items() if v.get("driver")}
    if not measured:
        return []
    from bench.charts import pyplot

    try:
        plt = pyplot()
    except ImportError:
        return []
    cases = [(size, op) for size in SIZES for op in OPERATIONS]
    figure, axis = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(measured)
    for n, (name, vendor) in enumerate(measured.items()):
        ratios = [_row(vendor["driver"], size, op)["ratio"]["median"] for size, op in cases]
        positions = [g + (n - (len(measured) - 1) / 2) * width for g in range(len(cases))]
        axis.bar(positions, ratios, width, label=vendor_label(name, vendor))
    axis.axhline(TARGET, color="#d95f02", linestyle="--", linewidth=1, label="target")
    axis.set_xticks(range(len(cases)), [f"{op} {size}" for size, op in cases])
    axis.set_ylabel("ours / driver ceiling (median)")
    axis.set_title("dbsessions against its own statements sent through the driver")
    axis.grid(axis="y", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    name = "driver-ceiling.png"
    figure.savefig(directory / name, dpi=90)
    plt.close(figure)
    return [name]
