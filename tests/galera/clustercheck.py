"""An HTTP health check of one Galera node, for HAProxy's ``option httpchk``.

    python -m tests.galera.clustercheck CHECK_PORT NODE_PORT

Answers 200 while the node on NODE_PORT is ready and Synced (4) or a donor (2, serving an
incremental state transfer to a node rejoining), 503 otherwise: a node cut off from the others
still completes a MySQL handshake (so ``option mysql-check`` passes) while it refuses every
query. HAProxy's ``external-check`` would do the same, but each of its checks forks HAProxy,
and here that made about one connection in a thousand through it fail during its handshake.
"""

import subprocess
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

STATUS_SQL = "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state', 'wsrep_ready')"
#: The user of the check: no password, no privilege (status variables need none).
CHECK_USER = "haproxy_check"


def node_is_serving(port: int) -> bool:
    try:
        result = subprocess.run(
            ["mariadb", "-h127.0.0.1", f"-P{port}", f"-u{CHECK_USER}", "--connect-timeout=2"]
            + ["-N", "-B", "-e", STATUS_SQL],
            capture_output=True,
            text=True,
            timeout=3,
        )
    except subprocess.TimeoutExpired:
        return False
    if result.returncode != 0:
        return False
    status = dict(line.split("\t", 1) for line in result.stdout.splitlines() if "\t" in line)
    return status.get("wsrep_ready") == "ON" and status.get("wsrep_local_state") in ("2", "4")


def serve(check_port: int, node_port: int) -> None:
    class Check(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            serving = node_is_serving(node_port)
            body = b"serving\n" if serving else b"not serving\n"
            self.send_response(200 if serving else 503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    HTTPServer(("127.0.0.1", check_port), Check).serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
