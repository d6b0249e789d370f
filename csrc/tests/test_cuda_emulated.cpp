// The CUDA kernels compiled as plain C++ and run on CPU threads, against the C++ kernels (which the
// Python tests hold to the reference). A block's 256 threads are std::threads meeting at a barrier
// for __syncthreads; shared memory is one buffer, poisoned with NaN before every block; a tensor-core
// fragment is a 16 x 16 array each thread of the warp holds whole. This checks the kernels' tiling,
// indexing, shared-memory layout, launch sizes and reductions without a GPU (run by ctest); speed
// and the hardware itself are for the GPU tests.
#define METAKAN_CUDA_EMULATION 1

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <barrier>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>
#include <type_traits>
#include <vector>

#include "../metakan/numeric.h"

#define __launch_bounds__(...)

// The builtin variables and __syncthreads of the emulated threads.
thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
dim3 gridDim;
std::barrier<>* block_barrier = nullptr;
inline void __syncthreads() { block_barrier->arrive_and_wait(); }

// WMMA with whole fragments per thread; only lane 0 of a warp stores.
namespace nvcuda::wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  T x[16 * 16];  // element (i, j) at x[16 i + j]
};

template <typename Use, typename T, typename Layout>
void load_matrix_sync(fragment<Use, 16, 16, 16, T, Layout>& f, const T* p, unsigned ld) {
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) f.x[16 * i + j] = std::is_same_v<Layout, row_major> ? p[i * ld + j] : p[i + j * ld];
}

inline void fill_fragment(fragment<accumulator, 16, 16, 16, float>& f, float v) {
  for (float& e : f.x) e = v;
}

template <typename TA, typename LA, typename TB, typename LB>
void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const fragment<matrix_a, 16, 16, 16, TA, LA>& a,
              const fragment<matrix_b, 16, 16, 16, TB, LB>& b, const fragment<accumulator, 16, 16, 16, float>& c) {
  fragment<accumulator, 16, 16, 16, float> out;
  for (int i = 0; i < 16; ++i) {
    for (int j = 0; j < 16; ++j) {
      float s = c.x[16 * i + j];
      for (int k = 0; k < 16; ++k) s += metakan::cast<float>(a.x[16 * i + k]) * metakan::cast<float>(b.x[16 * k + j]);
      out.x[16 * i + j] = s;
    }
  }
  d = out;
}

inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ld, layout_t) {
  if (threadIdx.x % 32 != 0) return;
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) p[i * ld + j] = f.x[16 * i + j];
}
}  // namespace nvcuda::wmma

#include "../cuda/tile.cuh"

namespace metakan::cuda {
namespace {
alignas(128) unsigned char smem[160 * 1024];
}

template <typename Kernel, typename... Args>
cudaError_t launch(Kernel kernel, int64_t blocks, size_t shared_bytes, cudaStream_t, Args... args) {
  if (shared_bytes > sizeof(smem)) return cudaErrorInvalidValue;
  gridDim = dim3(static_cast<unsigned>(blocks));
  // NaN wherever a kernel reads shared memory it did not write in this block.
  auto poison = []() noexcept { std::memset(smem, 0xff, sizeof(smem)); };
  poison();
  std::barrier<> sync(kThreads);
  std::barrier<decltype(poison)> next_block(kThreads, poison);
  block_barrier = &sync;
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      threadIdx = {t, 0, 0};
      for (int64_t b = 0; b < blocks; ++b) {
        blockIdx = {static_cast<unsigned>(b), 0, 0};
        kernel(args...);
        next_block.arrive_and_wait();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  return cudaSuccess;
}
}  // namespace metakan::cuda

#include "../cpu/kernels.h"
#include "../cuda/backward_input.cu"
#include "../cuda/backward_params.cu"
#include "../cuda/edge_l1.cu"
#include "../cuda/forward.cu"

using namespace metakan;

namespace {

int failures = 0;

void naive_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t l = 0; l < k; ++l) s += double(trans_a ? a[l * lda + i] : a[i * lda + l]) * (trans_b ? b[j * ldb + l] : b[l * ldb + j]);
      c[i * ldc + j] = float(s + (beta == 0.0f ? 0.0 : double(beta) * c[i * ldc + j]));
    }
  }
}

struct Case {
  const char* name;
  int64_t batch, in, out;
  int grid_size, order;
  bool meta, base, knots;
  int d, hidden, activation;
};

// One layer's tensors as floats (rounded to T first), and the gradients a run produces.
struct Tensors {
  std::vector<float> x, coef, base, embedding, w1, b1, w2, b2, knots, dy, dstat;
  std::vector<float> y, dx, dcoef, dbase, dembedding, dw1, db1, dw2, db2;
};

template <typename T>
float round_to(float v) {
  return cast<float>(cast<T>(v));
}

template <typename T>
Tensors make_tensors(const Case& c, std::mt19937& rng) {
  std::uniform_real_distribution<float> inputs(-2.5f, 2.5f);
  std::normal_distribution<float> normal;
  const int bases = c.grid_size + c.order;
  auto fill = [&](std::vector<float>& v, size_t n, float scale, bool uniform = false) {
    v.resize(n);
    for (float& e : v) e = round_to<T>((uniform ? inputs(rng) : normal(rng)) * scale);
  };
  Tensors t;
  fill(t.x, c.batch * c.in, 1.0f, true);
  fill(t.dy, c.batch * c.out, 1.0f);
  fill(t.dstat, c.out * c.in, 1.0f);
  fill(t.coef, c.out * c.in * bases, 1.0f);
  fill(t.base, c.out * c.in, 1.0f);
  fill(t.embedding, c.out * c.in * c.d, 1.0f);
  fill(t.w1, c.hidden * c.d, 1.0f);
  fill(t.b1, c.hidden, 0.5f);
  fill(t.w2, (bases + 1) * c.hidden, 1.0f / std::sqrt(float(c.hidden)));
  fill(t.b2, bases + 1, 0.5f);
  const int count = c.grid_size + 2 * c.order + 1;
  const float step = 2.0f / c.grid_size;
  std::uniform_real_distribution<float> gap(0.3f, 1.7f);
  for (int64_t i = 0; i < c.in; ++i) {
    float v = -1.0f - c.order * step;
    for (int j = 0; j < count; ++j, v += gap(rng) * step) t.knots.push_back(v);
  }
  return t;
}

// The parameters of case c over tensors in type T (converted from `t`), with outputs in `out`.
template <typename T>
struct Bound {
  std::vector<T> x, coef, base, embedding, w1, b1, w2, b2, dy, dstat;
  std::vector<T> y, dx, dcoef, dbase, dembedding, dw1, db1, dw2, db2, stat;
  LayerParams<T, float> p{};
};

template <typename T>
std::vector<T> convert(const std::vector<float>& v) {
  std::vector<T> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = cast<T>(v[i]);
  return out;
}

template <typename T>
void bind(const Case& c, Tensors& t, Bound<T>& b) {
  b.x = convert<T>(t.x);
  b.coef = convert<T>(t.coef);
  b.base = convert<T>(t.base);
  b.embedding = convert<T>(t.embedding);
  b.w1 = convert<T>(t.w1);
  b.b1 = convert<T>(t.b1);
  b.w2 = convert<T>(t.w2);
  b.b2 = convert<T>(t.b2);
  b.dy = convert<T>(t.dy);
  b.dstat = convert<T>(t.dstat);
  const T nan = cast<T>(NAN);
  b.y.assign(c.batch * c.out, nan);
  b.stat.assign(c.out * c.in, nan);
  b.dx.assign(c.batch * c.in, nan);
  b.dcoef.assign(t.coef.size(), nan);
  b.dbase.assign(t.base.size(), nan);
  b.dembedding.assign(t.embedding.size(), nan);
  b.dw1.assign(t.w1.size(), nan);
  b.db1.assign(t.b1.size(), nan);
  b.dw2.assign(t.w2.size(), nan);
  b.db2.assign(t.b2.size(), nan);
  LayerParams<T, float>& p = b.p;
  p.batch = c.batch;
  p.in_features = c.in;
  p.out_features = c.out;
  p.spline = {c.grid_size, c.order, c.grid_size + c.order, -1.0, 2.0 / c.grid_size,
              c.knots ? t.knots.data() : nullptr, c.grid_size + 2 * c.order + 1};
  p.x = b.x.data();
  p.x_stride = c.in;
  p.y = b.y.data();
  p.y_stride = c.out;
  p.dy = b.dy.data();
  p.dy_stride = c.out;
  p.dx = b.dx.data();
  p.dx_stride = c.in;
  p.edge_l1 = b.stat.data();
  p.dedge_l1 = b.dstat.data();
  if (c.meta) {
    p.embedding = b.embedding.data();
    p.w1 = b.w1.data();
    p.b1 = b.b1.data();
    p.w2 = b.w2.data();
    p.b2 = b.b2.data();
    p.embedding_dim = c.d;
    p.hidden_dim = c.hidden;
    p.activation = c.activation;
    p.dembedding = b.dembedding.data();
    p.dw1 = b.dw1.data();
    p.db1 = b.db1.data();
    p.dw2 = b.dw2.data();
    p.db2 = b.db2.data();
  } else {
    p.coef = b.coef.data();
    p.base_weight = c.base ? b.base.data() : nullptr;
    p.dcoef = b.dcoef.data();
    p.dbase_weight = c.base ? b.dbase.data() : nullptr;
  }
}

template <typename T>
void compare(const char* name, const char* what, const std::vector<T>& got, const std::vector<float>& want, float tol) {
  float scale = 0.0f;
  for (float v : want) scale = std::fmax(scale, std::fabs(v));
  float worst = 0.0f;
  for (size_t i = 0; i < want.size(); ++i) {
    const float err = std::fabs(cast<float>(got[i]) - want[i]);
    worst = std::isnan(err) ? INFINITY : std::fmax(worst, err);
  }
  if (worst <= tol * (1.0f + scale)) return;
  ++failures;
  std::printf("FAIL %s %s: max error %g (scale %g)\n", name, what, worst, scale);
}

template <typename T>
std::vector<float> as_floats(const std::vector<T>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = cast<float>(v[i]);
  return out;
}

// Every output of case c from the emulated CUDA kernels in type T against the C++ kernels in float.
template <typename T>
void run_case(const Case& c, float tol, std::mt19937& rng) {
  Tensors t = make_tensors<T>(c, rng);
  Bound<float> cpu;
  bind(c, t, cpu);
  cpu::forward(cpu.p, naive_gemm);
  cpu::backward_input(cpu.p, naive_gemm);
  cpu::backward_params(cpu.p, naive_gemm);
  Bound<T> gpu;
  bind(c, t, gpu);
  std::vector<float> workspace(std::max<int64_t>(cuda::params_workspace_elements(gpu.p), 1), NAN);
  if (cuda::forward(gpu.p, nullptr) != cudaSuccess || cuda::backward_input(gpu.p, nullptr) != cudaSuccess ||
      cuda::backward_params(gpu.p, workspace.data(), nullptr) != cudaSuccess) {
    ++failures;
    std::printf("FAIL %s: a launch failed\n", c.name);
    return;
  }
  compare(c.name, "y", gpu.y, cpu.y, tol);
  compare(c.name, "dx", gpu.dx, cpu.dx, tol);
  if (c.meta) {
    compare(c.name, "dembedding", gpu.dembedding, cpu.dembedding, tol);
    compare(c.name, "dw1", gpu.dw1, as_floats(cpu.dw1), tol);
    compare(c.name, "db1", gpu.db1, as_floats(cpu.db1), tol);
    compare(c.name, "dw2", gpu.dw2, as_floats(cpu.dw2), tol);
    compare(c.name, "db2", gpu.db2, as_floats(cpu.db2), tol);
  } else {
    compare(c.name, "dcoef", gpu.dcoef, cpu.dcoef, tol);
    if (c.base) compare(c.name, "dbase_weight", gpu.dbase, cpu.dbase, tol);
  }
}

// The edge statistics and both passes of their backward, emulated CUDA against the C++ kernels.
template <typename T>
void run_edge_case(const Case& c, float tol, std::mt19937& rng) {
  Tensors t = make_tensors<T>(c, rng);
  Bound<float> cpu;
  bind(c, t, cpu);
  cpu::edge_l1(cpu.p, naive_gemm);
  cpu::edge_l1_backward(cpu.p, naive_gemm, true, true);
  Bound<T> gpu;
  bind(c, t, gpu);
  std::vector<float> workspace(std::max<int64_t>(cuda::edge_l1_workspace_elements(gpu.p), 1), NAN);
  if (cuda::edge_l1(gpu.p, cuda::kEdgeForward, nullptr, nullptr) != cudaSuccess ||
      cuda::edge_l1(gpu.p, cuda::kEdgeInput, nullptr, nullptr) != cudaSuccess ||
      cuda::edge_l1(gpu.p, cuda::kEdgeParams, workspace.data(), nullptr) != cudaSuccess) {
    ++failures;
    std::printf("FAIL %s: an edge-statistics launch failed\n", c.name);
    return;
  }
  compare(c.name, "edge_l1", gpu.stat, cpu.stat, tol);
  // In half precision a phi within rounding of 0 takes the other sign in the two kernels, which moves
  // its row's dx by 2 |phi'| dstat / B: dx is compared in float32, where that does not happen here.
  if (std::is_same_v<T, float>) compare(c.name, "edge_l1 dx", gpu.dx, cpu.dx, tol);
  if (c.meta) {
    compare(c.name, "edge_l1 dembedding", gpu.dembedding, cpu.dembedding, tol);
    compare(c.name, "edge_l1 dw1", gpu.dw1, cpu.dw1, tol);
    compare(c.name, "edge_l1 db1", gpu.db1, cpu.db1, tol);
    compare(c.name, "edge_l1 dw2", gpu.dw2, cpu.dw2, tol);
    compare(c.name, "edge_l1 db2", gpu.db2, cpu.db2, tol);
  } else {
    compare(c.name, "edge_l1 dcoef", gpu.dcoef, cpu.dcoef, tol);
    if (c.base) compare(c.name, "edge_l1 dbase_weight", gpu.dbase, cpu.dbase, tol);
  }
}

}  // namespace

int main() {
  std::mt19937 rng(0);
  const Case cases[] = {
      // name, B, I, O, G, k, meta, base, knots, d, H, activation
      {"kan tiles", 130, 20, 70, 5, 3, false, true, false, 0, 0, 0},
      {"kan no base, knots", 70, 9, 65, 3, 1, false, false, true, 0, 0, 0},
      {"kan one of each", 1, 1, 1, 5, 3, false, true, false, 0, 0, 0},
      {"meta tiles", 130, 20, 70, 5, 3, true, true, false, 1, 32, kRelu},
      {"meta knots gelu", 67, 9, 66, 4, 2, true, true, true, 3, 16, kGelu},
      {"meta K=64 d=16 H=128", 65, 3, 70, 61, 3, true, true, false, 16, 128, kSilu},
      {"meta order 0 tanh", 40, 5, 3, 6, 0, true, true, true, 2, 5, kTanh},
      {"meta identity (paper's image layer)", 67, 9, 66, 5, 3, true, true, false, 1, 32, kIdentity},
      {"meta order 5", 33, 7, 2, 2, 5, true, true, false, 1, 8, kRelu},
  };
  for (const Case& c : cases) {
    run_case<float>(c, 1e-4f, rng);
    run_case<__half>(c, 2e-2f, rng);
    run_case<__nv_bfloat16>(c, 5e-2f, rng);
    run_edge_case<float>(c, 1e-4f, rng);
    run_edge_case<__half>(c, 2e-2f, rng);
  }
  if (failures > 0) {
    std::printf("%d comparison(s) failed\n", failures);
    return 1;
  }
  std::printf("emulated CUDA kernels: all comparisons passed\n");
  return 0;
}
