"""Run every benchmark: ``python -m bench`` (``make bench``), ``--full`` for the long run.

On each database in turn: the store-level, request-level, concurrency and storage phases in one
process, then the purge in another (``bench.child``: Django's settings are per process). Each
process creates its benchmark database (``--db-name``) and drops it at the end; a PostgreSQL or
MariaDB server that cannot be reached is skipped and named in the results. Writes
``results.json``, ``README.md`` and PNG charts into ``--output`` (``docs/benchmarks``).
"""

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import child, machine, report, soak, targets
from bench.child import PHASES, SUITE
from bench.engines import ENGINES
from bench.profiles import PROFILES
from bench.purge import format_row
from bench.store import OPERATIONS
from bench.vendors import VENDORS

OUTPUT = child.ROOT / "docs" / "benchmarks"


def _names(text: str, known: tuple[str, ...]) -> list[str]:
    names = text.split(",")
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown: {', '.join(unknown)} (known: {', '.join(known)})"
        )
    return names


def benchmark(args: argparse.Namespace) -> int:
    """Every chosen phase on every chosen database, then the results, report and charts."""
    started = time.monotonic()
    results: dict = {
        "schema": 1,
        "mode": args.mode,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine.describe(),
        "profile": PROFILES[args.mode].as_dict(),
        "vendors": {},
        "skipped": {},
    }
    suite = [phase for phase in SUITE if phase in args.only]
    purge = {
        "expired": args.purge_sessions or PROFILES[args.mode].purge_sessions,
        "batch_size": args.batch_size,
        "drop_fk": args.drop_fk,
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        for vendor in args.vendors:
            measured: dict = {}
            if suite:
                task = {"mode": args.mode, "phases": suite}
                measured = child.launch(vendor, args.db_name, task, Path(workdir))
            if "purge" in args.only and "skipped" not in measured:
                # SQLite's file stays in the settings' directory, where the purge always ran.
                task = {"phases": ["purge"], "purge": purge}
                purged = child.launch(vendor, args.db_name, task, None)
                if "skipped" in purged:
                    measured = purged
                else:
                    measured.setdefault("server_version", purged["server_version"])
                    measured.setdefault("seconds", {}).update(purged["seconds"])
                    measured["purge"] = purged["purge"]
                    child.log(format_row(vendor, measured["purge"]))
            if "skipped" in measured:
                child.log(f"SKIPPED {vendor}: {measured['skipped']}")
                results["skipped"][vendor] = measured["skipped"]
            else:
                results["vendors"][vendor] = measured
    results["targets"] = targets.evaluate(results)
    results["seconds"] = round(time.monotonic() - started, 1)

    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    charts = report.write(results, args.output)
    missed = [t for t in results["targets"] if not t["met"]]
    child.log(
        f"Wrote {args.output}/results.json, README.md and {len(charts)} charts "
        f"in {results['seconds']} s; {len(missed)} target(s) missed."
    )
    return 0


def rewrite_report(args: argparse.Namespace) -> int:
    """README.md and the charts again, from the results.json already in the directory."""
    charts = report.write(
        json.loads((args.directory / "results.json").read_text()), args.directory
    )
    child.log(f"Wrote {args.directory}/README.md and {len(charts)} charts.")
    return 0


def profile(args: argparse.Namespace) -> int:
    """One store-level case under pyinstrument, on its own database; prints the profile."""
    case = {"engine": args.engine, "size": args.size, "op": args.op}
    task = {"phases": ["profile"], "profile": {**case, "ops": args.ops, "interval": args.interval}}
    measured = child.launch(args.vendor, args.db_name, task, None)
    if "skipped" in measured:
        child.log(f"SKIPPED {args.vendor}: {measured['skipped']}")
        return 1
    print(measured["profile"])
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    top.set_defaults(command=benchmark)
    top.add_argument("--mode", choices=sorted(PROFILES), default="quick")
    top.add_argument("--full", action="store_const", const="full", dest="mode",
                     help="the long run, for tighter figures (--mode full)")  # fmt: skip
    top.add_argument("--vendors", type=lambda text: _names(text, VENDORS), default=list(VENDORS),
                     help=f"comma-separated databases (default: {','.join(VENDORS)})")  # fmt: skip
    top.add_argument("--only", type=lambda text: _names(text, PHASES), default=list(PHASES),
                     help=f"comma-separated phases (default: {','.join(PHASES)})")  # fmt: skip
    top.add_argument("--output", type=Path, default=OUTPUT,
                     help="directory for results.json, README.md and the charts")  # fmt: skip
    top.add_argument("--db-name", default="bench_dbsessions",
                     help="benchmark database, created and dropped by each process")  # fmt: skip
    purge = top.add_argument_group("purge phase")
    purge.add_argument("--purge-sessions", type=int, metavar="N",
                       help="expired sessions to purge (default: by mode, 200,000 quick, "
                       "1,000,000 full)")  # fmt: skip
    purge.add_argument("--batch-size", type=int, help="purge_sessions --batch-size")
    purge.add_argument("--drop-fk", action="store_true",
                       help="experiment: drop the attributes' foreign key first (what "
                       "db_constraint=False would give; not on SQLite)")  # fmt: skip

    commands = top.add_subparsers(title="other commands", metavar="{report,profile,soak}")
    rewrite = commands.add_parser("report", help=rewrite_report.__doc__)
    rewrite.set_defaults(command=rewrite_report)
    rewrite.add_argument("directory", type=Path, nargs="?", default=OUTPUT)
    pyinstrument = commands.add_parser("profile", help=profile.__doc__)
    pyinstrument.set_defaults(command=profile)
    pyinstrument.add_argument("--vendor", choices=VENDORS, default="sqlite")
    pyinstrument.add_argument("--db-name", default="bench_dbsessions")
    pyinstrument.add_argument("--engine", choices=sorted(ENGINES), default="dbsessions")
    pyinstrument.add_argument("--size", choices=("small", "large"), default="large")
    pyinstrument.add_argument("--op", choices=OPERATIONS, default="save")
    pyinstrument.add_argument("--ops", type=int, default=200)
    pyinstrument.add_argument("--interval", type=float, default=0.0005)
    soaking = commands.add_parser("soak", help=soak.command.__doc__)
    soaking.set_defaults(command=soak.command)
    soak.add_arguments(soaking)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.command(args)


if __name__ == "__main__":
    sys.exit(main())
