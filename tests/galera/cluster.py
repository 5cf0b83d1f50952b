"""A three-node MariaDB Galera cluster behind HAProxy, on 127.0.0.1, for the Galera suite.

    ./scripts/galera.sh start      # install what is missing, start nodes and HAProxy
    ./scripts/galera.sh status     # each node's wsrep state
    ./scripts/galera.sh stop       # stop everything this script started, by PID

Everything lives under ``DBSESSIONS_GALERA_DIR`` (default ``/tmp/dbsessions-galera``): one
data directory, configuration file, socket, log and PID file per node, and HAProxy's. Nodes
listen on 4306-4308 (clients), 4567/4577/4587 (group), 4568/4578/4588 (IST) and
4444/4454/4464 (rsync SST); HAProxy on 4300, balancing connections round-robin over the
nodes whose HTTP health check (``clustercheck.py``, on 9306-9308) finds them Synced (or
donors) and ready. ``DBSESSIONS_GALERA_PORT_OFFSET`` moves every port (a second cluster
beside the first). The machine's own MariaDB (3306) is never touched.

The Galera suite (``tests/galera``) starts it unless it is running, and stops it afterwards if
it started it; its tests use :class:`Cluster` to kill, stop, isolate and restart single nodes.
It needs root: it installs Debian packages and runs the nodes as root.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(os.environ.get("DBSESSIONS_GALERA_DIR", "/tmp/dbsessions-galera"))
#: Added to every port: a second cluster (its own DBSESSIONS_GALERA_DIR) beside the first.
PORT_OFFSET = int(os.environ.get("DBSESSIONS_GALERA_PORT_OFFSET", "0"))
HAPROXY_PORT = 4300 + PORT_OFFSET
PROVIDER = "/usr/lib/galera/libgalera_smm.so"
#: Debian packages the cluster needs (MariaDB's server is the machine's own package).
PACKAGES = {"galera-4": PROVIDER, "rsync": "/usr/bin/rsync", "haproxy": "/usr/sbin/haproxy"}
#: The user the tests and HAProxy's health check connect as (over TCP, no password).
USER = "root"
CHECK_USER = "haproxy_check"
START_TIMEOUT = 90.0


class ClusterError(RuntimeError):
    """The cluster (or one node) could not be started, reached or stopped."""


@dataclass(frozen=True)
class Node:
    """One Galera node: its number (1-3) fixes its ports and directory."""

    number: int

    @property
    def name(self) -> str:
        return f"node{self.number}"

    @property
    def port(self) -> int:
        return 4305 + self.number + PORT_OFFSET

    @property
    def group_port(self) -> int:
        return 4557 + 10 * self.number + PORT_OFFSET

    @property
    def ist_port(self) -> int:
        return self.group_port + 1

    @property
    def sst_port(self) -> int:
        return 4434 + 10 * self.number + PORT_OFFSET

    @property
    def check_port(self) -> int:
        """Its HTTP health check for HAProxy (``tests/galera/clustercheck.py``)."""
        return 9305 + self.number + PORT_OFFSET

    @property
    def check_pid_file(self) -> Path:
        return self.directory / "clustercheck.pid"

    @property
    def directory(self) -> Path:
        return BASE_DIR / self.name

    @property
    def datadir(self) -> Path:
        return self.directory / "data"

    @property
    def socket(self) -> Path:
        return self.directory / "mariadb.sock"

    @property
    def pid_file(self) -> Path:
        return self.directory / "mariadbd.pid"

    @property
    def log(self) -> Path:
        return self.directory / "error.log"

    @property
    def config(self) -> Path:
        return self.directory / "my.cnf"


NODES = (Node(1), Node(2), Node(3))


def _cluster_address() -> str:
    return "gcomm://" + ",".join(f"127.0.0.1:{node.group_port}" for node in NODES)


def _node_config(node: Node) -> str:
    provider_options = ";".join(
        [
            f"gmcast.listen_addr=tcp://127.0.0.1:{node.group_port}",
            f"ist.recv_addr=127.0.0.1:{node.ist_port}",
            "gcache.size=64M",
        ]
    )
    return f"""[mariadbd]
user = root
datadir = {node.datadir}
socket = {node.socket}
pid-file = {node.pid_file}
log-error = {node.log}
port = {node.port}
bind-address = 127.0.0.1
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_uca1400_ai_ci
innodb_buffer_pool_size = 64M
innodb_log_file_size = 32M
innodb_flush_log_at_trx_commit = 2
binlog_format = ROW
default_storage_engine = InnoDB
innodb_autoinc_lock_mode = 2
max_connections = 300
wsrep_on = ON
wsrep_provider = {PROVIDER}
wsrep_cluster_name = dbsessions
wsrep_cluster_address = {_cluster_address()}
wsrep_node_name = {node.name}
wsrep_node_address = 127.0.0.1:{node.group_port}
wsrep_provider_options = "{provider_options}"
wsrep_sst_method = rsync
wsrep_sst_receive_address = 127.0.0.1:{node.sst_port}
"""


def _haproxy_config() -> str:
    servers = "\n".join(
        f"    server {node.name} 127.0.0.1:{node.port} check port {node.check_port}"
        for node in NODES
    )
    return f"""global
    maxconn 1000
    pidfile {BASE_DIR / "haproxy.pid"}
    stats socket {BASE_DIR / "haproxy.sock"} mode 600 level user

defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check 3s
    retries 2
    option redispatch

listen galera
    bind 127.0.0.1:{HAPROXY_PORT}
    balance roundrobin
    option httpchk GET /
    http-check expect status 200
    default-server inter 500 rise 2 fall 3 on-marked-down shutdown-sessions
{servers}
"""


def ensure_packages() -> None:
    """Install from Debian's packages whatever the cluster needs and the machine lacks."""
    missing = [package for package, path in PACKAGES.items() if not Path(path).exists()]
    if not missing:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Debian would start HAProxy's own service on port 80: policy-rc.d forbids it.
    policy = Path("/usr/sbin/policy-rc.d")
    had_policy = policy.exists()
    if not had_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        for attempt in (1, 2):
            if attempt == 2:
                subprocess.run(["apt-get", "update", "-q"], env=env, check=False)
            result = subprocess.run(["apt-get", "install", "-y", "-q", *missing], env=env)
            if result.returncode == 0:
                return
        raise ClusterError(f"apt-get could not install {', '.join(missing)}")
    finally:
        if not had_policy:
            policy.unlink()


def _pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid) else None


def _sql(node: Node, statement: str, timeout: float = 5.0) -> str:
    """Run ``statement`` on ``node`` over its socket; its output as tab-separated text."""
    result = subprocess.run(
        ["mariadb", f"--socket={node.socket}", "-uroot", "-N", "-B", "-e", statement],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise ClusterError(f"{node.name}: {result.stderr.strip()}")
    return result.stdout


def _haproxy_answers() -> bool:
    result = subprocess.run(
        ["mariadb", "-h127.0.0.1", f"-P{HAPROXY_PORT}", f"-u{USER}", "-N", "-e", "SELECT 1"],
        capture_output=True,
        timeout=5,
    )
    return result.returncode == 0


def wsrep_status(node: Node) -> dict[str, str]:
    """The node's wsrep status variables (empty if it does not answer)."""
    try:
        output = _sql(node, "SHOW GLOBAL STATUS LIKE 'wsrep_%'", timeout=3)
    except (ClusterError, subprocess.TimeoutExpired):
        return {}
    return dict(line.split("\t", 1) for line in output.splitlines() if "\t" in line)


def is_synced(node: Node) -> bool:
    status = wsrep_status(node)
    return (
        status.get("wsrep_local_state_comment") == "Synced" and status.get("wsrep_ready") == "ON"
    )


def _wait(condition, what: str, timeout: float = START_TIMEOUT, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    tail = ""
    if log is not None and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}{tail}")


class Cluster:
    """The three nodes and HAProxy; every process it starts it can stop by PID."""

    nodes = NODES
    haproxy_port = HAPROXY_PORT

    def node(self, number: int) -> Node:
        return NODES[number - 1]

    # Nodes -----------------------------------------------------------------------------

    def _prepare(self, node: Node, *, initialize: bool) -> None:
        node.directory.mkdir(parents=True, exist_ok=True)
        node.config.write_text(_node_config(node))
        if initialize and not (node.datadir / "mysql").exists():
            node.datadir.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [
                    "mariadb-install-db",
                    f"--defaults-file={node.config}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ],
                check=True,
                capture_output=True,
                env={**os.environ, "LC_ALL": "C"},
            )
        else:
            node.datadir.mkdir(parents=True, exist_ok=True)
            # A joiner's rsync daemon, started by root, writes as nobody (rsyncd's default).
            subprocess.run(["chown", "-R", "nobody:nogroup", str(node.datadir)], check=True)

    def start_node(self, node: Node, *, new_cluster: bool = False) -> None:
        """Start ``node`` (it joins the others, or founds a cluster) and wait until Synced."""
        if _pid(node.pid_file) is not None:
            raise ClusterError(f"{node.name} is already running")
        self._prepare(node, initialize=new_cluster)
        command = ["/usr/sbin/mariadbd", f"--defaults-file={node.config}"]
        if new_cluster:
            command.append("--wsrep-new-cluster")
        with open(node.directory / "stdout.log", "ab") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        node.pid_file.parent.mkdir(parents=True, exist_ok=True)

        def up() -> bool:
            if process.poll() is not None:
                raise ClusterError(f"{node.name} exited with {process.returncode}; see {node.log}")
            return is_synced(node)

        _wait(up, f"{node.name} to be Synced", log=node.log)

    def kill_node(self, node: Node) -> None:
        """SIGKILL the node: a crash, with no goodbye to the others."""
        pid = _pid(node.pid_file)
        if pid is None:
            raise ClusterError(f"{node.name} is not running")
        os.kill(pid, signal.SIGKILL)
        _wait(lambda: _pid(node.pid_file) is None or not _alive(pid), f"{node.name} to die")

    def stop_node(self, node: Node, timeout: float = 60.0) -> None:
        """SIGTERM: a clean shutdown, the node leaves the group; SIGKILL after ``timeout``."""
        pid = _pid(node.pid_file)
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        try:
            _wait(lambda: not _alive(pid), f"{node.name} to stop", timeout=timeout)
        except ClusterError:
            os.kill(pid, signal.SIGKILL)
            _wait(lambda: not _alive(pid), f"{node.name} to die", timeout=10)

    def isolate_node(self, node: Node, isolated: bool) -> None:
        """Cut (or restore) the node's group traffic: a network partition of one node.

        Galera's ``gmcast.isolate`` drops the node's group connections and refuses new ones;
        the node then finds itself in a minority and stops serving queries.
        """
        _sql(node, f"SET GLOBAL wsrep_provider_options = 'gmcast.isolate={int(isolated)}'")

    def wait_synced(self, nodes: tuple[Node, ...] | None = None, timeout: float = 60.0) -> None:
        for node in nodes or NODES:
            _wait(lambda node=node: is_synced(node), f"{node.name} to be Synced", timeout)

    def haproxy_up(self) -> set[str]:
        """The nodes HAProxy's health check has marked up (its stats socket's ``show stat``)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect(str(BASE_DIR / "haproxy.sock"))
            client.sendall(b"show stat\n")
            chunks = []
            while chunk := client.recv(65536):
                chunks.append(chunk)
        rows = [line.split(",") for line in b"".join(chunks).decode().splitlines()]
        # Fields: proxy name, server name, ..., status (the 18th).
        names = {node.name for node in NODES}
        return {row[1] for row in rows if len(row) > 17 and row[1] in names and row[17] == "UP"}

    def wait_balanced(self, timeout: float = 30.0) -> None:
        """Until HAProxy sends connections to all three nodes again."""
        _wait(
            lambda: len(self.haproxy_up()) == len(NODES), "HAProxy to mark every node up", timeout
        )

    def cluster_size(self, node: Node) -> int:
        return int(wsrep_status(node).get("wsrep_cluster_size", "0"))

    # HAProxy ---------------------------------------------------------------------------

    def start_haproxy(self) -> None:
        """HAProxy, and each node's HTTP health check that it asks."""
        for node in NODES:
            self._start_check(node)
        pid_file = BASE_DIR / "haproxy.pid"
        if _pid(pid_file) is not None:
            return
        config = BASE_DIR / "haproxy.cfg"
        config.write_text(_haproxy_config())
        subprocess.run(["haproxy", "-D", "-f", str(config)], check=True)
        _wait(lambda: _pid(pid_file) is not None, "HAProxy to start", timeout=10)
        # Its health checks mark the nodes up after two passes.
        _wait(_haproxy_answers, "HAProxy to reach a node", timeout=15)

    def _start_check(self, node: Node) -> None:
        if _pid(node.check_pid_file) is not None:
            return
        node.directory.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, str(Path(__file__).with_name("clustercheck.py"))]
        command += [str(node.check_port), str(node.port)]
        with open(node.directory / "clustercheck.log", "ab") as log:
            process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
            )
        node.check_pid_file.write_text(f"{process.pid}\n")

    # The whole -------------------------------------------------------------------------

    def running(self) -> bool:
        return (
            all(is_synced(node) and _pid(node.check_pid_file) is not None for node in NODES)
            and _pid(BASE_DIR / "haproxy.pid") is not None
        )

    def start(self) -> None:
        """Start the cluster afresh: wipe old data, found it on node 1, join 2 and 3."""
        ensure_packages()
        self.stop()
        shutil.rmtree(BASE_DIR, ignore_errors=True)
        BASE_DIR.mkdir(parents=True)
        first, *others = NODES
        self.start_node(first, new_cluster=True)
        # TCP logins for the tests and HAProxy's check; SST copies them to the joiners.
        _sql(
            first,
            f"CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1'; "
            f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'127.0.0.1' WITH GRANT OPTION; "
            f"CREATE USER IF NOT EXISTS '{CHECK_USER}'@'127.0.0.1';",
        )
        for node in others:
            self.start_node(node)
        self.start_haproxy()

    def stop(self) -> None:
        """Stop HAProxy and every node this script started (found by their PID files)."""
        haproxy = _pid(BASE_DIR / "haproxy.pid")
        if haproxy is not None:
            os.kill(haproxy, signal.SIGTERM)
            _wait(lambda: not _alive(haproxy), "HAProxy to stop", timeout=10)
        for node in reversed(NODES):
            check = _pid(node.check_pid_file)
            if check is not None:
                os.kill(check, signal.SIGTERM)
            self.stop_node(node)


@contextmanager
def default_connection(**changes: object) -> Iterator[None]:
    """Within the block, this thread's Django ``default`` connection uses these settings
    instead (Django's connections belong to their thread: other threads are unaffected)."""
    from django.db import connections

    connection = connections["default"]
    connection.close()
    original = connection.settings_dict
    connection.settings_dict = {**original, **changes}
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict = original


def on_node(number: int) -> AbstractContextManager[None]:
    """This thread's ``default`` connection straight to node ``number``, within the block."""
    return default_connection(PORT=str(NODES[number - 1].port))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie counts as gone: a daemon (HAProxy) whose parent left is reaped by PID 1, and
    # in a container that may never happen.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["start", "stop", "status"])
    args = parser.parse_args(argv)
    cluster = Cluster()
    try:
        if args.action == "start":
            started = time.monotonic()
            cluster.start()
            print(
                f"Cluster up in {time.monotonic() - started:.1f} s; HAProxy on 127.0.0.1:{HAPROXY_PORT}."
            )
        elif args.action == "stop":
            cluster.stop()
            print("Cluster stopped.")
        else:
            for node in NODES:
                status = wsrep_status(node)
                state = status.get("wsrep_local_state_comment", "not running")
                size = status.get("wsrep_cluster_size", "-")
                print(f"{node.name} (port {node.port}): {state}, cluster size {size}")
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
