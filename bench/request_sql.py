"""SQL per request of the benchmark site, counted in-process with Django's test client."""

from typing import Any

from django.test import Client
from django.test.utils import override_settings

from bench.engines import ENGINES
from bench.sqlcount import capture


def run() -> list[dict[str, Any]]:
    results = []
    for engine, module in ENGINES.items():
        with override_settings(SESSION_ENGINE=module):
            for size in ("small", "large"):
                client = Client()
                client.get(f"/seed/{size}/")
                client.get("/read/")  # warm: cached_db fills its cache on a first read
                for page in ("read", "write"):
                    response: Any = None

                    def request(page: str = page, client: Client = client) -> None:
                        nonlocal response
                        response = client.get(f"/{page}/")

                    sql = capture(request)
                    if response.status_code != 200:
                        raise RuntimeError(f"{engine} /{page}/ answered {response.status_code}")
                    results.append({"engine": engine, "size": size, "page": page, **sql})
    return results
