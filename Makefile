# tfnq: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
	  echo "error: $(PYTHON) not found. tfnq needs Python 3.11 (tensorflow-compression 2.14.1 is built for it)." >&2; \
	  echo "       Install python3.11 (e.g. apt-get install python3.11 python3.11-venv, or pyenv) and rerun." >&2; \
	  exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python setup.py
	$(BIN)/pip install -q -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: $(STAMP)
	$(BIN)/ruff check tfnq scripts tests
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests $(if $(CI),-m "not slow",)

lint: $(STAMP)
	$(BIN)/ruff check tfnq scripts tests

clean:
	rm -rf $(VENV) build *.egg-info
