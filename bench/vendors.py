"""The databases the benchmarks run on, and how tables and charts name them."""

VENDORS = ("sqlite", "postgresql", "mysql")


def vendor_label(name: str, vendor: dict) -> str:
    """A database's name for people; ``mysql`` says which server answered."""
    if name == "mysql":
        return "MariaDB" if "mariadb" in vendor.get("server_version", "").lower() else "MySQL"
    return {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(name, name)
