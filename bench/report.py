"""``docs/benchmarks/README.md`` from ``results.json``: medians, spreads and ratios.

``python -m bench report [DIR]`` rewrites it and the charts from ``DIR/results.json``.
"""

import json
from pathlib import Path
from typing import Any

from bench import charts, sections
from bench.engines import BASELINE, OURS, STORE_ENGINES
from bench.store import OPERATIONS as OPS
from bench.vendors import vendor_label

OP_LABELS = {
    "create": "create",
    "read": "load + read one key (cached engines: a hit)",
    "read_after_save": "load + read one key, after a save",
    "save": "load + change one key + save",
    "save_loaded": "change one key + save (loaded)",
    "cycle_key": "load + cycle_key",
}


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _n(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _x(value: float) -> str:
    return f"{value:.2f}x"


def _targets(results: dict) -> str:
    vendors = list(results["vendors"])
    by_target: dict[str, dict[str, dict]] = {}
    goals = {}
    for row in results["targets"]:
        by_target.setdefault(row["target"], {})[row["vendor"]] = row
        goals[row["target"]] = row["goal"]
    rows = []
    for target, cells in by_target.items():
        line = [target, goals[target]]
        for vendor in vendors:
            cell = cells.get(vendor)
            if cell is None:
                line.append("n/a")
                continue
            value = cell["value"]
            if "x" in cell["goal"] or "0.75" in cell["goal"]:
                text = _x(value)
            elif isinstance(value, float):
                text = f"{value:,.2f}" if value < 10 else f"{value:,.0f}"
            else:
                text = str(value)
            line.append(f"{text} {'met' if cell['met'] else '**missed**'}")
        rows.append(line)
    header = ["target", "goal"] + [vendor_label(v, results["vendors"][v]) for v in vendors]
    return _table(header, rows)


def _store(vendor: dict) -> str:
    index = {(r["engine"], r["size"], r["op"]): r for r in vendor["store"]}
    header = ["operation", "size"]
    for engine in STORE_ENGINES:
        header.append(f"{engine} ops/s (p25-p75)")
    header += [f"{OURS} / {BASELINE}"] + [f"SQL {engine}" for engine in STORE_ENGINES]
    rows = []
    for size in ("small", "large"):
        for op in OPS:
            line: list[Any] = [OP_LABELS[op], size]
            for engine in STORE_ENGINES:
                s = index[(engine, size, op)]["ops_per_s"]
                line.append(f"{_n(s['median'])} ({_n(s['p25'])}-{_n(s['p75'])})")
            ours = index[(OURS, size, op)]["ops_per_s"]["median"]
            base = index[(BASELINE, size, op)]["ops_per_s"]["median"]
            line.append(_x(ours / base))
            for engine in STORE_ENGINES:
                sql = index[(engine, size, op)]["sql"]
                line.append(f"{sql['statements']} + {sql['transaction']} tx")
            rows.append(line)
    return _table(header, rows)


def _concurrency(results: dict) -> str:
    rows = []
    for name, vendor in results["vendors"].items():
        for r in vendor.get("concurrency", []):
            d, s = r["distinct_keys"], r["same_key"]
            rows.append(
                [
                    vendor_label(name, vendor),
                    r["engine"],
                    f"{d['lost_updates']} of {d['writes']}",
                    d["errors"],
                    f"{s['errors']} of {s['writes']}",
                    ", ".join(
                        f"{k}: {v}" for k, v in {**d["error_types"], **s["error_types"]}.items()
                    ),
                ]
            )
    header = ["database", "engine", "lost updates (distinct keys)", "errors (distinct)"]
    header += ["errors (same key)", "error types"]
    return _table(header, rows)


def _storage(results: dict) -> str:
    rows = []
    for name, vendor in results["vendors"].items():
        sizes = {r["engine"]: r for r in vendor.get("storage", [])}
        if OURS in sizes and BASELINE in sizes:
            ours, base = sizes[OURS], sizes[BASELINE]
            rows.append(
                [
                    vendor_label(name, vendor),
                    ours["sessions"],
                    _n(ours["bytes_per_session"]),
                    _n(base["bytes_per_session"]),
                    _x(ours["bytes_per_session"] / base["bytes_per_session"]),
                ]
            )
    header = ["database", "sessions", f"{OURS} bytes/session", f"{BASELINE} bytes/session"]
    return _table(header + ["ratio"], rows)


def _purge(results: dict) -> str:
    rows = []
    for name, vendor in results["vendors"].items():
        if "purge" in vendor:
            r = vendor["purge"]
            ours, django, ceiling = r["purge_sessions"], r["clearsessions"], r["unbatched"]
            rows.append(
                [
                    vendor_label(name, vendor),
                    f"{r['expired']:,} + {r['live']:,}",
                    f"{_n(ours['sessions_per_s'])} ({_n(ours['rows_per_s'])})",
                    f"{ours['max_stall_ms']:.0f} ({ours['slow_saves']} of {ours['writer_saves']})",
                    _n(django["sessions_per_s"]),
                    f"{django['max_stall_ms']:.0f}",
                    _n(ceiling["sessions_per_s"]),
                ]
            )
    header = ["database", "expired + live", "purge_sessions sessions/s (rows/s)"]
    header += ["longest save ms (saves over 100 ms)", "clearsessions sessions/s"]
    return _table(header + ["its longest save ms", "unbatched DELETEs sessions/s"], rows)


def _per_1000(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def _lifetime(results: dict) -> str:
    rows = []
    for name, vendor in results["vendors"].items():
        lifetime = vendor.get("lifetime")
        if not lifetime:
            continue
        rates = {r["engine"]: r for r in lifetime["rate"]}
        for engine, rate in rates.items():
            per_1000 = {
                r["case"]: r["writes_per_1000"]
                for r in lifetime["writes"]
                if r["engine"] == engine
            }
            rows.append(
                [
                    vendor_label(name, vendor),
                    engine,
                    _per_1000(per_1000["touch_interval"]),
                    _per_1000(per_1000["save_every_request"]),
                    _per_1000(per_1000["neither"]),
                    _n(rate["off"]["median"]),
                    _n(rate["on"]["median"]),
                    _x(rate["ratio"]),
                ]
            )
    header = ["database", "engine", "writes / 1,000 reads: TOUCH_INTERVAL=60"]
    header += ["SESSION_SAVE_EVERY_REQUEST", "neither", "read req/s, touches off", "on"]
    return _table(header + ["on / off"], rows)


def _touch_cost(results: dict) -> str:
    rows = []
    for name, vendor in results["vendors"].items():
        touch = vendor.get("lifetime", {}).get("touch")
        if not touch:
            continue
        ms = touch["ms_per_touch"]
        cells = []
        for variant in ("as_built", "waiting_for_flush"):
            s = ms.get(variant)
            cells.append(f"{s['median']:.3f} ({s['p25']:.3f}-{s['p75']:.3f})" if s else "n/a")
        ratio = touch.get("ratio")
        rows.append([vendor_label(name, vendor), *cells, _x(ratio) if ratio else "n/a"])
    header = ["database", "ms per touch, as built (p25-p75)", "waiting for the WAL flush"]
    return _table(header + ["waiting / as built"], rows)


def render(results: dict, chart_names: list[str], notes: bool) -> str:
    machine, profile = results["machine"], results["profile"]
    out = [
        "# Benchmarks",
        "",
        "dbsessions (`dbsessions.backends.db`) and dbsessions_cached "
        "(`dbsessions.backends.cached_db`) beside Django's `db` and `cached_db` engines, "
        "measured in the same run on each database; at the store level the cached engines run "
        "on an in-process LocMem cache and on Redis (`_redis`), beside Django's `cache` "
        "engine on Redis. Generated by `make bench` "
        f"(`python -m bench`); this run: **{results['mode']}** mode, {results['generated_at']}.",
        "Ratios are ours divided by Django's `db` engine; medians over "
        f"{profile['repeats']} rounds of {profile['ops_small']} (small) or "
        f"{profile['ops_large']} (large) operations, p25-p75 in brackets.",
        "",
    ]
    if notes:
        out += ["What the profiles show and what would meet the missed targets: "
                "[profiling.md](profiling.md).", ""]  # fmt: skip
    out += ["## Machine", ""]
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items() if v)
    out += [
        f"- CPU: {machine['cpu']} ({machine['cores']} cores), memory {machine['memory']}",
        f"- {machine['platform']}, Python {machine['python']}; {packages}",
    ]
    for name, vendor in results["vendors"].items():
        out.append(f"- {vendor_label(name, vendor)}: {vendor['server_version']}")
    for name, reason in results["skipped"].items():
        out.append(f"- {name}: **skipped**, {reason}")
    out += [
        f"- Profile: `{json.dumps(profile)}`",
        "",
        "## Targets",
        "",
        _targets(results),
        "",
    ]
    for name, vendor in results["vendors"].items():
        label = vendor_label(name, vendor)
        if vendor.get("store"):
            out += [f"## Store level: {label}", "", _store(vendor), ""]
            out += [
                "SQL is per operation, transaction control (BEGIN, COMMIT, SAVEPOINT, RELEASE) "
                "counted apart.",
                "",
            ]
    measured = results["vendors"].values()
    if any(vendor.get("concurrency") for vendor in measured):
        out += [
            "## Concurrent saves on one session",
            "",
            f"{profile['threads']} threads x {profile['writes_per_thread']} saves each, every "
            "thread with its own connection; distinct keys (lost updates), then one key for all "
            "(errors).",
            "",
            _concurrency(results),
            "",
        ]
    if any(vendor.get("storage") for vendor in measured):
        out += [
            "## Storage",
            "",
            f"Tables plus indexes for {profile['storage_sessions']:,} small sessions "
            "(PostgreSQL: `pg_total_relation_size` after `VACUUM ANALYZE`; MariaDB: "
            "`data_length + index_length` after `ANALYZE TABLE`).",
            "",
            _storage(results),
            "",
        ]
    if any("lifetime" in vendor for vendor in results["vendors"].values()):
        out += [
            "## Session lifetime",
            "",
            "Read-only requests of one logged-in user through `SessionMiddleware` (Django's test "
            "client), 10 a second with the clock moved 0.1 s per request: SQL writes (INSERT, "
            "UPDATE, DELETE) per 1,000 requests with `TOUCH_INTERVAL = 60`, with "
            "`SESSION_SAVE_EVERY_REQUEST` and with neither; then read-only requests per second "
            "with touches on (none due) and off on one session: medians of 20 short rounds "
            "of each, and the median of the ratios of paired rounds (each side first in every "
            "other pair).",
            "",
            _lifetime(results),
            "",
            "One touch-only save of `dbsessions` (the load before it not timed), as built and, "
            "on PostgreSQL, waiting for its flush. There a touch as built is one UPDATE in "
            "autocommit whose WHERE clause also runs `set_config('synchronous_commit', 'off', "
            "true)` (SET LOCAL for its own commit), so the commit returns before the WAL "
            "flush; waiting, it is the same UPDATE without that condition. Elsewhere a touch "
            "is the UPDATE alone.",
            "",
            _touch_cost(results),
            "",
        ]
    if any("purge" in vendor for vendor in results["vendors"].values()):
        out += [
            "## Purge",
            "",
            "`purge_expired()` (what `purge_sessions` runs) and Django's `clearsessions`, each "
            "while a writer thread keeps saving a live session of its engine, then the same "
            "expired rows deleted by two unbatched DELETEs with no writer (the ceiling). "
            "Analysis: [../purge.md](../purge.md).",
            "",
            _purge(results),
            "",
        ]
    for phase in sections.PHASES:
        if any(phase in vendor for vendor in results["vendors"].values()):
            out += sections.module(phase).markdown(results) + [""]
    if chart_names:
        out += ["## Charts", ""] + [f"![{c}]({c})" for c in chart_names] + [""]
    return "\n".join(out)


def write(results: dict, directory: Path) -> list[str]:
    """Write README.md and the charts; returns the chart file names."""
    names = charts.draw(results, directory)
    notes = (directory / "profiling.md").exists()
    (directory / "README.md").write_text(render(results, names, notes))
    return names
