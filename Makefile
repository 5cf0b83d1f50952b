.PHONY: demo test lint docs clean bench bench-full bench-galera bench-soak

demo:
	./scripts/demo.sh

# Every environment of tox.ini: ruff, mypy, the docs build, then the suite on each database.
test:
	./scripts/test.sh

# ruff and mypy (tox.ini's lint and mypy environments), and ruff's formatting.
lint:
	./scripts/bootstrap.sh python3 'Django>=5.2,<5.3'
	.venv/bin/tox run -e lint,mypy
	.venv/bin/ruff format --check .

# The documentation site, warnings as errors, into .tox/docs/tmp/html.
docs:
	./scripts/bootstrap.sh python3 'Django>=5.2,<5.3'
	.venv/bin/tox run -e docs

# Benchmarks against Django's engines into docs/benchmarks/, the purge included.
bench:
	BOOTSTRAP_GROUPS=dev,bench ./scripts/bootstrap.sh python3 'Django>=5.2,<5.3'
	.venv/bin/python -m bench

bench-full:
	BOOTSTRAP_GROUPS=dev,bench ./scripts/bootstrap.sh python3 'Django>=5.2,<5.3'
	.venv/bin/python -m bench --full

clean:
	rm -rf .venv .venv-* .tox .pytest_cache .ruff_cache .mypy_cache .hypothesis docs/_build
	rm -rf artifacts build dist *.egg-info
	rm -f *.sqlite3 *.sqlite3-wal *.sqlite3-shm
	find . -name __pycache__ -type d -not -path "./.git/*" -prune -exec rm -rf {} +

# The Galera cluster's figures into docs/benchmarks/galera.json (starts the cluster if needed).
bench-galera:
	BOOTSTRAP_GROUPS=dev,bench ./scripts/bootstrap.sh python3 'Django>=5.2,<5.3'
	.venv/bin/python -m bench.galera

# The soak test into docs/benchmarks/soak/: 10 minutes per database x engine, under load, the
# connections killed every minute and purge_sessions every 30 s.
bench-soak:
	BOOTSTRAP_GROUPS=dev,bench ./scripts/bootstrap.sh python3 'Django>=5.2,<5.3'
	.venv/bin/python -m bench soak
