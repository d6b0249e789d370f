# `make demo`, `make test` and `make bench` each set up .venv on first use (torch, triton, this package and its
# extras), then run. CI calls `make test` through .ci/run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.metakan-installed

.PHONY: demo test install bench bench-full clean

demo: $(STAMP)
	$(BIN)/metakan demo

# The pytest-benchmark suite in bench/ is collected and run once, untimed (--benchmark-disable).
test: $(STAMP)
	$(BIN)/python -m pytest --benchmark-disable

# Benchmarks: rows appended to bench/results/DEVICE.csv, bench/results/LATEST.md, plots.
# Pass options through BENCH_ARGS, e.g. make bench BENCH_ARGS="--threads 1" or "--device cuda".
bench: $(STAMP)
	$(BIN)/metakan bench --quick $(BENCH_ARGS)

bench-full: $(STAMP)
	$(BIN)/metakan bench --full $(BENCH_ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet setuptools wheel
	$(BIN)/python -m pip install --quiet torch
	$(BIN)/python -m pip install --quiet --no-build-isolation -e ".[dev,tasks,triton]"
	touch $@

clean:
	rm -rf $(VENV) build dist *.egg-info
