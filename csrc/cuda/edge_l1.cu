// Fused edge statistics: stat[o, i] = mean_b |phi_oi(x[b, i])| and its backward, a block per input
// (a fixed grid looping over inputs), so that every edge's sums and every dx column run in one block
// in a fixed order. Per 64-output tile the block loads or generates the input's coefficients into
// shared memory; per 64 rows it builds the input's features and each thread forms phi for its
// (row, output) pairs. Forward: each thread sums |phi| over its rows, the four row lanes of an output
// are added in order. Backward: S = sign(phi) dstat[o, i] / B takes dy's place: the parameter pass
// accumulates dcoefficient = S^T features over the batch (then as the layer's parameter pass), the
// input pass dfeature = S coefficients over the output tiles, then dx from the basis derivatives.
#include "kernels.h"
#include "launch.cuh"
#include "param_grads.cuh"

namespace metakan::cuda {
namespace {

constexpr int kLanes = kThreads / kOuts;  // threads per output in the phi loops (4)

struct EdgeLayout {
  size_t coef, features, signs, grad, dfeatures, lanes, meta, total;
};

// Shared memory: coefficients T [kOuts][kLdCols], features T [kRows][kLdCols], S float [kRows][kLdOuts],
// dcoefficient float [kOuts][kLdCols], dfeature float [kRows][kLdCols], the lanes' sums [kThreads] and
// two meta-learner staging arrays.
template <typename T>
MK_HD EdgeLayout edge_layout(int hidden_dim) {
  EdgeLayout l{};
  l.coef = 0;
  l.features = l.coef + align128(kOuts * kLdCols * sizeof(T));
  l.signs = l.features + align128(kRows * kLdCols * sizeof(T));
  l.grad = l.signs + align128(kRows * kLdOuts * sizeof(float));
  l.dfeatures = l.grad + align128(kOuts * kLdCols * sizeof(float));
  l.lanes = l.dfeatures + align128(kRows * kLdCols * sizeof(float));
  l.meta = l.lanes + align128(kThreads * sizeof(float));
  l.total = l.meta + (hidden_dim > 0 ? meta_scratch_bytes(hidden_dim, 2) : 0);
  return l;
}

// sign(v): 0 at 0 (the gradient of |v| is taken as 0 there), NaN for NaN.
MK_HD float sign_of(float v) { return v > 0.0f ? 1.0f : v < 0.0f ? -1.0f : v == 0.0f ? 0.0f : v; }

template <typename T>
int64_t edge_blocks(const LayerParams<T, float>& p) {
  return p.in_features < kMaxParamBlocks ? p.in_features : kMaxParamBlocks;
}

// phi[r][o] of the tile, for this thread's output o = threadIdx.x % kOuts and rows lane, lane + kLanes, ...
template <typename T>
__device__ float phi_at(const T* features, const T* coef, int r, int o, int width) {
  float phi = 0.0f;
  for (int m = 0; m < width; ++m) phi += cast<float>(features[r * kLdCols + m]) * cast<float>(coef[o * kLdCols + m]);
  return phi;
}

template <typename T>
__global__ void __launch_bounds__(kThreads, kMinBlocks) edge_l1_kernel(const LayerParams<T, float> p, int pass,
                                                           float* workspace) {
  extern __shared__ __align__(128) unsigned char smem[];
  const EdgeLayout layout = edge_layout<T>(p.is_meta() ? p.hidden_dim : 0);
  T* coef = reinterpret_cast<T*>(smem + layout.coef);
  T* features = reinterpret_cast<T*>(smem + layout.features);
  float* signs = reinterpret_cast<float*>(smem + layout.signs);
  float* grad = reinterpret_cast<float*>(smem + layout.grad);
  float* dfeatures = reinterpret_cast<float*>(smem + layout.dfeatures);
  float* lanes = reinterpret_cast<float*>(smem + layout.lanes);
  float* act = reinterpret_cast<float*>(smem + layout.meta);
  float* dpre = act + meta_step_edges(p.hidden_dim) * (p.hidden_dim + 1);

  const int width = p.width();
  const int bases = p.spline.num_bases;
  const int o_lane = threadIdx.x % kOuts;
  const int r_lane = threadIdx.x / kOuts;
  const float inv_batch = 1.0f / static_cast<float>(p.batch);
  const bool meta_grads = pass == kEdgeParams && p.is_meta();
  const int64_t count = meta_grads ? p.meta_param_count() : 0;
  float* partial = workspace + blockIdx.x * count;
  for (int64_t k = threadIdx.x; k < count; k += kThreads) partial[k] = 0.0f;
  const UniformGrid<float> uniform(p.spline.lo, p.spline.step, p.spline.grid_size, p.spline.order);
  const int last_knot = p.spline.grid_size + 2 * p.spline.order;

  // S of the loaded tiles' rows (zero past the batch and the outputs) for input i.
  auto fill_signs = [&](int64_t i, int64_t o0, int outputs, int rows) {
    const float scale = o_lane < outputs ? cast<float>(p.dedge_l1[(o0 + o_lane) * p.in_features + i]) : 0.0f;
    for (int r = r_lane; r < kRows; r += kLanes) {
      signs[r * kLdOuts + o_lane] =
          r < rows && o_lane < outputs ? sign_of(phi_at(features, coef, r, o_lane, width)) * scale * inv_batch : 0.0f;
    }
  };

  for (int64_t i = blockIdx.x; i < p.in_features; i += static_cast<int64_t>(gridDim.x)) {
    if (pass == kEdgeInput) {
      for (int64_t b0 = 0; b0 < p.batch; b0 += kRows) {
        const int rows = static_cast<int>(p.batch - b0 < kRows ? p.batch - b0 : kRows);
        for (int idx = threadIdx.x; idx < kRows * width; idx += kThreads) {
          dfeatures[(idx / width) * kLdCols + idx % width] = 0.0f;
        }
        load_features(p, b0, i, 1, width, features);
        for (int64_t o0 = 0; o0 < p.out_features; o0 += kOuts) {
          const int outputs = static_cast<int>(p.out_features - o0 < kOuts ? p.out_features - o0 : kOuts);
          load_coefficients<true>(p, o0, i, 1, width, coef, act);
          __syncthreads();
          fill_signs(i, o0, outputs, rows);
          __syncthreads();
          for (int idx = threadIdx.x; idx < rows * width; idx += kThreads) {
            const int r = idx / width;
            const int m = idx % width;
            float sum = 0.0f;
            for (int o = 0; o < outputs; ++o) sum += signs[r * kLdOuts + o] * cast<float>(coef[o * kLdCols + m]);
            dfeatures[r * kLdCols + m] += sum;
          }
          __syncthreads();
        }
        for (int r = threadIdx.x; r < rows; r += kThreads) {
          const float x = cast<float>(p.x[(b0 + r) * p.x_stride + i]);
          const float* g = dfeatures + r * kLdCols;
          float dx = 0.0f;
          with_order(p.spline.order, [&](auto order) {
            constexpr int P = decltype(order)::value;
            if (p.spline.knots) {
              dx = basis_grad_dot<P>(KnotRow<float, float>{p.spline.knots + i * p.spline.knots_stride, last_knot}, x,
                                     bases, g);
            } else {
              dx = basis_grad_dot<P>(uniform, x, bases, g);
            }
          });
          if (width > bases) dx += g[bases] * silu_grad(x);
          p.dx[(b0 + r) * p.dx_stride + i] = cast<T>(dx);
        }
        __syncthreads();
      }
      continue;
    }
    for (int64_t o0 = 0; o0 < p.out_features; o0 += kOuts) {
      const int outputs = static_cast<int>(p.out_features - o0 < kOuts ? p.out_features - o0 : kOuts);
      load_coefficients<true>(p, o0, i, 1, width, coef, act);
      for (int idx = threadIdx.x; idx < kOuts * width; idx += kThreads) grad[(idx / width) * kLdCols + idx % width] = 0.0f;
      float sum = 0.0f;
      for (int64_t b0 = 0; b0 < p.batch; b0 += kRows) {
        const int rows = static_cast<int>(p.batch - b0 < kRows ? p.batch - b0 : kRows);
        load_features(p, b0, i, 1, width, features);
        __syncthreads();
        if (pass == kEdgeForward) {
          if (o_lane < outputs) {
            for (int r = r_lane; r < rows; r += kLanes) sum += fabsf(phi_at(features, coef, r, o_lane, width));
          }
        } else {
          fill_signs(i, o0, outputs, rows);
          __syncthreads();
          for (int idx = threadIdx.x; idx < outputs * width; idx += kThreads) {
            const int o = idx / width;
            const int m = idx % width;
            float g = 0.0f;
            for (int r = 0; r < rows; ++r) g += signs[r * kLdOuts + o] * cast<float>(features[r * kLdCols + m]);
            grad[o * kLdCols + m] += g;
          }
        }
        __syncthreads();
      }
      if (pass == kEdgeForward) {
        lanes[threadIdx.x] = sum;
        __syncthreads();
        if (r_lane == 0 && o_lane < outputs) {
          float total = 0.0f;
          for (int lane = 0; lane < kLanes; ++lane) total += lanes[lane * kOuts + o_lane];
          p.edge_l1[(o0 + o_lane) * p.in_features + i] = cast<T>(total * inv_batch);
        }
      } else if (p.is_meta()) {
        meta_tile_grads(p, o0, i, 1, grad, act, dpre, partial);
      } else {
        coef_tile_grads(p, o0, i, 1, grad);
      }
      __syncthreads();
    }
  }
}

}  // namespace

template <typename T>
int64_t edge_l1_workspace_elements(const LayerParams<T, float>& p) {
  return p.is_meta() ? edge_blocks(p) * p.meta_param_count() : 0;
}

template <typename T>
cudaError_t edge_l1(const LayerParams<T, float>& p, int pass, float* workspace, cudaStream_t stream) {
  const size_t shared = edge_layout<T>(p.is_meta() ? p.hidden_dim : 0).total;
  const int64_t blocks = edge_blocks(p);
  const cudaError_t err = launch(edge_l1_kernel<T>, blocks, shared, stream, p, pass, workspace);
  if (err != cudaSuccess || pass != kEdgeParams || !p.is_meta()) return err;
  return launch(reduce_meta_grads_kernel<T>, ceil_div(p.meta_param_count(), kThreads), 0, stream, p,
                static_cast<const float*>(workspace), static_cast<int>(blocks));
}

#define DECLARE(T)                                                                               \
  template cudaError_t edge_l1<T>(const LayerParams<T, float>&, int, float*, cudaStream_t); \
  template int64_t edge_l1_workspace_elements<T>(const LayerParams<T, float>&);
METAKAN_CUDA_INSTANTIATE(DECLARE)
#undef DECLARE

}  // namespace metakan::cuda
