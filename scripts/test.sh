#!/usr/bin/env bash
# Run every environment of tox.ini, the one list of tested configurations: ruff, mypy and the
# docs build, then the suite on each Python x Django x database, with the sessions on the
# default and on a separate database.
#
#   ./scripts/test.sh [PYTEST ARGS...]       e.g. ./scripts/test.sh -x -k cart
#   TOXENV=py311-django52-postgresql,lint ./scripts/test.sh -x      some environments only
#
# Builds .venv (with tox) if needed, finds the Python each environment names (python3.X on
# PATH, then pyenv), tries each PostgreSQL / MariaDB server an environment needs, runs the
# environments in tox.ini's order in one tox call and prints a summary. Every extra argument
# goes to every pytest call. An environment whose server cannot be reached or whose Python is
# missing is skipped with a message, except under CI=true, where it is a failure. Exits non-zero
# if any run failed.
#
# Servers: PGHOST/PGPORT/PGUSER/PGPASSWORD and MYSQL_HOST/MYSQL_PORT/MYSQL_USER/MYSQL_PASSWORD
# (or MYSQL_UNIX_SOCKET), defaulting to the local servers.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/bootstrap.sh
source scripts/bootstrap.sh
export PYTHONDONTWRITEBYTECODE=1

IN_CI=0
[[ ${CI:-} == true || ${CI:-} == 1 ]] && IN_CI=1

# The result of each environment by name; the summary lists them in tox.ini's order.
declare -A RESULTS=()

record() {
    RESULTS[$1]="$2"
}

# An environment that cannot run: a failure under CI, a visible skip elsewhere.
# unavailable NAME REASON [DETAIL]; the summary shows REASON, the message also DETAIL.
unavailable() {
    local name="$1" reason="$2" detail="${3:+ ($3)}"
    if [[ $IN_CI -eq 1 ]]; then
        printf '\nFAILED: %s: %s%s; CI=true, so this is a failure.\n' \
            "$name" "$reason" "$detail" >&2
        record "$name" "FAILED ($reason)"
    else
        printf '\nSKIPPED: %s: %s%s\n' "$name" "$reason" "$detail" >&2
        record "$name" "SKIPPED ($reason)"
    fi
}

# Prints nothing when a real connection to the vendor's server works; otherwise two lines:
# "not reachable at WHERE" and the driver's error.
server_problem() {
    local venv="$1" vendor="$2"
    "$venv/bin/python" - "$vendor" <<'PY' 2>&1
import os
import sys

vendor = sys.argv[1]
env = os.environ.get
if vendor == "postgresql":
    where = f"{env('PGHOST', '127.0.0.1')}:{env('PGPORT', '5432')}"
elif env("MYSQL_UNIX_SOCKET"):
    where = env("MYSQL_UNIX_SOCKET")
else:
    where = f"{env('MYSQL_HOST', '127.0.0.1')}:{env('MYSQL_PORT', '3306')}"
try:
    if vendor == "postgresql":
        import psycopg

        psycopg.connect(
            host=env("PGHOST", "127.0.0.1"),
            port=env("PGPORT", "5432"),
            user=env("PGUSER", "postgres"),
            password=env("PGPASSWORD", ""),
            dbname="postgres",
            connect_timeout=5,
        ).close()
    else:
        import MySQLdb

        kwargs = {
            "host": env("MYSQL_HOST", "127.0.0.1"),
            "port": int(env("MYSQL_PORT", "3306")),
            "user": env("MYSQL_USER", "root"),
            "password": env("MYSQL_PASSWORD", ""),
            "connect_timeout": 5,
        }
        if env("MYSQL_UNIX_SOCKET"):
            kwargs["unix_socket"] = env("MYSQL_UNIX_SOCKET")
        MySQLdb.connect(**kwargs).close()
except Exception as exc:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    print(f"not reachable at {where}\n{reason}")
PY
}

# tox_results REPORT NAME...: prints "NAME<TAB>RESULT" for each environment of tox's
# --result-json REPORT, RESULT naming the first command that failed.
tox_results() {
    "$VENV_MAIN/bin/python" - "$@" <<'PY'
import json
import sys
from pathlib import Path

report = json.loads(Path(sys.argv[1]).read_text()).get("testenvs", {})
for name in sys.argv[2:]:
    env = report.get(name, {})
    result = env.get("result")
    failures = [
        (stage, run)
        for stage in ("setup", "test")
        for run in env.get(stage, [])
        if run.get("retcode") not in (0, None)
    ]
    if result is None:
        outcome = "FAILED (not run by tox)"
    elif result.get("success"):
        outcome = "passed"
    elif not failures:
        outcome = f"FAILED (tox exit code {result.get('exit_code')})"
    else:
        stage, run = failures[0]
        words = [Path(word).name for word in run.get("command", [])[:3]]
        program = words[2] if words[1:2] == ["-m"] and len(words) > 2 else words[0]
        code = run["retcode"]
        if stage == "setup":
            outcome = f"FAILED (setup: {program} exit code {code})"
        elif program == "pytest" and code == 5:
            outcome = "FAILED (no tests collected)"
        else:
            outcome = f"FAILED ({program} exit code {code})"
    print(f"{name}\t{outcome}")
PY
}

# Browser tests need a Chromium; only fetch one once such tests exist (or when asked to).
if [[ ${WITH_BROWSERS:-0} == 1 ]] || grep -rqs 'mark\.browser' tests; then
    ensure_chromium || true
fi

VENV_MAIN=.venv
if ! VENV_DIR=$VENV_MAIN bootstrap_venv python3 'Django>=5.2,<5.3'; then
    echo "ERROR: could not build $VENV_MAIN; see the messages above." >&2
    exit 1
fi
TOX=("$VENV_MAIN/bin/python" -m tox)

if [[ -n ${TOXENV:-} ]]; then
    IFS=, read -ra ENVS <<<"$TOXENV"
    unset TOXENV # passed to tox as -e below, after the environments that cannot run are left out
else
    mapfile -t ENVS < <("${TOX[@]}" list --no-desc --quiet)
fi
if [[ ${#ENVS[@]} -eq 0 ]]; then
    echo "ERROR: no environments read from tox.ini (tox list)." >&2
    exit 1
fi

# What an environment needs comes from its factors: py3XY names the interpreter, postgresql or
# mysql a server. Each interpreter is looked up once, each server tried once.
declare -A PYTHONS=() PROBLEMS=()
RUNNABLE=()
for env_name in "${ENVS[@]}"; do
    if [[ -$env_name- =~ -py3([0-9]+)- ]]; then
        version="3.${BASH_REMATCH[1]}"
        [[ -v PYTHONS[$version] ]] || PYTHONS[$version]="$(find_python "$version")"
        if [[ -z ${PYTHONS[$version]} ]]; then
            unavailable "$env_name" "no python$version on PATH or in ~/.pyenv/versions"
            continue
        fi
    fi
    vendor=""
    [[ -$env_name- == *-postgresql-* ]] && vendor=postgresql
    [[ -$env_name- == *-mysql-* ]] && vendor=mysql
    if [[ -n $vendor ]]; then
        [[ -v PROBLEMS[$vendor] ]] || PROBLEMS[$vendor]="$(server_problem "$VENV_MAIN" "$vendor")"
        problem="${PROBLEMS[$vendor]}"
        if [[ -n $problem ]]; then
            label=PostgreSQL
            [[ $vendor == mysql ]] && label=MariaDB/MySQL
            unavailable "$env_name" "$label ${problem%%$'\n'*}" "${problem#*$'\n'}"
            continue
        fi
    fi
    RUNNABLE+=("$env_name")
done

if [[ ${#RUNNABLE[@]} -gt 0 ]]; then
    report="$(mktemp)"
    trap 'rm -f "$report"' EXIT
    selection="$(IFS=,; echo "${RUNNABLE[*]}")"
    # The interpreters found above come first in tox's discovery (pyenv's shims on PATH only
    # answer for the versions pyenv has enabled).
    discover=()
    for python in "${PYTHONS[@]}"; do
        [[ -n $python ]] && discover+=("$python")
    done
    args=(run --result-json "$report")
    [[ ${#discover[@]} -gt 0 ]] && args+=(--discover "${discover[@]}")
    args+=(-e "$selection" -- "$@")
    printf '\n==> tox %s\n' "${args[*]}"
    "${TOX[@]}" "${args[@]}"
    while IFS=$'\t' read -r env_name outcome; do
        record "$env_name" "$outcome"
    done < <(tox_results "$report" "${RUNNABLE[@]}")
fi

printf '\n%s\n' "Summary"
printf '%-38s %s\n' "environment" "result"
printf '%-38s %s\n' "-----------" "------"
status=0
for env_name in "${ENVS[@]}"; do
    result="${RESULTS[$env_name]:-FAILED (no result)}"
    printf '%-38s %s\n' "$env_name" "$result"
    [[ $result == FAILED* ]] && status=1
done
exit $status
