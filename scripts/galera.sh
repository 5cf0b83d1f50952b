#!/usr/bin/env bash
# The Galera suite's cluster, by hand: three MariaDB Galera nodes behind HAProxy on 127.0.0.1.
#
#   ./scripts/galera.sh start | status | stop
#
# tests/galera/cluster.py says what runs where; the suite starts the cluster itself when it is
# not running, so this is only for working against it (the demo, the benchmarks) between runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec python3 -m tests.galera.cluster "$@"
