# finetuner — common tasks. `make install` once, then `make run` or `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)

.PHONY: install run test test-unit lint emulator bench bench-full bench-tools chaos migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'

run: install
	$(BIN)/python -m api.embedded

test: install
	$(BIN)/python -m pytest -q

test-unit: install
	$(BIN)/python -m pytest -q tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

emulator: install
	$(BIN)/python -m emulator --host 127.0.0.1 --port 8090

# Benchmarks (never part of `make test`): PostgreSQL on 127.0.0.1:5432 and Redis (FINETUNER_BENCH_REDIS_URL,
# default redis://127.0.0.1:6379/14, flushed) as for the integration tests; wrk from Debian for the API one.
bench-tools: install
	$(BIN)/pip install -q -e '.[bench]'
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -q wrk >/dev/null; } || \
		{ echo "wrk is missing: apt-get install wrk (Debian)"; exit 1; }

bench: bench-tools
	$(BIN)/python -m bench

# Outside CI: the terminal-history suite at 20 jobs of each kind (succeeded, failed, cancelled,
# adopted) and the recovery suite's kills, on PostgreSQL + Redis (see tests/integration/recovery).
CHAOS_RUNS ?= 20
chaos: install
	FINETUNER_HISTORY_RUNS=$(CHAOS_RUNS) $(BIN)/python -m pytest -q -s tests/integration/recovery/test_terminal_history.py \
		tests/integration/recovery/test_lock_holder_killed.py tests/integration/recovery/test_worker_kill.py

# Also the 300k-example validation size.
bench-full: bench-tools
	FINETUNER_BENCH_FULL=1 $(BIN)/python -m bench

migrate: install
	$(BIN)/alembic upgrade head

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
