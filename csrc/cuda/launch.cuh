// Launching a fused kernel: dynamic shared memory beyond the default 48 KiB, and the launch's error.
// A plain C++ compiler gets only the declaration: the CPU emulation of the kernels in csrc/tests
// defines it (running each block on CPU threads).
#pragma once

#include <cuda_runtime.h>

#include "tile.cuh"

namespace metakan::cuda {

#if defined(__CUDACC__)
template <typename Kernel, typename... Args>
cudaError_t launch(Kernel kernel, int64_t blocks, size_t shared_bytes, cudaStream_t stream, Args... args) {
  if (blocks <= 0) return cudaSuccess;
  if (shared_bytes > 48 * 1024) {
    const cudaError_t err =
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared_bytes));
    if (err != cudaSuccess) return err;
  }
  kernel<<<static_cast<unsigned>(blocks), kThreads, shared_bytes, stream>>>(args...);
  return cudaGetLastError();
}
#else
template <typename Kernel, typename... Args>
cudaError_t launch(Kernel kernel, int64_t blocks, size_t shared_bytes, cudaStream_t stream, Args... args);
#endif

}  // namespace metakan::cuda

// Explicit instantiations of a launcher for the three CUDA dtypes.
#define METAKAN_CUDA_INSTANTIATE(DECLARE) \
  DECLARE(float)                          \
  DECLARE(__half)                         \
  DECLARE(__nv_bfloat16)
