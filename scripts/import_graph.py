"""The import graph of the first-party packages, checked for cycles and for dbsessions' layers.

    python scripts/import_graph.py [--root DIR] [--sizes]

Reads the source with ``ast`` (nothing is imported or run) and prints the import edges among
first-party modules: those run when a module is imported, those inside functions (deferred),
and those under ``if TYPE_CHECKING:`` (for annotations only). It fails (exit 1) on

- a cycle of module-level imports (importing either module runs into the half-initialised
  other), or of module-level and deferred imports together (one import graph, whenever the
  import runs; ``bench/charts.py`` and ``bench/report.py`` once formed one), or between
  packages (``dbsessions.backends`` and ``dbsessions.purge`` importing each other through
  different modules);
- an upward import in dbsessions, whatever its kind: a lower layer importing a higher one, or
  any module of the package importing one outside it (bench, the demo site, the tests);
- a dbsessions module that no layer names, so that a new module is placed on purpose.

Layers of dbsessions, by the first name after ``dbsessions.`` (``dbsessions.admin.sessions``
is ``admin``); a module may import its own layer and those below:

- top: the engines (``backends``), the API, purge and its pacing, locks and retries (which run
  the dialects' statements), admin, commands, views, checks and the app's wiring;
- middle: what each vendor spells differently: ``dialects`` (the engines' and the purge's SQL,
  built as strings) and ``schema`` (the DDL, from Django's schema editor); they import only
  the bottom layer, so neither may come to depend on an engine or a command;
- bottom: models and settings (``conf``) and the small helpers everything uses (keys,
  redaction, expressions, signals, the router, user agents).

Dotted paths in strings (``INSTALLED_APPS``, ``SESSION_ENGINE``, ``import_module``) are not
imports of the source and are not counted.
"""

import argparse
import ast
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("dbsessions", "bench", "testproject", "tests")
LAYERED = "dbsessions"
LAYERS: dict[str, tuple[str, ...]] = {
    "top": (
        "admin",
        "api",
        "apps",
        "backends",
        "checks",
        "dashboard",
        "importer",
        "locks",
        "management",
        "middleware",
        "migrations",
        "prometheus",
        "purge",
        "purge_pace",
        "retry",
        "stats",
        "tally",
        "templatetags",
        "urls",
        "views",
    ),
    "middle": ("schema",),
    # The models ask their dialect for the exact collation (migration 0002 does too).
    "models": ("expressions", "models", "redaction", "routers", "signals"),
    # SQL per vendor and plain helpers: they import nothing of the layers above.
    "bottom": ("", "conf", "dialects", "exceptions", "keys", "useragents"),  # "": the package's __init__
}
ORDER = tuple(LAYERS)  # highest first
KINDS = ("module", "deferred", "typing")


@dataclass
class Graph:
    """Modules (name -> source lines) and edges (importer, imported) by kind."""

    modules: dict[str, int] = field(default_factory=dict)
    edges: dict[str, set[tuple[str, str]]] = field(
        default_factory=lambda: {kind: set() for kind in KINDS}
    )


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def discover(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Every module of the packages found below ``root``, by dotted name."""
    found = {}
    for package in packages:
        directory = root / package
        if (directory / "__init__.py").exists():
            for path in sorted(directory.rglob("*.py")):
                found[module_name(path, root)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement with its kind: module level, deferred or for typing only."""

    def walk(node: ast.AST, kind: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, kind
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from walk(child, "deferred")
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.body:
                    yield from walk(ast.Module(body=[statement], type_ignores=[]), "typing")
                for statement in child.orelse:
                    yield from walk(ast.Module(body=[statement], type_ignores=[]), kind)
            else:
                yield from walk(child, kind)

    return walk(tree, "module")


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The first-party module that ``name`` (a module or a name in one) belongs to."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _targets(
    node: ast.Import | ast.ImportFrom, importer: str, modules: dict[str, Path]
) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if (owner := _owner(alias.name, modules)) is not None:
                yield owner
        return
    base = node.module or ""
    if node.level:  # relative: from the importer's package, one level up per extra dot
        package = importer.split(".")
        if modules[importer].name != "__init__.py":
            package.pop()
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    for alias in node.names:
        # ``from package import module`` imports that module; ``from module import name``
        # the module, found as the longest first-party prefix.
        owner = _owner(f"{base}.{alias.name}", modules)
        if owner is not None:
            yield owner


def scan(root: Path, packages: Iterable[str] = PACKAGES) -> Graph:
    graph = Graph()
    modules = discover(root, packages)
    for name, path in modules.items():
        source = path.read_text()
        graph.modules[name] = len(source.splitlines())
        for node, kind in _imports(ast.parse(source, str(path))):
            for target in _targets(node, name, modules):
                if target != name:
                    graph.edges[kind].add((name, target))
    # A module imported at module level somewhere is not also listed as deferred from there.
    for kind in ("deferred", "typing"):
        graph.edges[kind] -= graph.edges["module"]
    graph.edges["typing"] -= graph.edges["deferred"]
    return graph


def cycles(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Each strongly connected group of two or more modules, as one cycle through it."""
    successors: dict[str, list[str]] = defaultdict(list)
    for importer, imported in sorted(edges):
        successors[importer].append(imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in successors[node]:
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(set(successors)):
        if node not in index:
            connect(node)
    return sorted(_path_through(group, successors) for group in groups)


def _path_through(group: set[str], successors: dict[str, list[str]]) -> list[str]:
    """The shortest cycle from the group's first module back to itself (breadth first)."""
    start = min(group)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in successors[node]:
                if successor == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if successor in group and successor not in previous:
                    previous[successor] = node
                    following.append(successor)
        frontier = following
    raise AssertionError("a strongly connected group has a cycle")


def unit(module: str) -> str:
    """The package or module a module counts as between packages: ``dbsessions.backends``."""
    return ".".join(module.split(".")[:2])


def package_edges(graph: Graph) -> set[tuple[str, str]]:
    """Module-level and deferred edges between packages (and top-level modules)."""
    every = graph.edges["module"] | graph.edges["deferred"]
    return {(unit(a), unit(b)) for a, b in every if unit(a) != unit(b)}


def layer_of(module: str) -> str | None:
    """The layer of a dbsessions module; None outside dbsessions or when no layer names it."""
    if module != LAYERED and not module.startswith(LAYERED + "."):
        return None
    first = module[len(LAYERED) + 1 :].partition(".")[0]
    return next((layer for layer, names in LAYERS.items() if first in names), None)


def unlayered(graph: Graph) -> list[str]:
    return sorted(
        m for m in graph.modules if m.partition(".")[0] == LAYERED and layer_of(m) is None
    )


def upward(graph: Graph) -> list[tuple[str, str, str]]:
    """(importer, imported, kind) for every import from a lower layer into a higher one.

    An import from dbsessions into another first-party package counts as upward too.
    """
    found = []
    for kind in KINDS:
        for importer, imported in sorted(graph.edges[kind]):
            low, high = layer_of(importer), layer_of(imported)
            if low is None:
                continue
            outside = imported.partition(".")[0] != LAYERED  # the package needs no test code
            if outside or (high is not None and ORDER.index(low) > ORDER.index(high)):
                found.append((importer, imported, kind))
    return found


def _lines(graph: Graph, kind: str) -> list[str]:
    by_importer: dict[str, list[str]] = defaultdict(list)
    for importer, imported in sorted(graph.edges[kind]):
        by_importer[importer].append(imported)
    return [f"  {m} -> {', '.join(targets)}" for m, targets in sorted(by_importer.items())]


def report(graph: Graph, sizes: bool = False) -> tuple[list[str], bool]:
    """The printed picture, and whether the graph passes."""
    titles = {
        "module": "Imports at module level",
        "deferred": "Imports inside functions (deferred)",
        "typing": "Imports for type checking only",
    }
    out = []
    for kind in KINDS:
        out += [f"{titles[kind]}:", *(_lines(graph, kind) or ["  none"]), ""]
    out.append(f"Layers of {LAYERED} (a module may import its own layer and those below):")
    for layer in ORDER:
        members = [m for m in graph.modules if layer_of(m) == layer]
        out.append(f"  {layer}: {', '.join(members) or 'none'}")
    if sizes:
        out += ["", "Lines per module:"]
        out += [f"  {lines:>5}  {m}" for m, lines in sorted(graph.modules.items())]
    import_time = cycles(graph.edges["module"])
    anywhere = [
        c for c in cycles(graph.edges["module"] | graph.edges["deferred"]) if c not in import_time
    ]
    between_packages = [
        c
        for c in cycles(package_edges(graph))
        if set(c) not in [set(m) for m in import_time + anywhere]
    ]
    problems = []
    problems += [f"import-time cycle: {' -> '.join(c)}" for c in import_time]
    problems += [f"cycle through deferred imports: {' -> '.join(c)}" for c in anywhere]
    problems += [f"cycle between packages: {' -> '.join(c)}" for c in between_packages]
    problems += [
        f"upward import ({kind}): {a} ({layer_of(a)}) imports {b} ({layer_of(b) or 'outside'})"
        for a, b, kind in upward(graph)
    ]
    problems += [f"module in no layer: {m} (add it to LAYERS)" for m in unlayered(graph)]
    out += ["", *(problems or ["No cycle, no upward import."])]
    return out, not problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--packages", nargs="+", default=list(PACKAGES))
    parser.add_argument("--sizes", action="store_true", help="also print lines per module")
    args = parser.parse_args(argv)
    lines, passed = report(scan(args.root, args.packages), args.sizes)
    print("\n".join(lines))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
