"""Benchmarks of dbsessions beside Django's own ``db`` and ``cached_db`` session engines.

``python -m bench`` (``make bench``) is the one entry point: it runs every phase, the purge
included, on each reachable database and writes ``docs/benchmarks/results.json``,
``README.md`` and PNG charts; ``python -m bench --help`` lists its options and the ``report``
and ``profile`` commands. See ``bench/__main__.py``.
"""
