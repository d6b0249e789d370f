#!/usr/bin/env bash
# One check on a CUDA GPU machine, from the working tree only (no network): the GPU tests of the
# Triton backend (real compiled kernels, larger shapes, float16/bfloat16, torch.compile), then a short
# triton-vs-reference benchmark at B=65536, I=O=1024, G=5, k=3, d=1, H=32, then
# bench/gpu_check_native.sh when it exists and is executable. Outputs go to $OUT (or bench/gpu_check_out).
# Budget: about 6 minutes for the part here. Exit status: 1 if a stage failed, else 0.
#
#   bash bench/gpu_check.sh            # PYTHON=python3 by default; TESTS_ONLY=1 or BENCH_ONLY=1 to split
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
OUT=${OUT:-$ROOT/bench/gpu_check_out}
mkdir -p "$OUT"
# The packages import from the tree (metakan_kernels at the root, metakan under python/).
export PYTHONPATH="$ROOT:$ROOT/python${PYTHONPATH:+:$PYTHONPATH}"
unset TRITON_INTERPRET
export TRITON_CACHE_DIR=${TRITON_CACHE_DIR:-$OUT/triton_cache}
status=0

stage() { echo; echo "=== $* ($(date +%H:%M:%S))"; }

stage "environment"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$PYTHON" - <<'EOF' | tee "$OUT/environment.txt"
import torch, triton
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), triton {triton.__version__}, "
      f"device {torch.cuda.get_device_name() if torch.cuda.is_available() else 'none'}")
EOF
git rev-parse --short HEAD 2>/dev/null | sed 's/^/commit /' | tee -a "$OUT/environment.txt"

if [ "${BENCH_ONLY:-0}" != 1 ]; then
    stage "GPU tests (pytest -m gpu)"
    if "$PYTHON" -c "import pytest" 2>/dev/null; then
        # -p no:cacheprovider: the tree may be read-only; the conftest's interpreter switch is unset above
        TRITON_INTERPRET=0 timeout 300 "$PYTHON" -m pytest -m gpu -p no:cacheprovider -q -rs \
            --junitxml="$OUT/gpu_tests.xml" tests/test_triton_gpu.py 2>&1 | tee "$OUT/gpu_tests.txt"
        [ "${PIPESTATUS[0]}" = 0 ] || { echo "GPU tests FAILED"; status=1; }
    else
        echo "pytest is not installed for $PYTHON: GPU tests NOT RUN"; status=1
    fi
fi

if [ "${TESTS_ONLY:-0}" != 1 ]; then
    stage "benchmark: triton vs reference"
    timeout 240 "$PYTHON" bench/triton_vs_reference.py --out "$OUT" 2>&1 | tee "$OUT/triton_vs_reference.txt"
    [ "${PIPESTATUS[0]}" = 0 ] || { echo "benchmark FAILED"; status=1; }
fi

if [ -x bench/gpu_check_native.sh ]; then
    stage "native extension check (bench/gpu_check_native.sh)"
    OUT="$OUT" bash bench/gpu_check_native.sh || { echo "native check FAILED"; status=1; }
fi

stage "done: status $status, outputs in $OUT"
exit $status
