// Fused parameter gradients: a fixed grid of blocks takes (64-output tile, input tile) tasks in turn.
// A task accumulates dL/dcoefficient = dy_tile^T @ feature_tile over the whole batch in registers,
// then writes dcoef and dbase_weight, or back-propagates through the meta-learner inside the tile:
// dembedding goes straight out, the meta-learner's gradients into the block's own partial sums,
// which a second kernel adds up in a fixed order (deterministic, no atomics).
#include "kernels.h"
#include "launch.cuh"

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
__device__ void coef_tile_grads(const LayerParams<T, float>& p, int64_t o0, int64_t i0, int inputs,
                                const float* grad) {
  const int width = p.width();
  const int bases = p.spline.num_bases;
  const int used = inputs * width;
  const int outputs = static_cast<int>(p.out_features - o0 < kOuts ? p.out_features - o0 : kOuts);
  for (int idx = threadIdx.x; idx < outputs * used; idx += kThreads) {
    const int o = idx / used;
    const int c = idx % used;
    const int64_t edge = (o0 + o) * p.in_features + i0 + c / width;
    const int m = c % width;
    const T v = cast<T>(grad[o * kLdCols + c]);
    if (m < bases) {
      p.dcoef[edge * bases + m] = v;
    } else {
      p.dbase_weight[edge] = v;
    }
  }
}

// The meta-learner's backward for the tile's edges (o, ci), meta_step_edges(H) at a time; grad[o][ci*W + m]
// is dL/dw_m of the edge. act and dpre stage [edges][H + 1] floats each; `partial` is this block's
// row of partial sums (w1, b1, w2, b2), each entry owned by one thread.
template <typename T>
__device__ void meta_tile_grads(const LayerParams<T, float>& p, int64_t o0, int64_t i0, int inputs,
                                const float* grad, float* act, float* dpre, float* partial) {
  const int width = p.spline.num_bases + 1;
  const int hidden = p.hidden_dim;
  const int d = p.embedding_dim;
  const MetaMlp<T> mlp{p.w1, p.b1, p.w2, p.b2, d, hidden, width, p.activation};
  const int outputs = static_cast<int>(p.out_features - o0 < kOuts ? p.out_features - o0 : kOuts);
  const int edges = outputs * inputs;
  const int64_t count = p.meta_param_count();
  const int64_t w1_end = int64_t(hidden) * d;
  const int64_t b1_end = w1_end + hidden;
  const int64_t w2_end = b1_end + int64_t(width) * hidden;
  auto edge_index = [&](int e) { return (o0 + e / inputs) * p.in_features + i0 + e % inputs; };
  auto dout = [&](int e) { return grad + (e / inputs) * kLdCols + (e % inputs) * width; };
  const int step = meta_step_edges(hidden);
  for (int e0 = 0; e0 < edges; e0 += step) {
    const int n = edges - e0 < step ? edges - e0 : step;
    for (int idx = threadIdx.x; idx < n * hidden; idx += kThreads) {
      const int e = idx / hidden;
      const int h = idx % hidden;
      const float pre = meta_pre<float>(mlp, p.embedding + edge_index(e0 + e) * d, h);
      act[e * (hidden + 1) + h] = activate(p.activation, pre);
      dpre[e * (hidden + 1) + h] = meta_pre_grad(mlp, dout(e0 + e), h, pre);
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < n * d; idx += kThreads) {
      const int e = idx / d;
      const int j = idx % d;
      p.dembedding[edge_index(e0 + e) * d + j] = cast<T>(meta_embedding_grad<float>(mlp, dpre + e * (hidden + 1), j));
    }
    for (int64_t k = threadIdx.x; k < count; k += kThreads) {
      float sum = 0.0f;
      if (k < w1_end) {
        const int h = static_cast<int>(k / d);
        const int j = static_cast<int>(k % d);
        for (int e = 0; e < n; ++e) {
          sum += dpre[e * (hidden + 1) + h] * cast<float>(p.embedding[edge_index(e0 + e) * d + j]);
        }
      } else if (k < b1_end) {
        const int h = static_cast<int>(k - w1_end);
        for (int e = 0; e < n; ++e) sum += dpre[e * (hidden + 1) + h];
      } else if (k < w2_end) {
        const int m = static_cast<int>((k - b1_end) / hidden);
        const int h = static_cast<int>((k - b1_end) % hidden);
        for (int e = 0; e < n; ++e) sum += dout(e0 + e)[m] * act[e * (hidden + 1) + h];
      } else {
        const int m = static_cast<int>(k - w2_end);
        for (int e = 0; e < n; ++e) sum += dout(e0 + e)[m];
      }
      partial[k] += sum;
    }
    __syncthreads();
  }
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

// Meta-learner gradient k = the sum of the blocks' partial sums, block by block.
template <typename T>
__global__ void __launch_bounds__(kThreads) reduce_meta_grads_kernel(const LayerParams<T, float> p,
                                                                     const float* workspace, int blocks) {
  const int64_t count = p.meta_param_count();
  const int64_t k = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (k >= count) return;
  float sum = 0.0f;
  for (int b = 0; b < blocks; ++b) sum += workspace[b * count + k];
  const int64_t w1_end = int64_t(p.hidden_dim) * p.embedding_dim;
  const int64_t b1_end = w1_end + p.hidden_dim;
  const int64_t w2_end = b1_end + int64_t(p.spline.num_bases + 1) * p.hidden_dim;
  if (k < w1_end) {
    p.dw1[k] = cast<T>(sum);
  } else if (k < b1_end) {
    p.db1[k - w1_end] = cast<T>(sum);
  } else if (k < w2_end) {
    p.dw2[k - b1_end] = cast<T>(sum);
  } else {
    p.db2[k - w2_end] = cast<T>(sum);
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
