# `make demo` and `make test` each set up .venv on first use (torch, triton, this package and its
# extras, the compiled extension metakan_kernels._C), then run; `make bench` the same, then benchmarks.
# CI calls `make test` through .ci/run. _C is compiled by setup.py alone (sources and flags in
# csrc/build.txt), once, into build/: the editable install leaves it out, build_ext --inplace compiles
# it, and the wheel's build finds those objects up to date (ninja) and only links them again.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.metakan-installed
NATIVE := build/.native-built
NATIVE_LOG := build/native-build.log
WHEEL := dist/.wheel-built
CSRC := $(shell find csrc -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh') csrc/build.txt

# The CUDA kernels are compiled wherever nvcc is found (no GPU needed to compile them); CI compiles
# one architecture to save time.
ifneq ($(wildcard /usr/local/cuda/bin/nvcc),)
export CUDA_HOME ?= /usr/local/cuda
export METAKAN_FORCE_CUDA_BUILD ?= 1
endif
ifdef CI
export TORCH_CUDA_ARCH_LIST ?= 9.0
endif
EDITABLE_INSTALL = METAKAN_SKIP_NATIVE_BUILD=1 $(BIN)/python -m pip install --quiet --no-build-isolation \
	-e ".[dev,tasks,triton]"

# Run a build step quietly into $(NATIVE_LOG); show its end if it fails, else each CUDA kernel's
# registers and spills (a spill fails the build).
define build_native
	@mkdir -p build
	@echo "building metakan_kernels._C (log: $(NATIVE_LOG))"
	@$(1) > $(NATIVE_LOG) 2>&1 || (tail -60 $(NATIVE_LOG); exit 1)
	@$(BIN)/python csrc/ptxas_report.py $(NATIVE_LOG)
endef

.PHONY: demo test install wheel ctest bench bench-full bench-step bench-trainability clean

demo: install
	$(BIN)/metakan demo

# The pytest-benchmark suite in bench/ is collected and run once, untimed (--benchmark-disable).
test: install ctest $(WHEEL)
	$(BIN)/python -m pytest --benchmark-disable

# Benchmarks: rows appended to bench/results/DEVICE.csv, bench/results/LATEST.md, plots.
# Pass options through BENCH_ARGS, e.g. make bench BENCH_ARGS="--threads 1" or "--device cuda".
bench: install
	$(BIN)/metakan bench --quick $(BENCH_ARGS)

bench-full: install
	$(BIN)/metakan bench --full $(BENCH_ARGS)

bench-step: install
	$(BIN)/metakan bench --preset step $(BENCH_ARGS)

# Training, not timing: hours on 2 CPU cores; resumes where it stopped (bench/README.md).
bench-trainability: install
	$(BIN)/metakan bench --preset trainability $(BENCH_ARGS)

install: $(STAMP) $(NATIVE)

# The environment and the editable install of the Python packages (without _C).
$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet setuptools wheel ninja
	$(BIN)/python -m pip install --quiet torch
	$(EDITABLE_INSTALL)
	touch $@

# _C in place, incrementally (ninja) when a file in csrc/ or setup.py changed since.
$(NATIVE): $(CSRC) setup.py | $(STAMP)
	$(call build_native,$(BIN)/python setup.py build_ext --inplace)
	touch $@

# dist/metakan-<version>-cp310-abi3-linux_x86_64.whl with the compiled _C inside (the objects of
# $(NATIVE), linked again): one wheel for every torch >= 2.10 and CPython >= 3.10 (csrc/README.md).
# tests/build/test_wheel.py installs it next to torch 2.10 and 2.11, in venvs it makes once under build/torch-envs.
wheel: $(WHEEL)

$(WHEEL): $(CSRC) setup.py pyproject.toml $(shell find metakan_kernels python -name '*.py') | $(NATIVE)
	rm -f dist/metakan-*.whl
	@# setuptools packages whatever build/lib holds: no stale _C of an earlier build may ride along
	rm -rf build/lib.* build/bdist.*
	@mkdir -p build
	@echo "building the wheel (log: build/wheel-build.log)"
	@$(BIN)/python -m pip wheel -v --no-build-isolation --no-deps -w dist . > build/wheel-build.log 2>&1 \
		|| (tail -60 build/wheel-build.log; exit 1)
	ls dist/metakan-*.whl
	touch $@

# The C++ unit tests (header math; the CUDA kernels emulated on CPU threads, where CUDA's headers
# are found): CMake reads the kernels' sources and flags from csrc/build.txt; no venv, torch or GPU.
ctest:
	@mkdir -p build
	cmake -S . -B build/cmake $(if $(shell command -v ninja),-G Ninja) \
		> build/cmake-configure.log 2>&1 || (tail -40 build/cmake-configure.log; exit 1)
	cmake --build build/cmake
	ctest --test-dir build/cmake --output-on-failure

clean:
	rm -rf $(VENV) build dist *.egg-info metakan_kernels/_C*.so
