# `make demo` and `make test` each set up .venv on first use (torch, triton, this package and its
# extras), then run. CI calls `make test` through .ci/run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.metakan-installed

.PHONY: demo test install clean

demo: $(STAMP)
	$(BIN)/metakan demo

test: $(STAMP)
	$(BIN)/python -m pytest

install: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet setuptools wheel
	$(BIN)/python -m pip install --quiet torch
	$(BIN)/python -m pip install --quiet --no-build-isolation -e ".[dev,tasks,triton]"
	touch $@

clean:
	rm -rf $(VENV) build dist *.egg-info
