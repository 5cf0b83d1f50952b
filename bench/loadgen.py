"""Load generator, run as its own process: virtual users, each keeping its session cookie.

    python -m bench.loadgen --port 8000 --page read --size small --users 4 --seconds 5

Each user first asks ``/seed/<size>/`` for a session (untimed), then requests the page in a
loop until time is up. Prints one JSON object: requests, errors, requests/s, latencies in ms.
"""

import argparse
import http.client
import json
import statistics
import threading
import time
from http.cookies import SimpleCookie

COOKIE = "sessionid"


class User:
    def __init__(self, host: str, port: int) -> None:
        self.connection = http.client.HTTPConnection(host, port, timeout=60)
        self.cookie = ""

    def get(self, path: str) -> int:
        headers = {"Cookie": f"{COOKIE}={self.cookie}"} if self.cookie else {}
        self.connection.request("GET", path, headers=headers)
        response = self.connection.getresponse()
        response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            morsel = SimpleCookie(header).get(COOKIE)
            if morsel is not None:
                self.cookie = morsel.value
        return response.status


def run(host: str, port: int, page: str, size: str, users: int, seconds: float) -> dict:
    clients = [User(host, port) for _ in range(users)]
    for client in clients:
        if client.get(f"/seed/{size}/") != 200 or not client.cookie:
            raise SystemExit(f"seeding a {size} session failed")
    latencies: list[list[float]] = [[] for _ in clients]
    errors = [0] * users
    barrier = threading.Barrier(users + 1)
    deadline = 0.0

    def loop(n: int) -> None:
        barrier.wait()
        client, own = clients[n], latencies[n]
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                status = client.get(f"/{page}/")
            except OSError:
                status = 0
            own.append(time.perf_counter() - start)
            if status != 200:
                errors[n] += 1

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(users)]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    deadline = start + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    every = sorted(x * 1000 for own in latencies for x in own)
    cuts = statistics.quantiles(every, n=100, method="inclusive") if len(every) > 1 else every * 99
    return {
        "requests": len(every),
        "errors": sum(errors),
        "seconds": round(elapsed, 3),
        "requests_per_s": len(every) / elapsed,
        "latency_ms": {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--page", choices=("read", "write"), required=True)
    parser.add_argument("--size", choices=("small", "large"), required=True)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    result = run(args.host, args.port, args.page, args.size, args.users, args.seconds)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
