"""Sphinx configuration of the dbsessions documentation (Markdown pages, read by MyST)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

project = "dbsessions"
author = "dbsessions contributors"
copyright = "dbsessions contributors"
# Read from the package's source rather than imported: importing it needs Django settings.
release = re.search(
    r'__version__ = "([^"]+)"', (ROOT / "dbsessions" / "__init__.py").read_text()
).group(1)
version = release

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Headings up to level 3 get anchors, so pages can link to one setting or one check.
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"dbsessions {release}"
