#!/usr/bin/env bash
# The check on a machine with a CUDA GPU, from the working tree alone: no network, no virtual
# environment, the machine's own python3 with torch, triton, nvcc and pytest. Three stages:
#   build  metakan_kernels._C in place, its CUDA kernels for this GPU's architecture only, printing
#          each kernel's registers and spills (a spill fails the stage)
#   tests  the GPU tests: pytest -m gpu over tests/ (every op test's CUDA targets: Triton's compiled
#          kernels, the CUDA backend; the benchmark harness on CUDA), in parallel if pytest-xdist is there
#   bench  metakan bench --device cuda --preset gpu-check in float32, then bfloat16: one layer at
#          B=65536, I=O=1024, G=5, k=3, d=1, H=32, cuda vs triton vs reference (and mlp): forward,
#          backward, forward+backward and step time, peak memory, bytes kept for backward
# Each stage has a time budget (7 minutes in all at worst); a failed stage does not stop the next.
# Exit status: 0 all passed, 1 a stage failed, 2 bad arguments, 3 no GPU. Outputs in $OUT (default
# bench/gpu_check_out): summary.log (all that is printed), build.log, tests.log, cuda.csv,
# cuda-gpu-check-float32.md, cuda-gpu-check-bfloat16.md, LATEST.md.
#
# usage: bash bench/gpu_check.sh [STAGE ...]     STAGE: build, tests, bench (default: all three)
# environment: PYTHON (default python3), OUT, TORCH_CUDA_ARCH_LIST (default: this GPU's),
#              METAKAN_GIT_COMMIT (the commit to record where the tree has no git)
set -uo pipefail

BUILD_S=90
TESTS_S=150
BENCH_S=90  # per dtype
DTYPES=(float32 bfloat16)

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

STAGES=()
for arg in "$@"; do
    case "$arg" in
        build | tests | bench) STAGES+=("$arg") ;;
        -h | --help) usage; exit 0 ;;
        *) echo "gpu_check.sh: unknown stage '$arg': expected build, tests or bench (-h for help)" >&2; exit 2 ;;
    esac
done
[ ${#STAGES[@]} -gt 0 ] || STAGES=(build tests bench)

cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
OUT=${OUT:-$ROOT/bench/gpu_check_out}

if ! command -v "$PYTHON" > /dev/null; then
    echo "gpu_check.sh: no $PYTHON here (set PYTHON to the interpreter that has torch)" >&2
    exit 2
fi
if ! nvidia-smi -L > /dev/null 2>&1; then
    echo "gpu_check.sh: no CUDA GPU here (nvidia-smi lists none): nothing to check; run it on a GPU machine" >&2
    exit 3
fi
if ! "$PYTHON" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2> /dev/null; then
    echo "gpu_check.sh: nvidia-smi lists a GPU but torch under $PYTHON cannot use it: nothing to check" >&2
    exit 3
fi

mkdir -p "$OUT" || exit 2
# The build's objects and Triton's cache stay out of $OUT, which must hold a few files only.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The packages import from the tree: metakan_kernels at the root, metakan under python/.
export PYTHONPATH="$ROOT:$ROOT/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export TRITON_INTERPRET=0  # compiled Triton kernels (tests/conftest.py defaults to the interpreter)
export TRITON_CACHE_DIR=${TRITON_CACHE_DIR:-$WORK/triton-cache}

stage() { echo; echo "=== $1 ($(date +%H:%M:%S)${2:+, budget $2 s})"; }

environment() {
    nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader
    "$PYTHON" - << 'PY'
import sys, torch, triton
print(f"Python {sys.version.split()[0]}, torch {torch.__version__} (CUDA {torch.version.cuda}), triton {triton.__version__}")
PY
    nvcc --version 2> /dev/null | tail -n 1
    echo "commit $(git rev-parse --short=12 HEAD 2> /dev/null || echo "${METAKAN_GIT_COMMIT:-unknown}")"
}

build() {
    export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1)}
    if [ -z "${CUDA_HOME:-}" ]; then
        local nvcc
        nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
        export CUDA_HOME
        CUDA_HOME=$(dirname "$(dirname "$nvcc")")
    fi
    echo "building metakan_kernels._C for compute capability $TORCH_CUDA_ARCH_LIST with $CUDA_HOME/bin/nvcc"
    # A fresh build directory, so that every kernel is compiled and reported.
    METAKAN_FORCE_CUDA_BUILD=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} timeout -k 10 "$BUILD_S" \
        "$PYTHON" setup.py build_ext --inplace --build-temp "$WORK/build" > "$OUT/build.log" 2>&1 \
        || { tail -n 40 "$OUT/build.log"; echo "the build failed or ran past $BUILD_S s (log: build.log)"; return 1; }
    "$PYTHON" csrc/ptxas_report.py "$OUT/build.log" || return 1
    "$PYTHON" -c "import metakan_kernels as mk; b = mk.available_backends(); print('backends:', ', '.join(b)); \
assert 'cuda' in b, 'the cuda backend is not available after the build'"
}

tests() {
    local parallel=()
    if "$PYTHON" -c "import xdist" 2> /dev/null; then
        parallel=(-n 8)  # Triton compiles each kernel in the test's process: 8 processes compile side by side
    fi
    echo "pytest -m gpu ${parallel[*]} tests"
    # -p no:cacheprovider: nothing written into the tree's .pytest_cache
    timeout -k 10 "$TESTS_S" "$PYTHON" -m pytest -m gpu -p no:cacheprovider -q ${parallel[@]+"${parallel[@]}"} \
        tests 2>&1 | tee "$OUT/tests.log"
    local rc=${PIPESTATUS[0]}
    [ "$rc" -ne 124 ] || echo "the tests ran past $TESTS_S s"
    return "$rc"
}

bench() {
    local dtype rc=0
    for dtype in "${DTYPES[@]}"; do
        echo "--- $dtype"
        timeout -k 10 "$BENCH_S" "$PYTHON" -m metakan bench --device cuda --preset gpu-check --dtype "$dtype" \
            --out "$OUT" --tag "cuda-gpu-check-$dtype" --no-plots --no-progress \
            || { echo "the $dtype benchmark failed or ran past $BENCH_S s"; rc=1; }
    done
    return "$rc"
}

main() {
    local status=0 name
    stage environment
    environment
    for name in "${STAGES[@]}"; do
        case "$name" in
            build) stage "build" "$BUILD_S"; build ;;
            tests) stage "tests" "$TESTS_S"; tests ;;
            bench) stage "bench" "$((BENCH_S * ${#DTYPES[@]}))"; bench ;;
        esac || { echo "gpu_check.sh: stage $name FAILED"; status=1; }
    done
    echo
    echo "=== done ($(date +%H:%M:%S)): $([ "$status" = 0 ] && echo "every stage passed" || echo "a stage FAILED"); outputs in $OUT"
    return "$status"
}

main 2>&1 | tee "$OUT/summary.log"
exit "${PIPESTATUS[0]}"
