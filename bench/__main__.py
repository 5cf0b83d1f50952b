"""Run the benchmarks: ``python -m bench`` (``make bench``), ``--full`` for the long run.

Each database runs in its own process (``bench.vendor``) on its own ``bench_dbsessions``
database, created and dropped by that process. A PostgreSQL or MariaDB server that cannot be
reached is skipped and named in the results. Writes ``results.json``, ``README.md`` and PNG
charts into ``--output`` (``docs/benchmarks`` by default).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import machine, report, targets
from bench.profiles import PROFILES

VENDORS = ("sqlite", "postgresql", "mysql")
ROOT = Path(__file__).resolve().parent.parent


def run_vendor(vendor: str, mode: str, db_name: str, workdir: Path, phases: str | None) -> dict:
    output = workdir / f"{vendor}.json"
    env = {
        **os.environ,
        "BENCH_DB": vendor,
        "BENCH_DB_NAME": db_name,
        "BENCH_WORKDIR": str(workdir),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
    }
    command = [sys.executable, "-m", "bench.vendor", "--mode", mode, "--output", str(output)]
    if phases:
        command += ["--phases", phases]
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return json.loads(output.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--full", action="store_const", const="full", dest="mode")
    parser.add_argument("--vendors", default=",".join(VENDORS), help="comma-separated")
    parser.add_argument("--phases", help="comma-separated subset (default: all)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--db-name", default="bench_dbsessions")
    args = parser.parse_args(argv)

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
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        for vendor in args.vendors.split(","):
            measured = run_vendor(vendor, args.mode, args.db_name, Path(workdir), args.phases)
            if "skipped" in measured:
                print(f"SKIPPED {vendor}: {measured['skipped']}", file=sys.stderr)
                results["skipped"][vendor] = measured["skipped"]
            else:
                results["vendors"][vendor] = measured
    results["targets"] = targets.evaluate(results)
    results["seconds"] = round(time.monotonic() - started, 1)

    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    charts = report.write(results, args.output)
    missed = [t for t in results["targets"] if not t["met"]]
    print(
        f"Wrote {args.output}/results.json, README.md and {len(charts)} charts "
        f"in {results['seconds']} s; {len(missed)} target(s) missed.",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
