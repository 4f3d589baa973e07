# Set-up in two commands, on a fresh machine with Python 3.11 and make:
#
#     make repro    # the runtime set into .venv, then `dvc repro` on the embedded defaults
#     make test     # adds the test set, then ruff and the whole suite
#
# Each installs into the project's own .venv (no environment to activate), only when a
# requirements file changed since the last install (a stamp file in .venv), and says what it
# does. Afterwards every command of the README runs as `.venv/bin/<command>`, or bare after
# `source .venv/bin/activate`.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
# The installs are exact: every package pinned, nothing resolved again (requirements.txt).
INSTALL := $(PIP) install --quiet --no-deps --no-compile
# The recipes run the venv's commands first, as an activated environment would.
export PATH := $(abspath $(BIN)):$(PATH)
export VIRTUAL_ENV := $(abspath $(VENV))

.PHONY: repro test install install-team install-test
.DEFAULT_GOAL := repro

repro: install
	@echo "== dvc repro: monitor, prepare, featurize, tune, evaluate, register, report"
	dvc repro
	@echo "== the registry's history (MLFLOW_TRACKING_URI, or mlflow.db here):"
	housing history

test: install-test
	@echo "== ruff check ."
	ruff check .
	@echo "== pytest"
	pytest

install: $(VENV)/.runtime
install-team: $(VENV)/.team
install-test: $(VENV)/.test

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || \
	  { echo "error: $(PYTHON) is not Python 3.11 (the pins were resolved on 3.11); run make PYTHON=python3.11"; exit 1; }
	@echo "== creating $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt pyproject.toml | $(BIN)/python
	@echo "== installing the runtime set (requirements.txt) into $(VENV)"
	$(INSTALL) -r requirements.txt
	@touch $@

$(VENV)/.team: requirements-team.txt $(VENV)/.runtime
	@echo "== installing the team set (requirements-team.txt) into $(VENV)"
	$(INSTALL) -r requirements-team.txt
	@touch $@

$(VENV)/.test: requirements-test.txt $(VENV)/.team
	@echo "== installing the test set (requirements-test.txt) into $(VENV)"
	$(INSTALL) -r requirements-test.txt
	@touch $@
