# tfnq: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# A venv with only the newest TensorFlow from PyPI (no tfnq, no tensorflow-compression):
# scripts/check_newest_tf.py checks there that the exported models load and decode to the
# symbols of tests/golden/symbols.json (issue 11). Built once (its stamp); `make clean`
# (or deleting the folder) builds it anew with whatever is newest then.
NEWEST_TF       ?= .venv-newest-tf
NEWEST_TF_BIN   := $(NEWEST_TF)/bin
NEWEST_TF_STAMP := $(NEWEST_TF)/.installed
NEWEST_TF_PKG   ?= tensorflow-cpu
SYMBOLS         := tests/golden/symbols.json
NEWEST_TF_FLAGS ?=

.PHONY: install demo test test-slow lint clean newest-tf check-newest-tf

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

# `make test`: ruff, the tests not marked `slow`, the newest-TensorFlow check at one
# intra-op thread of one shipped model per architecture and mode (`FAST_MODELS`: every
# code path; 16 models took ~25 min beside training). `make test-slow`: the slow tests (training and export scripts run in
# subprocesses, golden checks of the shipped models beyond one per architecture and
# mode) and the check of every model at two threads. CI (.ci/run) runs both;
# `make check-newest-tf` alone checks every model at both.
FAST_MODELS := hyperprior-0.0105-un-q,hyperprior-0.0067-un-uq-sr,linear-0.004-un-q,linear-0.004-un-uq,linear-0.004-un-uq-sr
test: $(STAMP)
	$(BIN)/ruff check tfnq scripts tests
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=15 -m "not slow" tests
	@$(MAKE) --no-print-directory check-newest-tf NEWEST_TF_FLAGS="--threads=1 --models=$(FAST_MODELS) $(NEWEST_TF_FLAGS)"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=15 -m slow tests
	@$(MAKE) --no-print-directory check-newest-tf NEWEST_TF_FLAGS="--threads=2 $(NEWEST_TF_FLAGS)"

$(NEWEST_TF_STAMP):
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
	  echo "error: $(PYTHON) not found (the newest-TensorFlow venv is built with it)." >&2; exit 1; }
	$(PYTHON) -m venv $(NEWEST_TF)
	@$(NEWEST_TF_BIN)/pip install -q --upgrade pip && \
	  $(NEWEST_TF_BIN)/pip install -q --upgrade $(NEWEST_TF_PKG) numpy || { \
	  echo "error: pip could not install $(NEWEST_TF_PKG) and numpy from PyPI into $(NEWEST_TF)" >&2; \
	  echo "       (see pip's message above: no network to PyPI, or no wheel for this Python)." >&2; \
	  echo "       The newest-TensorFlow check needs them; rerun when PyPI is reachable, or" >&2; \
	  echo "       pick another package with NEWEST_TF_PKG=tensorflow." >&2; \
	  exit 1; }
	@if $(NEWEST_TF_BIN)/pip show -q tensorflow-compression tfnq >/dev/null 2>&1; then \
	  echo "error: $(NEWEST_TF) must hold neither tfnq nor tensorflow-compression" >&2; exit 1; fi
	@$(NEWEST_TF_BIN)/python -c "import tensorflow as tf; print(tf.__version__)" > $(NEWEST_TF_STAMP)
	@echo "$(NEWEST_TF): TensorFlow $$(cat $(NEWEST_TF_STAMP))"

newest-tf: $(NEWEST_TF_STAMP)

# The exported models of saved_models/ in the newest TensorFlow, against the symbols the
# project's runtime decodes their golden files to (written by `--write_reference`);
# e.g. `make check-newest-tf NEWEST_TF_FLAGS=--output=docs/newest_tf.md`.
check-newest-tf:
	@if [ ! -f $(SYMBOLS) ]; then \
	  echo "check-newest-tf: skipped, no $(SYMBOLS) (write it in the project venv with" \
	       "$(BIN)/python scripts/check_newest_tf.py --write_reference=$(SYMBOLS))"; \
	else $(MAKE) --no-print-directory $(NEWEST_TF_STAMP) && \
	  $(NEWEST_TF_BIN)/python scripts/check_newest_tf.py --models_dir=saved_models \
	    --golden_dir=tests/golden --reference=$(SYMBOLS) $(NEWEST_TF_FLAGS); fi

lint: $(STAMP)
	$(BIN)/ruff check tfnq scripts tests

clean:
	rm -rf $(VENV) $(NEWEST_TF) build *.egg-info
