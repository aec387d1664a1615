# Quick start: `make run` (build the pipeline) and `make test` (run the test suite).
# Both create .venv on first use and install the exact pins from requirements.lock.

PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
STAMP  := $(VENV)/.installed

# DVC stages call `python -m pipeline ...`: put the venv first so they use its interpreter.
export PATH := $(BIN):$(PATH)

.PHONY: run test lint lock clean

run: $(STAMP)
	dvc repro
	python -m pipeline summary

test: $(STAMP)
	python -m pytest -n auto --dist worksteal

lint: $(STAMP)
	ruff check pipeline tests
	ruff format --check pipeline tests

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# Re-resolve requirements.in into exact pins (needs the package registry).
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet -r requirements.in
	{ sed -n '1,2p' requirements.lock; .lockenv/bin/python -m pip freeze | sed 's/+cpu$$//'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .lockenv

clean:
	rm -rf $(VENV)
