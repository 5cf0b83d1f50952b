.PHONY: demo test lint clean bench bench-full

demo:
	./scripts/demo.sh

test:
	./scripts/test.sh

# Benchmarks against Django's engines into docs/benchmarks/ (quick: under 5 minutes).
bench:
	BOOTSTRAP_EXTRAS=test,bench ./scripts/bootstrap.sh python3 'Django>=5.2,<5.3'
	.venv/bin/python -m bench

bench-full:
	BOOTSTRAP_EXTRAS=test,bench ./scripts/bootstrap.sh python3 'Django>=5.2,<5.3'
	.venv/bin/python -m bench --full

# ruff comes with the dev extras; BOOTSTRAP_EXTRAS=dev adds them to .venv.
lint:
	BOOTSTRAP_EXTRAS=dev ./scripts/bootstrap.sh python3 'Django>=5.2,<5.3'
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

clean:
	rm -rf .venv .venv-* .tox .pytest_cache .ruff_cache artifacts build dist *.egg-info
	rm -f *.sqlite3 *.sqlite3-wal *.sqlite3-shm
	find . -name __pycache__ -type d -not -path "./.git/*" -prune -exec rm -rf {} +
