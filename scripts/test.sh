#!/usr/bin/env bash
# Run the whole test suite on every database and Django version this machine can offer.
#
#   ./scripts/test.sh [PYTEST ARGS...]       e.g. ./scripts/test.sh -x -k cart
#
# Runs, in order: ruff check, then SQLite, PostgreSQL, MariaDB/MySQL, the separate sessions-database runs
# (PostgreSQL and SQLite), then Django 6.1 on Python 3.12 (SQLite and PostgreSQL). Every extra
# argument goes to every pytest call. A server that cannot be reached is skipped with a
# message, except under CI=true, where it is a failure. Exits non-zero if any run failed.
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

RUN_NAMES=()
RUN_RESULTS=()

record() {
    RUN_NAMES+=("$1")
    RUN_RESULTS+=("$2")
}

# A run that cannot happen: a failure under CI, a visible skip elsewhere.
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

# run_pytest NAME VENV [VAR=VALUE...] -- [pytest args...]
run_pytest() {
    local name="$1" venv="$2"
    shift 2
    local env_vars=()
    while [[ $# -gt 0 && $1 != -- ]]; do
        env_vars+=("$1")
        shift
    done
    shift
    printf '\n==> [%s] %s pytest %s\n' "$name" "${env_vars[*]}" "$*"
    env DBSESSIONS_SEPARATE_DB= "${env_vars[@]}" "$venv/bin/python" -m pytest "$@"
    local code=$?
    case $code in
        0) record "$name" "passed" ;;
        5) record "$name" "FAILED (no tests collected)" ;;
        *) record "$name" "FAILED (pytest exit code $code)" ;;
    esac
}

# Prints nothing when a real connection to the vendor's server works; otherwise two lines:
# "not reachable at WHERE" and the driver's error.
server_problem() {
    local venv="$1" vendor="$2"
    "$venv/bin/python" - "$vendor" <<'EOF' 2>&1
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
EOF
}

# run_on_vendor NAME VENV VENDOR [VAR=VALUE...] -- [pytest args...]
run_on_vendor() {
    local name="$1" venv="$2" vendor="$3"
    shift 3
    if [[ $vendor != sqlite ]]; then
        local problem
        problem="$(server_problem "$venv" "$vendor")"
        if [[ -n $problem ]]; then
            local label=PostgreSQL
            [[ $vendor == mysql ]] && label=MariaDB/MySQL
            unavailable "$name" "$label ${problem%%$'\n'*}" "${problem#*$'\n'}"
            return
        fi
    fi
    run_pytest "$name" "$venv" "DBSESSIONS_DB=$vendor" "$@"
}

# Browser tests need a Chromium; only fetch one once such tests exist (or when asked to).
if [[ ${WITH_BROWSERS:-0} == 1 ]] || grep -rqs 'mark\.browser' tests; then
    ensure_chromium || true
fi

VENV_MAIN=.venv
VENV_DJANGO61=.venv-django61

if ! VENV_DIR=$VENV_MAIN bootstrap_venv python3 'Django>=5.2,<5.3'; then
    echo "ERROR: could not build $VENV_MAIN; see the messages above." >&2
    exit 1
fi

printf '\n==> [ruff] ruff check (the rules in pyproject.toml)\n'
if "$VENV_MAIN/bin/ruff" check dbsessions tests bench testproject; then
    record "ruff" "passed"
else
    record "ruff" "FAILED (ruff check)"
fi

run_on_vendor "django52 sqlite" "$VENV_MAIN" sqlite -- "$@"
run_on_vendor "django52 postgresql" "$VENV_MAIN" postgresql -- "$@"
run_on_vendor "django52 mysql" "$VENV_MAIN" mysql -- "$@"
run_on_vendor "django52 postgresql separate-db" "$VENV_MAIN" postgresql \
    DBSESSIONS_SEPARATE_DB=1 -- "$@"
run_on_vendor "django52 sqlite separate-db" "$VENV_MAIN" sqlite DBSESSIONS_SEPARATE_DB=1 -- "$@"

if ! python312="$(find_python 3.12)"; then
    unavailable "django61 (Python 3.12)" "no python3.12 on PATH or in ~/.pyenv/versions"
elif ! VENV_DIR=$VENV_DJANGO61 bootstrap_venv "$python312" 'Django>=6.1,<6.2'; then
    record "django61 (Python 3.12)" "FAILED (could not build $VENV_DJANGO61)"
else
    run_on_vendor "django61 sqlite" "$VENV_DJANGO61" sqlite -- "$@"
    run_on_vendor "django61 postgresql" "$VENV_DJANGO61" postgresql -- "$@"
fi

printf '\n%s\n' "Summary"
printf '%-34s %s\n' "run" "result"
printf '%-34s %s\n' "---" "------"
status=0
for i in "${!RUN_NAMES[@]}"; do
    printf '%-34s %s\n' "${RUN_NAMES[$i]}" "${RUN_RESULTS[$i]}"
    [[ ${RUN_RESULTS[$i]} == FAILED* ]] && status=1
done
exit $status
