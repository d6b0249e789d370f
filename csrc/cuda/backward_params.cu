// Fused parameter gradients: a fixed grid of blocks takes (64-output tile, input tile) tasks in turn.
// A task accumulates dL/dcoefficient = dy_tile^T @ feature_tile over the whole batch in registers,
// then writes dcoef and dbase_weight, or back-propagates through the meta-learner inside the tile:
// dembedding goes straight out, the meta-learner's gradients into the block's own partial sums,
// which a second kernel adds up in a fixed order (deterministic, no atomics).
#include "kernels.h"
#include "launch.cuh"
#include "param_grads.cuh"

namespace metakan::cuda {
namespace {

template <typename T>
MK_HD size_t params_region_bytes() {
  const size_t tiles = align128(kRows * kLdOuts * sizeof(T)) + align128(kRows * kLdCols * sizeof(T));
  const size_t out = align128(kOuts * kLdCols * sizeof(float));
  return tiles > out ? tiles : out;
}

template <typename T>
int64_t param_blocks(const LayerParams<T, float>& p) {
  const int64_t tasks =
      ceil_div(p.out_features, kOuts) * ceil_div(p.in_features, tile_inputs(p.width(), p.in_features));
  return tasks < kMaxParamBlocks ? tasks : kMaxParamBlocks;
}

template <typename T>
__global__ void __launch_bounds__(kThreads, kMinBlocks)
    backward_params_kernel(const LayerParams<T, float> p, float* workspace) {
  extern __shared__ __align__(128) unsigned char smem[];
  T* dy = reinterpret_cast<T*>(smem);                                                  // [kRows][kLdOuts]
  T* features = reinterpret_cast<T*>(smem + align128(kRows * kLdOuts * sizeof(T)));     // [kRows][kLdCols]
  float* grad = reinterpret_cast<float*>(smem);                                        // [kOuts][kLdCols], after
  float* act = reinterpret_cast<float*>(smem + params_region_bytes<T>());              // meta-learner scratch
  float* dpre = act + meta_step_edges(p.hidden_dim) * (p.hidden_dim + 1);

  const int width = p.width();
  const int step = tile_inputs(width, p.in_features);
  const int64_t input_tiles = ceil_div(p.in_features, step);
  const int64_t tasks = ceil_div(p.out_features, kOuts) * input_tiles;
  const int64_t count = p.is_meta() ? p.meta_param_count() : 0;
  float* partial = workspace + blockIdx.x * count;
  for (int64_t k = threadIdx.x; k < count; k += kThreads) partial[k] = 0.0f;

  for (int64_t task = blockIdx.x; task < tasks; task += gridDim.x) {
    const int64_t o0 = task / input_tiles * kOuts;
    const int64_t i0 = task % input_tiles * step;
    const int inputs = static_cast<int>(p.in_features - i0 < step ? p.in_features - i0 : step);
    BlockTile<T, kCols, true> acc;
    acc.zero();
    for (int64_t b0 = 0; b0 < p.batch; b0 += kRows) {
      load_dy(p, b0, o0, dy);
      load_features(p, b0, i0, inputs, kCols, features);
      __syncthreads();
      acc.mma(dy, kLdOuts, features, kLdCols, kRows);
      __syncthreads();
    }
    acc.store(grad, kLdCols);
    __syncthreads();
    if (p.is_meta()) {
      meta_tile_grads(p, o0, i0, inputs, grad, act, dpre, partial);
    } else {
      coef_tile_grads(p, o0, i0, inputs, grad);
    }
    __syncthreads();
  }
}

}  // namespace

template <typename T>
int64_t params_workspace_elements(const LayerParams<T, float>& p) {
  return p.is_meta() ? param_blocks(p) * p.meta_param_count() : 0;
}

template <typename T>
cudaError_t backward_params(const LayerParams<T, float>& p, float* workspace, cudaStream_t stream) {
  const int64_t blocks = param_blocks(p);
  const size_t shared = params_region_bytes<T>() + (p.is_meta() ? meta_scratch_bytes(p.hidden_dim, 2) : 0);
  const cudaError_t err = launch(backward_params_kernel<T>, blocks, shared, stream, p, workspace);
  if (err != cudaSuccess || !p.is_meta()) return err;
  return launch(reduce_meta_grads_kernel<T>, ceil_div(p.meta_param_count(), kThreads), 0, stream, p,
                static_cast<const float*>(workspace), static_cast<int>(blocks));
}

#define DECLARE(T)                                                                                   \
  template cudaError_t backward_params<T>(const LayerParams<T, float>&, float*, cudaStream_t); \
  template int64_t params_workspace_elements<T>(const LayerParams<T, float>&);
METAKAN_CUDA_INSTANTIATE(DECLARE)
#undef DECLARE

}  // namespace metakan::cuda
