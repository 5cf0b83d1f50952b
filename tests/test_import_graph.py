"""``scripts/import_graph.py``: the repository has no import cycle and dbsessions' layers hold.

The script reads source only, so these tests need no database; the small packages it must
catch out are written into ``tmp_path``.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "import_graph.py"


def run(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root


def test_the_repository_has_no_cycle_and_no_upward_import():
    done = run()
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.rstrip().endswith("No cycle, no upward import.")
    assert "  bench.report -> bench.charts" in done.stdout


def test_a_module_level_cycle_fails(tmp_path):
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "import pkg.c\n",
            "pkg/c.py": "from .a import name\n",
        },
    )
    done = run("--root", str(tmp_path), "--packages", "pkg")
    assert done.returncode == 1
    assert "import-time cycle: pkg.a -> pkg.b -> pkg.c -> pkg.a" in done.stdout


def test_a_cycle_through_a_deferred_import_fails_and_is_told_apart(tmp_path):
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/charts.py": "def draw():\n    from pkg.report import label\n",
            "pkg/report.py": "from pkg import charts\n",
            "pkg/alone.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from pkg import report\n",
        },
    )
    done = run("--root", str(tmp_path), "--packages", "pkg")
    assert done.returncode == 1
    assert "cycle through deferred imports: pkg.charts -> pkg.report -> pkg.charts" in done.stdout
    assert "import-time cycle" not in done.stdout
    deferred = done.stdout.split("(deferred):")[1].split("\n\n")[0]
    assert deferred.strip() == "pkg.charts -> pkg.report"
    typing = done.stdout.split("type checking only:")[1].split("\n\n")[0]
    assert typing.strip() == "pkg.alone -> pkg.report"


def test_an_upward_import_and_an_unplaced_module_fail(tmp_path):
    write(
        tmp_path,
        {
            "dbsessions/__init__.py": "",
            "dbsessions/models.py": "from dbsessions.dialects import base\n",
            "dbsessions/dialects/__init__.py": "from . import base\n",
            "dbsessions/dialects/base.py": "def table():\n    from dbsessions import models\n",
            "dbsessions/newcomer.py": "",
            "dbsessions/views.py": "import tests.utils\n",
            "tests/__init__.py": "",
            "tests/utils.py": "from dbsessions import models\n",
        },
    )
    done = run("--root", str(tmp_path), "--packages", "dbsessions", "tests")
    assert done.returncode == 1
    upward = [line for line in done.stdout.splitlines() if line.startswith("upward import")]
    assert upward == [
        "upward import (module): dbsessions.views (top) imports tests.utils (outside)",
        "upward import (deferred): dbsessions.dialects.base (bottom) imports "
        "dbsessions.models (models)",
    ]
    assert "module in no layer: dbsessions.newcomer (add it to LAYERS)" in done.stdout
    assert "  dbsessions.dialects -> dbsessions.dialects.base" in done.stdout


def test_sizes_are_lines_per_module(tmp_path):
    write(tmp_path, {"pkg/__init__.py": "", "pkg/a.py": "x = 1\ny = 2\n"})
    done = run("--root", str(tmp_path), "--packages", "pkg", "--sizes")
    assert done.returncode == 0
    assert "      2  pkg.a" in done.stdout.splitlines()


def test_packages_importing_each_other_through_different_modules_fail(tmp_path):
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/backends/__init__.py": "",
            "pkg/backends/db.py": "def purge():\n    from pkg import purge\n",
            "pkg/backends/sql.py": "",
            "pkg/purge.py": "from pkg.backends import sql\n",
        },
    )
    done = run("--root", str(tmp_path), "--packages", "pkg")
    assert done.returncode == 1
    problems = done.stdout.split("\n\n")[-1].splitlines()
    assert problems == ["cycle between packages: pkg.backends -> pkg.purge -> pkg.backends"]
