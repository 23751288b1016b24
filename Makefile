PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
DISTS := -e . -e ./receivers_stub -e ./receivers_external -e ./receivers_teamspace \
         -e ./receivers_nats
# Quiet installs: pip's -q, and setuptools' "Editable installation" notice (information only, not a
# problem with the package) filtered in the build backend's interpreter.
PIP_INSTALL := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install -q

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml receivers_*/pyproject.toml
	$(PIP_INSTALL) $(DISTS)
	touch $@

$(TEST_STAMP): $(STAMP)
	$(PIP_INSTALL) -e '.[test]'
	touch $@

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

# Two pytest-xdist workers: most tests wait on real processes, so one worker leaves a core idle
# (serial: 6m40s, two workers: about 3m10s on the 2-core machine). Each file's tests stay on one
# worker, so a module-scoped fixture (the plugin install of the third-party tests) is set up
# once. `python -m pytest` alone stays serial.
test: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: $(TEST_STAMP)
	$(BIN)/ruff check .

bench: $(TEST_STAMP)
	$(PIP_INSTALL) persist-queue
	$(BIN)/python scripts/benchmarks/bench_journal.py

clean:
	rm -rf $(VENV) build *.egg-info core/*.egg-info plugins/*.egg-info receivers_*/*.egg-info
