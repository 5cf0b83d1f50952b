#!/usr/bin/env bash
# Build (or reuse) a virtualenv with dbsessions installed in editable mode.
#
#   scripts/bootstrap.sh [PYTHON [DJANGO_SPEC]]
#
#   PYTHON        interpreter to build the venv with (default: python3)
#   DJANGO_SPEC   pip requirement for Django, e.g. 'Django>=5.2,<5.3' (default: what setup.cfg allows)
#
# Environment:
#   VENV_DIR           venv to use (default: .venv for python3, .venv-<python name> otherwise)
#   BOOTSTRAP_GROUPS   dependency groups of pyproject.toml to install, separated by spaces or
#                      commas: dev (default: test, lint and tox), test, lint, docs, bench, or
#                      empty for the package alone
#   WITH_BROWSERS=1    also make sure a Chromium for the browser tests is installed
#
# Sourcing this file only defines the functions (bootstrap_venv, ensure_chromium, find_python...)
# for the other scripts. A stamp file inside the venv records what was installed, so a second
# run with the same setup.cfg, pyproject.toml and versions skips pip entirely.

BOOTSTRAP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_APT_UPDATED=0

log() { printf '==> %s\n' "$*" >&2; }

_can_apt() { [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; }

_apt_install() {
    if [[ $_APT_UPDATED -eq 0 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
        _APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# mysqlclient compiles against the MySQL/MariaDB client library, found through pkg-config.
ensure_mysql_headers() {
    if command -v pkg-config >/dev/null 2>&1 \
        && { pkg-config --exists mysqlclient || pkg-config --exists libmariadb; }; then
        return 0
    fi
    command -v mysql_config >/dev/null 2>&1 && return 0
    if _can_apt; then
        log "Installing the MySQL client headers (apt-get: default-libmysqlclient-dev pkg-config)"
        _apt_install default-libmysqlclient-dev pkg-config && return 0
    fi
    log "ERROR: mysqlclient needs the MySQL client headers and pkg-config;" \
        "install default-libmysqlclient-dev and pkg-config (Debian/Ubuntu) and run again."
    return 1
}

# mssql-django's driver (pyodbc) loads libodbc even when it only generates DDL offline.
ensure_odbc() {
    if ldconfig -p 2>/dev/null | grep -q 'libodbc\.so\.2'; then
        return 0
    fi
    if _can_apt; then
        log "Installing the ODBC driver manager for mssql-django (apt-get: unixodbc)"
        _apt_install unixodbc && return 0
    fi
    log "WARNING: libodbc.so.2 not found; install unixodbc to generate SQL Server DDL."
    return 0
}

# Chromium for the browser tests (Playwright drives it; Playwright's own browsers are never
# downloaded). Exports DBSESSIONS_CHROMIUM with the executable's path when one is available.
ensure_chromium() {
    local path
    path="$(command -v chromium || command -v chromium-browser || true)"
    if [[ -z $path ]] && _can_apt; then
        log "Installing Chromium for the browser tests (apt-get: chromium)"
        _apt_install chromium && path="$(command -v chromium || true)"
    fi
    if [[ -z $path ]]; then
        log "WARNING: no Chromium found; browser tests cannot run."
        return 1
    fi
    export DBSESSIONS_CHROMIUM="$path"
}

# Print the path of a working interpreter for a version like 3.12: on PATH, then pyenv.
# pyenv shims exist on PATH even for versions that are not enabled, so each candidate is run.
find_python() {
    local version="$1" candidate
    for candidate in "python$version" "$HOME"/.pyenv/versions/"$version"*/bin/python; do
        if "$candidate" -c 'import sys' >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# Django's own session tests (tests/sessions_tests of its source distribution, which the wheel
# lacks) for tests/test_django_session_suite.py: fetched from the package index once per Django
# version into the user's cache (every venv and tox environment of that version shares the
# download), then copied to $venv/django-tests/<version>/sessions_tests.
ensure_django_session_tests() {
    local venv="$1" version target cache tmp
    version="$("$venv/bin/python" -c 'import django; print(django.__version__)')" || return 1
    target="$venv/django-tests/$version/sessions_tests"
    [[ -f $target/tests.py ]] && return 0
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/dbsessions/django-tests/$version/sessions_tests"
    if [[ ! -f $cache/tests.py ]]; then
        tmp="$(mktemp -d)"
        log "Fetching Django $version's session tests (its source distribution, tests/sessions_tests)"
        # Extracted next to the cache and renamed into it, so no reader sees half a copy.
        if ! { "$venv/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
            --no-binary :all: "django==$version" -d "$tmp" >/dev/null 2>&1 \
            && mkdir -p "$tmp/sessions_tests" "$(dirname "$cache")" \
            && tar -xzf "$tmp"/[Dd]jango-*.tar.gz -C "$tmp/sessions_tests" --strip-components=3 \
                --wildcards '*/tests/sessions_tests/*.py' \
            && { mv -T "$tmp/sessions_tests" "$cache" 2>/dev/null || [[ -f $cache/tests.py ]]; }; }
        then
            rm -rf "$tmp"
            log "WARNING: could not fetch Django $version's source distribution;" \
                "tests/test_django_session_suite.py cannot run."
            return 0
        fi
        rm -rf "$tmp"
    fi
    mkdir -p "$target" && cp -R "$cache"/. "$target"/
}

_hash_inputs() {
    {
        cat "$BOOTSTRAP_ROOT/setup.cfg" "$BOOTSTRAP_ROOT/pyproject.toml"
        printf '%s\n' "$@"
    } | sha256sum | cut -d' ' -f1
}

# The groups that include the test group, so need the database drivers and Django's tests.
_with_test_group() { [[ $1 =~ (^|[ ,])(test|dev|bench)([ ,]|$) ]]; }

# bootstrap_venv [PYTHON [DJANGO_SPEC]]; prints nothing on stdout, sets BOOTSTRAP_VENV.
bootstrap_venv() {
    local python="${1:-python3}" django_spec="${2:-}"
    local groups="${BOOTSTRAP_GROUPS-dev}"
    local venv="${VENV_DIR:-}"
    if [[ -z $venv ]]; then
        if [[ $python == python3 ]]; then venv=.venv; else venv=".venv-$(basename "$python")"; fi
    fi
    [[ $venv == /* ]] || venv="$BOOTSTRAP_ROOT/$venv"

    local version_of='import sys; print(sys.version.split()[0])' py_version
    py_version="$("$python" -c "$version_of" 2>/dev/null)" \
        || { log "ERROR: '$python' is not a working Python interpreter"; return 1; }
    if [[ "$("$venv/bin/python" -c "$version_of" 2>/dev/null)" != "$py_version" ]]; then
        log "Creating $venv with Python $py_version"
        rm -rf "$venv"
        "$python" -m venv "$venv" || return 1
    fi

    local stamp key base
    stamp="$venv/.bootstrap-stamp"
    key="$(_hash_inputs "$py_version" "$groups" "$django_spec")"
    base="any $(_hash_inputs "$py_version")"
    # The package alone (no groups, no Django pin) is satisfied by any install of these files.
    if [[ -f $stamp ]] && { grep -qxF "$key" "$stamp" \
        || { [[ -z $groups && -z $django_spec ]] && grep -qxF "$base" "$stamp"; }; }; then
        BOOTSTRAP_VENV="$venv"
        log "$venv is up to date (Python $py_version${django_spec:+, $django_spec})"
        if _with_test_group "$groups"; then ensure_django_session_tests "$venv"; fi
        return 0
    fi

    if _with_test_group "$groups"; then
        ensure_mysql_headers || return 1
        ensure_odbc
    fi
    local args=(-e "$BOOTSTRAP_ROOT") group
    for group in ${groups//,/ }; do
        args+=(--group "$BOOTSTRAP_ROOT/pyproject.toml:$group")
    done
    [[ -n $django_spec ]] && args+=("$django_spec")
    # pip reads dependency groups (PEP 735) from 25.1 on; a venv starts with Python's bundled pip.
    if [[ -n $groups ]] && ! "$venv/bin/python" -c \
        'import sys, pip; sys.exit(tuple(map(int, pip.__version__.split(".")[:2])) < (25, 1))' \
        2>/dev/null; then
        log "Upgrading pip in $venv (dependency groups need pip>=25.1)"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade \
            'pip>=25.1' || return 1
    fi
    log "Installing into $venv: pip install ${args[*]}"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${args[@]}" || return 1

    # A changed setup.cfg invalidates every earlier line, so start the stamp afresh.
    grep -qxF "$base" "$stamp" 2>/dev/null || printf '%s\n' "$base" >"$stamp"
    printf '%s\n' "$key" >>"$stamp"
    BOOTSTRAP_VENV="$venv"
    log "$venv is ready: $("$venv/bin/python" -m django --version | sed 's/^/Django /')"
    if _with_test_group "$groups"; then ensure_django_session_tests "$venv"; fi
    return 0
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -euo pipefail
    bootstrap_venv "$@"
    if [[ ${WITH_BROWSERS:-0} == 1 ]]; then
        ensure_chromium
    fi
fi
