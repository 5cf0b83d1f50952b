"""Connection settings for the databases the demo site, the tests and the benchmarks use.

Servers come from the environment (``PGHOST``/``PGPORT``/``PGUSER``/``PGPASSWORD``,
``MYSQL_HOST``/``MYSQL_PORT``/``MYSQL_USER``/``MYSQL_PASSWORD``, ``MYSQL_UNIX_SOCKET``),
defaulting to the local servers of the development machines.
"""

import os
from pathlib import Path

VENDORS = ("sqlite", "postgresql", "mysql")


def connection_settings(vendor: str, name: str, sqlite_dir: Path) -> dict:
    """A ``DATABASES`` entry for database ``name`` on ``vendor`` (SQLite: a file in ``sqlite_dir``)."""
    env = os.environ.get
    if vendor == "postgresql":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "HOST": env("PGHOST", "127.0.0.1"),
            "PORT": env("PGPORT", "5432"),
            "USER": env("PGUSER", "postgres"),
            "PASSWORD": env("PGPASSWORD", ""),
        }
    if vendor == "mysql":
        options = {"charset": "utf8mb4"}
        if env("MYSQL_UNIX_SOCKET"):
            options["unix_socket"] = env("MYSQL_UNIX_SOCKET")
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": name,
            "HOST": env("MYSQL_HOST", "127.0.0.1"),
            "PORT": env("MYSQL_PORT", "3306"),
            "USER": env("MYSQL_USER", "root"),
            "PASSWORD": env("MYSQL_PASSWORD", ""),
            "OPTIONS": options,
        }
    if vendor == "sqlite":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": sqlite_dir / f"{name}.sqlite3",
            # WAL and IMMEDIATE transactions let concurrent requests wait instead of failing.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL;",
                "timeout": 20,
            },
        }
    raise ValueError(f"The database vendor must be one of {', '.join(VENDORS)}, not {vendor!r}.")


#: Every read waits until the node has applied what the cluster committed before it: a request
#: that another node serves right after a save sees the save.
GALERA_INIT_COMMAND = "SET SESSION wsrep_sync_wait = 1"


def galera_databases(name: str, test_settings: dict) -> dict:
    """``default`` through HAProxy, and ``node1`` to ``node3`` straight to each node (test
    mirrors of ``default``: the same test database, reached on one node)."""
    from tests.galera.cluster import HAPROXY_PORT, NODES

    env = os.environ.get

    def entry(port: int) -> dict:
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": name,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "USER": env("MYSQL_USER", "root"),
            "PASSWORD": env("MYSQL_PASSWORD", ""),
            "OPTIONS": {"charset": "utf8mb4", "init_command": GALERA_INIT_COMMAND},
        }

    databases = {"default": {**entry(HAPROXY_PORT), **test_settings}}
    for node in NODES:
        databases[node.name] = {**entry(node.port), "TEST": {"MIRROR": "default"}}
    return databases
