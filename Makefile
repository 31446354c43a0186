# One task runner for people and CI. `make run` and `make test` install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO_DB ?= bayanihan.db
PORT ?= 8640
# test processes in parallel (pytest-xdist); 1 runs the suite in this process
TEST_WORKERS ?= 2

.PHONY: run test test-pg lint format bench bench-quick clean

$(STAMP): pyproject.toml scripts/bootstrap.sh
	PYTHON=$(PYTHON) VENV=$(VENV) sh scripts/bootstrap.sh
	touch $@

run: $(STAMP)
	$(BIN)/bayanihan --db sqlite:///$(abspath $(DEMO_DB)) init --node-name "CERT-PH (demo)" --country PH
	$(BIN)/bayanihan --db sqlite:///$(abspath $(DEMO_DB)) load-demo --port $(PORT)
	$(BIN)/bayanihan --db sqlite:///$(abspath $(DEMO_DB)) serve --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(if $(filter 1,$(TEST_WORKERS)),,-n $(TEST_WORKERS))

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run_all.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache bench/.work
