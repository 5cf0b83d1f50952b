"""Benchmarks of dbsessions beside Django's own ``db`` and ``cached_db`` session engines.

``python -m bench`` (``make bench``) runs every phase on each reachable database and writes
``docs/benchmarks/results.json``, ``README.md`` and PNG charts. See ``bench/__main__.py``.
"""
