"""PNG charts of the results (matplotlib, from the ``bench`` dependency group)."""

from pathlib import Path

from bench import sections
from bench.engines import STORE_ENGINES
from bench.store import OPERATIONS as OPS
from bench.vendors import vendor_label

COLOURS = {
    "dbsessions": "#2b7bba",
    "dbsessions_cached": "#8fc1e3",
    "django_db": "#d95f02",
    "django_cached_db": "#999999",
    "dbsessions_cached_redis": "#1b9e77",
    "django_cached_db_redis": "#e7298a",
    "django_cache_redis": "#666666",
}


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def _bars(axis, groups: list[str], values: dict[str, list[float]]) -> None:
    width = 0.8 / len(values)
    for n, (engine, heights) in enumerate(values.items()):
        positions = [g + (n - (len(values) - 1) / 2) * width for g in range(len(groups))]
        axis.bar(positions, heights, width, label=engine, color=COLOURS.get(engine))
    axis.set_xticks(range(len(groups)), groups)
    axis.grid(axis="y", alpha=0.3)


def _store(plt, name: str, label: str, vendor: dict, path: Path) -> None:
    index = {(r["engine"], r["size"], r["op"]): r["ops_per_s"]["median"] for r in vendor["store"]}
    figure, axes = plt.subplots(1, 2, figsize=(13, 4))
    for axis, size in zip(axes, ("small", "large"), strict=True):
        _bars(axis, list(OPS), {e: [index[(e, size, op)] for op in OPS] for e in STORE_ENGINES})
        axis.set_yscale("log")
        axis.set_title(f"{label}: store level, {size} sessions")
        axis.set_ylabel("operations/s (median, log scale)")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _storage(plt, results: dict, path: Path) -> bool:
    labels, values = [], {"dbsessions": [], "django_db": []}
    for name, vendor in results["vendors"].items():
        sizes = {r["engine"]: r["bytes_per_session"] for r in vendor.get("storage", [])}
        if set(values) <= set(sizes):
            labels.append(vendor_label(name, vendor))
            for engine in values:
                values[engine].append(sizes[engine])
    if not labels:
        return False
    figure, axis = plt.subplots(figsize=(6, 4))
    _bars(axis, labels, values)
    axis.set_title("bytes per small session (tables + indexes)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return True


def draw(results: dict, directory: Path) -> list[str]:
    """Draw every chart the results allow; [] when matplotlib is not installed."""
    try:
        plt = pyplot()
    except ImportError:
        return []
    names = []
    for name, vendor in results["vendors"].items():
        label = vendor_label(name, vendor)
        if vendor.get("store"):
            names.append(f"store-{name}.png")
            _store(plt, name, label, vendor, directory / names[-1])
    if _storage(plt, results, directory / "storage.png"):
        names.append("storage.png")
    for phase in sections.PHASES:
        if any(phase in vendor for vendor in results["vendors"].values()):
            names += sections.module(phase).charts(results, directory)
    return names
