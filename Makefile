# HyperCare Desk — `make run` starts the app with demo data; `make test` runs lint and the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test lint bench fuzz soak clean

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "HyperCare Desk needs Python 3.11 or newer; set PYTHON=python3.11 (or newer).")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

run: $(VENV)/.installed
	$(PY) -m seed --if-empty
	@echo "HyperCare Desk on http://localhost:$(PORT) (Ctrl+C stops it)"
	MALLOC_ARENA_MAX=2 $(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true \
		--browser.gatherUsageStats false

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest

# Every page at two sizes on both engines, then the load runs (bench/README.md); QUICK=1: a tenth
# of the sizes and shorter load runs, and only the page, browser and load benchmarks. Needs
# PostgreSQL at BENCH_PG_SERVER (127.0.0.1:5432); the two-replica load run needs nginx.
QUICK ?=
bench: $(VENV)/.dev-installed
ifeq ($(QUICK),)
	$(PY) bench/seed_bench.py
	$(PY) bench/clocks_bench.py
	$(PY) bench/queue_bench.py
	$(PY) bench/monitor_bench.py
	$(PY) bench/weekly_report_bench.py
	$(PY) bench/qbr_bench.py
	$(PY) bench/anomaly_eval.py
endif
	$(PY) bench/pages_bench.py $(if $(QUICK),--quick)
	$(PY) bench/browser_bench.py $(if $(QUICK),--quick)
	$(PY) bench/load_bench.py --label one-process $(if $(QUICK),--seconds 20 --warmup 10)
	@if command -v nginx >/dev/null; then $(PY) bench/load_bench.py --replicas 2 \
		--label two-replicas $(if $(QUICK),--seconds 20 --warmup 10); \
	else echo "nginx not found (apt-get install nginx-light): two-replica load run skipped"; fi

# Hostile input with a larger budget than `make test` runs (HYPERCARE_FUZZ_EXAMPLES per test).
FUZZ_EXAMPLES ?= 30
fuzz: $(VENV)/.dev-installed
	HYPERCARE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q tests/reliability/test_fuzz.py

# 20 sessions against a local server for SOAK_MINUTES; memory, log errors and database size.
SOAK_MINUTES ?= 30
soak: $(VENV)/.dev-installed
	$(PY) bench/soak.py --minutes $(SOAK_MINUTES) --sessions 20

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
