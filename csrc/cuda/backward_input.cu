// Fused input gradient: one block per (2 x 64 batch rows, input tile), looping over 64-output tiles:
// s = dy_tile @ coefficient_tile accumulates in registers (each coefficient tile regenerated in shared
// memory once for both row tiles), then dx = sum_m s_m B'_m(x) + s_K silu'(x) for the block's own
// (b, i) entries.
#include "kernels.h"
#include "launch.cuh"

namespace metakan::cuda {
namespace {

template <typename T>
MK_HD size_t input_tiles_bytes() {
  return align128(kRows * kLdOuts * sizeof(T)) + align128(kOuts * kLdCols * sizeof(T));
}

template <typename T>
MK_HD size_t input_region_bytes() {
  const size_t out = align128(kRows * kLdCols * sizeof(float));
  return input_tiles_bytes<T>() > out ? input_tiles_bytes<T>() : out;
}

template <typename T>
__global__ void __launch_bounds__(kThreads, kMinBlocks) backward_input_kernel(const LayerParams<T, float> p) {
  extern __shared__ __align__(128) unsigned char smem[];
  T* dy = reinterpret_cast<T*>(smem);                                                  // [kRows][kLdOuts]
  T* coef = reinterpret_cast<T*>(smem + align128(kRows * kLdOuts * sizeof(T)));         // [kOuts][kLdCols]
  float* grad = reinterpret_cast<float*>(smem);                                        // [kRows][kLdCols], after
  float* act = reinterpret_cast<float*>(smem + input_region_bytes<T>());               // meta-learner scratch

  const int width = p.width();
  const int bases = p.spline.num_bases;
  const int step = tile_inputs(width, p.in_features);
  const int64_t input_tiles = ceil_div(p.in_features, step);
  const int64_t b0 = blockIdx.x / input_tiles * (kRowTiles * kRows);
  const int64_t i0 = blockIdx.x % input_tiles * step;
  const int inputs = static_cast<int>(p.in_features - i0 < step ? p.in_features - i0 : step);

  BlockTile<T, kCols, false> acc[kRowTiles];
#pragma unroll
  for (int s = 0; s < kRowTiles; ++s) acc[s].zero();
  for (int64_t o0 = 0; o0 < p.out_features; o0 += kOuts) {
    load_coefficients<true>(p, o0, i0, inputs, kCols, coef, act);
#pragma unroll
    for (int s = 0; s < kRowTiles; ++s) {
      load_dy(p, b0 + s * kRows, o0, dy);
      __syncthreads();
      acc[s].mma(dy, kLdOuts, coef, kLdCols, kOuts);
      __syncthreads();
    }
  }

  const UniformGrid<float> uniform(p.spline.lo, p.spline.step, p.spline.grid_size, p.spline.order);
  const int last_knot = p.spline.grid_size + 2 * p.spline.order;
#pragma unroll
  for (int s = 0; s < kRowTiles; ++s) {
    acc[s].store(grad, kLdCols);
    __syncthreads();
    for (int idx = threadIdx.x; idx < kRows * inputs; idx += kThreads) {
      const int r = idx / inputs;
      const int c = idx % inputs;
      const int64_t b = b0 + s * kRows + r;
      if (b >= p.batch) continue;
      const float x = cast<float>(p.x[b * p.x_stride + i0 + c]);
      const float* g = grad + r * kLdCols + c * width;
      float dx = 0.0f;
      with_order(p.spline.order, [&](auto order) {
        constexpr int P = decltype(order)::value;
        if (p.spline.knots) {
          dx = basis_grad_dot<P>(KnotRow<float, float>{p.spline.knots + (i0 + c) * p.spline.knots_stride, last_knot},
                                 x, bases, g);
        } else {
          dx = basis_grad_dot<P>(uniform, x, bases, g);
        }
      });
      if (width > bases) dx += g[bases] * silu_grad(x);
      p.dx[b * p.dx_stride + i0 + c] = cast<T>(dx);
    }
    __syncthreads();
  }
}

}  // namespace

template <typename T>
cudaError_t backward_input(const LayerParams<T, float>& p, cudaStream_t stream) {
  const int64_t blocks =
      ceil_div(p.batch, kRowTiles * kRows) * ceil_div(p.in_features, tile_inputs(p.width(), p.in_features));
  const size_t shared = input_region_bytes<T>() + (p.is_meta() ? meta_scratch_bytes(p.hidden_dim, 1) : 0);
  return launch(backward_input_kernel<T>, blocks, shared, stream, p);
}

#define DECLARE(T) template cudaError_t backward_input<T>(const LayerParams<T, float>&, cudaStream_t);
METAKAN_CUDA_INSTANTIATE(DECLARE)
#undef DECLARE

}  // namespace metakan::cuda
