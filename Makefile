PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
DISTS := -e . -e ./receivers_stub -e ./receivers_external -e ./receivers_teamspace

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml receivers_*/pyproject.toml
	$(BIN)/python -m pip install -q $(DISTS)
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(TEST_STAMP)
	$(BIN)/ruff check .

bench: $(TEST_STAMP)
	$(BIN)/python -m pip install -q persist-queue
	$(BIN)/python scripts/benchmarks/bench_journal.py

clean:
	rm -rf $(VENV) build *.egg-info core/*.egg-info plugins/*.egg-info receivers_*/*.egg-info
