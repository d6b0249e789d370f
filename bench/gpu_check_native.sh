#!/usr/bin/env bash
# The compiled extension on a machine with a CUDA GPU, in about three minutes: build metakan_kernels._C
# with its CUDA kernels for this GPU (printing each kernel's registers and spills; a spill fails),
# run the CUDA tests, then time a MetaKANLinear training step on the cuda, triton and reference
# backends and record it in bench/results/. Called by bench/gpu_check.sh; runs alone too:
#     bash bench/gpu_check_native.sh
set -euo pipefail
cd "$(dirname "$0")/.."

nvidia-smi --query-gpu=name,compute_cap,memory.total --format=csv,noheader
# This GPU's architecture only: one minute of nvcc instead of several.
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1)}
if [ -z "${CUDA_HOME:-}" ]; then
  nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
  export CUDA_HOME=$(dirname "$(dirname "$nvcc")")
fi
export TRITON_INTERPRET=0  # real Triton kernels (tests/conftest.py defaults to the interpreter)

echo "== build _C for compute capability $TORCH_CUDA_ARCH_LIST"
touch csrc/cuda/*.cu  # so that make compiles the CUDA kernels for this GPU (and reports them) even if built before
make install
PY=.venv/bin/python
$PY -c "import metakan_kernels as mk; b = mk.available_backends(); print('backends:', b); assert 'cuda' in b, b"

echo "== CUDA tests"
$PY -m pytest -q -m gpu tests/test_native_cuda.py

echo "== training step: cuda vs triton vs reference"
$PY bench/native_step.py --device cuda --reps 20
$PY bench/native_step.py --device cuda --dtype bfloat16 --reps 20
$PY bench/native_step.py --device cuda --batch 65536 --width 512 --reps 10
