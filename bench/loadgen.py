"""Load generator, run as its own process: virtual users, each keeping its session cookie.

    python -m bench.loadgen --port 8000 --page read --size small --users 4 --seconds 5

Each user first asks ``/seed/<size>/`` for a session (untimed), then requests the page in a
loop until time is up. Prints one JSON object: requests, errors, requests/s, latencies in ms.

With ``--sync`` several generator processes share one timed window: each prints ``ready``
once its users are seeded, then reads a start time (``time.time()``) from its standard input;
its users load the server at once, and only what starts between that time and ``--seconds``
later is counted (what comes before it is the warm-up). ``--raw`` adds every latency, for
the caller to merge the processes' percentiles, and ``cpu`` tells the share of one core this
process used in the window: near 1.0, its GIL, not the server, limits the figure.
"""

import argparse
import json
import socket
import statistics
import sys
import threading
import time

COOKIE = "sessionid"


class User:
    """One virtual user: its own keep-alive connection and session cookie.

    HTTP/1.1 over a plain socket, reading only what a response needs (status, length or
    chunks, ``Set-Cookie``, ``Connection``): ``http.client`` parses every header with the
    email package and cost the generator about three times the CPU per request, CPU that the
    server shares on a small machine.
    """

    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)
        self.host = host.encode()
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.cookie = ""

    def get(self, path: str) -> int:
        """The response's status; 0 when the connection failed (the next request reconnects)."""
        cookie = f"Cookie: {COOKIE}={self.cookie}\r\n".encode() if self.cookie else b""
        request = b"GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (path.encode(), self.host, cookie)
        try:
            if self.sock is None:
                self.sock = socket.create_connection(self.address, timeout=60)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock.sendall(request)
            status, close = self._response()
        except (OSError, ValueError, IndexError):
            self.close()
            return 0
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b""

    #: Whether ``_response`` keeps the body in ``self.body`` (the load's users discard it).
    keeps_body = False

    def _response(self) -> tuple[int, bool]:
        lines = self._until(b"\r\n\r\n").split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked, close = -1, False, lines[0].startswith(b"HTTP/1.0")
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = value.strip().lower() == b"close"
            else:
                self._header(name, value)
        parts = []
        if chunked:
            while size := int(self._until(b"\r\n").split(b";", 1)[0], 16):
                parts.append(self._exactly(size + 2)[:-2])
            self._until(b"\r\n")  # no trailers
        elif length >= 0:
            parts.append(self._exactly(length))
        else:
            while self._receive():  # the body ends with the connection
                if not self.keeps_body:
                    self.buffer = b""
            parts.append(self.buffer)
            self.buffer, close = b"", True
        if self.keeps_body:
            self.body = b"".join(parts)
        return status, close

    def _header(self, name: bytes, value: bytes) -> None:
        """A header other than the framing ones, its name lowercased: the session cookie."""
        if name == b"set-cookie":
            key, _, morsel = value.split(b";", 1)[0].strip().partition(b"=")
            if key == COOKIE.encode():
                self.cookie = morsel.strip(b'"').decode()

    def _receive(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def _until(self, marker: bytes) -> bytes:
        while (end := self.buffer.find(marker)) < 0:
            if not self._receive():
                raise ConnectionError("closed mid-response")
        found, self.buffer = self.buffer[:end], self.buffer[end + len(marker) :]
        return found

    def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._receive():
                raise ConnectionError("closed mid-response")
        found, self.buffer = self.buffer[:size], self.buffer[size:]
        return found


def percentiles(latencies_ms: list[float]) -> dict[str, float]:
    """p50, p95 and p99 of ``latencies_ms`` (0 when empty)."""
    every = sorted(latencies_ms)
    if len(every) < 2:
        every = (every or [0.0]) * 2
    cuts = statistics.quantiles(every, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98]}


def _wait_for_start() -> float:
    """Tell the caller this process is ready; the start time it answers, on perf_counter."""
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())
    return time.perf_counter() + (start_at - time.time())


def run(
    host: str,
    port: int,
    page: str,
    size: str,
    users: int,
    seconds: float,
    sync: bool = False,
    raw: bool = False,
) -> dict:
    clients = [User(host, port) for _ in range(users)]
    for client in clients:
        if client.get(f"/seed/{size}/") != 200 or not client.cookie:
            raise SystemExit(f"seeding a {size} session failed")
    latencies: list[list[float]] = [[] for _ in clients]
    errors = [0] * users
    barrier = threading.Barrier(users + 1)
    begin = end = 0.0
    path = f"/{page}/"

    def loop(n: int) -> None:
        barrier.wait()
        client, own = clients[n], latencies[n]
        while (start := time.perf_counter()) < end:
            status = client.get(path)
            if start >= begin:
                own.append(time.perf_counter() - start)
                if status != 200:
                    errors[n] += 1

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(users)]
    for thread in threads:
        thread.start()
    begin = _wait_for_start() if sync else time.perf_counter()
    end = begin + seconds
    barrier.wait()
    time.sleep(max(0.0, begin - time.perf_counter()))
    cpu = time.process_time()
    time.sleep(max(0.0, end - time.perf_counter()))
    cpu = time.process_time() - cpu
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    every = [x * 1000 for own in latencies for x in own]
    result = {
        "requests": len(every),
        "errors": sum(errors),
        "seconds": round(elapsed, 3),
        "requests_per_s": len(every) / elapsed,
        "latency_ms": percentiles(every),
        "cpu": round(cpu / seconds, 3),
    }
    if raw:
        result["latencies_ms"] = [round(x, 3) for x in every]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--page", choices=("read", "write", "health"), required=True)
    parser.add_argument("--size", choices=("small", "large"), required=True)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--sync", action="store_true",
                        help="print 'ready' once seeded, then start at the time read from stdin")  # fmt: skip
    parser.add_argument("--raw", action="store_true", help="add every latency (ms)")
    args = parser.parse_args()
    result = run(
        args.host, args.port, args.page, args.size, args.users, args.seconds, args.sync, args.raw
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
