// The torch face of the native kernels: the memory-safety checks, the CPU and CUDA implementations of the
// metakan::native_* ops (one op, dispatched by device; their schemas are defined in Python, in
// metakan_kernels/schema.py) and the _C Python module.
//
// Written against torch's stable ABI only (torch/csrc/stable, torch/headeronly and torch's C shims),
// restricted to what torch 2.10 offers: one build loads into every torch from 2.10 on. Defining
// TORCH_TARGET_VERSION makes torch's other headers (ATen, c10) refuse to compile here.
#define TORCH_TARGET_VERSION (((0ULL + 2) << 56) | ((0ULL + 10) << 48))
#if defined(METAKAN_WITH_CUDA)
#define USE_CUDA  // declares the CUDA entries of torch's C shims
#endif

#include <Python.h>
#include <torch/csrc/inductor/aoti_torch/c/shim.h>
#include <torch/csrc/inductor/aoti_torch/generated/c_shim_cpu.h>
#include <torch/csrc/stable/library.h>
#include <torch/csrc/stable/ops.h>
#include <torch/csrc/stable/tensor.h>
#include <torch/headeronly/core/ScalarType.h>

#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>

#include "cpu/kernels.h"
#include "metakan/limits.h"
#include "metakan/spline.h"

#if defined(METAKAN_WITH_CUDA)
#include <torch/csrc/stable/accelerator.h>

#include "cuda/kernels.h"
#endif

namespace metakan {
namespace {

using torch::headeronly::ScalarType;
using torch::headeronly::IntHeaderOnlyArrayRef;
using torch::stable::Tensor;
using OptTensor = std::optional<Tensor>;

// ---------------------------------------------------------------------------------------------
// Checks. Every message names the argument, says what was expected and what came.

// Sizes and strides as torch prints them: [2, 3, 8].
struct Dims {
  IntHeaderOnlyArrayRef dims;
};

std::ostream& operator<<(std::ostream& out, Dims d) {
  out << '[';
  for (size_t i = 0; i < d.dims.size(); ++i) out << (i ? ", " : "") << d.dims[i];
  return out << ']';
}

std::ostream& operator<<(std::ostream& out, const torch::stable::Device& device) {
  if (device.is_cpu()) return out << "cpu";
  if (device.is_cuda()) {
    out << "cuda";
  } else {
    out << "device type " << static_cast<int>(device.type());
  }
  if (device.has_index()) out << ':' << static_cast<int>(device.index());
  return out;
}

// torch's names: float32 rather than Float.
std::string dtype_str(ScalarType dtype) {
  switch (dtype) {
    case ScalarType::Float: return "float32";
    case ScalarType::Double: return "float64";
    case ScalarType::Half: return "float16";
    case ScalarType::BFloat16: return "bfloat16";
    default: return torch::headeronly::toString(dtype);
  }
}

template <typename... Args>
std::string message(const Args&... args) {
  std::ostringstream out;
  out << "metakan native op: ";
  (out << ... << args);
  return out.str();
}

// Throws std::runtime_error (RuntimeError in Python) with "metakan native op: " and the arguments.
#define METAKAN_CHECK(cond, ...)                                 \
  do {                                                           \
    if (!(cond)) throw std::runtime_error(message(__VA_ARGS__)); \
  } while (false)

void check_device(const char* name, const Tensor& t, const Tensor& x) {
  METAKAN_CHECK(t.device() == x.device(), name, " is on ", t.device(), " but x is on ", x.device());
}

void check_dtype(const char* name, const Tensor& t, ScalarType dtype) {
  METAKAN_CHECK(t.scalar_type() == dtype, name, " must be ", dtype_str(dtype), ", got ", dtype_str(t.scalar_type()));
}

void check_shape(const char* name, const Tensor& t, IntHeaderOnlyArrayRef shape, const char* meaning) {
  METAKAN_CHECK(t.sizes() == shape, name, " must have shape ", meaning, " = ", Dims{shape}, ", got ", Dims{t.sizes()});
}

// Same device and dtype as x, the given shape, and contiguous.
void check_weight(const char* name, const Tensor& t, const Tensor& x, IntHeaderOnlyArrayRef shape,
                  const char* meaning) {
  check_device(name, t, x);
  check_dtype(name, t, x.scalar_type());
  check_shape(name, t, shape, meaning);
  METAKAN_CHECK(t.is_contiguous(), name, " must be contiguous, got strides ", Dims{t.strides()});
}

// A (rows, cols) matrix whose rows may be strided but whose elements within a row are adjacent.
void check_rows(const char* name, const Tensor& t, const Tensor& x, IntHeaderOnlyArrayRef shape, const char* meaning) {
  check_device(name, t, x);
  check_dtype(name, t, x.scalar_type());
  check_shape(name, t, shape, meaning);
  METAKAN_CHECK(t.stride(1) == 1 || t.size(1) <= 1, name,
                " must have unit stride along its last dimension, got strides ", Dims{t.strides()});
  METAKAN_CHECK(t.stride(0) >= 0, name, " must have non-negative strides, got ", Dims{t.strides()});
}

struct Spline {
  int64_t grid_size;
  int64_t order;
  double lo;
  double hi;
  int64_t num_bases() const { return grid_size + order; }
  int64_t num_knots() const { return grid_size + 2 * order + 1; }
};

void check_spline(const Spline& s) {
  METAKAN_CHECK(s.grid_size >= 1, "grid_size must be >= 1, got ", s.grid_size);
  METAKAN_CHECK(s.order >= kMinOrder && s.order <= kMaxOrder, "spline_order must be in [", kMinOrder, ", ", kMaxOrder,
                "], got ", s.order);
  METAKAN_CHECK(s.num_bases() <= kMaxNumBases, "grid_size + spline_order must be <= ", kMaxNumBases, ", got ",
                s.num_bases());
  METAKAN_CHECK(std::isfinite(s.lo) && std::isfinite(s.hi) && s.lo < s.hi,
                "the grid range must be finite with lo < hi, got lo = ", s.lo, ", hi = ", s.hi);
}

void check_x(const Tensor& x) {
  METAKAN_CHECK(x.dim() == 2, "x must have shape (batch, in_features), got ", Dims{x.sizes()});
  const auto dtype = x.scalar_type();
  if (x.is_cuda()) {
    METAKAN_CHECK(dtype == ScalarType::Float || dtype == ScalarType::Half || dtype == ScalarType::BFloat16,
                  "on CUDA, x must be float32, float16 or bfloat16, got ", dtype_str(dtype));
  } else {
    METAKAN_CHECK(x.is_cpu(), "x must be a CPU or CUDA tensor, got one on ", x.device());
    METAKAN_CHECK(dtype == ScalarType::Float || dtype == ScalarType::Double,
                  "on CPU, x must be float32 or float64, got ", dtype_str(dtype));
  }
  check_rows("x", x, x, x.sizes(), "(batch, in_features)");
}

// Per-feature knots: (I, G + 2k + 1), float32 (float64 for float64 x), rows of adjacent knots.
void check_grid(const OptTensor& grid, const Tensor& x, const Spline& s) {
  if (!grid) return;
  const Tensor& g = *grid;
  check_device("grid", g, x);
  check_dtype("grid", g, x.scalar_type() == ScalarType::Double ? ScalarType::Double : ScalarType::Float);
  check_shape("grid", g, {x.size(1), s.num_knots()}, "(in_features, grid_size + 2*spline_order + 1)");
  METAKAN_CHECK(g.stride(1) == 1, "grid must have unit stride along its last dimension, got strides ",
                Dims{g.strides()});
}

void check_activation(int64_t activation) {
  if (activation >= 0 && activation < kNumActivations) return;
  std::ostringstream names;
  for (int code = 0; code < kNumActivations; ++code) names << (code ? ", " : "") << kActivationNames[code];
  METAKAN_CHECK(false, "activation must be a code in [0, ", kNumActivations - 1, "] (", names.str(), "), got ",
                activation);
}

void check_dy(const Tensor& dy, const Tensor& x, int64_t out_features) {
  METAKAN_CHECK(dy.dim() == 2, "dy must have shape (batch, out_features), got ", Dims{dy.sizes()});
  check_rows("dy", dy, x, {x.size(0), out_features}, "(batch, out_features)");
}

void check_meta(const Tensor& x, const Tensor& embedding, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                const Tensor& b2, const Spline& s) {
  METAKAN_CHECK(embedding.dim() == 3, "embedding must have shape (out_features, in_features, embedding_dim), got ",
                Dims{embedding.sizes()});
  METAKAN_CHECK(w1.dim() == 2, "w1 must have shape (hidden_dim, embedding_dim), got ", Dims{w1.sizes()});
  const int64_t out = embedding.size(0);
  const int64_t d = embedding.size(2);
  const int64_t hidden = w1.size(0);
  METAKAN_CHECK(d >= 1 && d <= std::numeric_limits<int>::max(),
                "embedding must have 1 <= embedding_dim < 2^31, got ", Dims{embedding.sizes()});
  METAKAN_CHECK(hidden >= 1 && hidden <= std::numeric_limits<int>::max(),
                "w1 must have 1 <= hidden_dim < 2^31 rows, got ", Dims{w1.sizes()});
  check_weight("embedding", embedding, x, {out, x.size(1), d}, "(out_features, in_features, embedding_dim)");
  check_weight("w1", w1, x, {hidden, d}, "(hidden_dim, embedding_dim)");
  check_weight("b1", b1, x, {hidden}, "(hidden_dim,)");
  check_weight("w2", w2, x, {s.num_bases() + 1, hidden}, "(grid_size + spline_order + 1, hidden_dim)");
  check_weight("b2", b2, x, {s.num_bases() + 1}, "(grid_size + spline_order + 1,)");
}

void check_kan(const Tensor& x, const Tensor& coef, const OptTensor& base_weight, const Spline& s) {
  METAKAN_CHECK(coef.dim() == 3,
                "coef must have shape (out_features, in_features, grid_size + spline_order), got ", Dims{coef.sizes()});
  const int64_t out = coef.size(0);
  check_weight("coef", coef, x, {out, x.size(1), s.num_bases()},
               "(out_features, in_features, grid_size + spline_order)");
  if (base_weight) check_weight("base_weight", *base_weight, x, {out, x.size(1)}, "(out_features, in_features)");
}

// ---------------------------------------------------------------------------------------------
// Tensors through the stable API.

Tensor empty_grad(const Tensor& like) { return torch::stable::new_empty(like, {0}); }

template <typename T>
const T* ptr(const Tensor& t) {
  return static_cast<const T*>(t.const_data_ptr());
}

template <typename T>
T* mut_ptr(const Tensor& t) {
  return t.defined() && t.numel() > 0 ? static_cast<T*>(t.mutable_data_ptr()) : nullptr;
}

// An ATen op by name through torch's dispatcher, for the few that torch/csrc/stable/ops.h lacks.
template <typename... Args>
Tensor call_aten(const char* name, const char* overload, const Args&... args) {
  std::array<StableIValue, sizeof...(Args)> stack{torch::stable::detail::from(args)...};
  STABLE_TORCH_ERROR_CODE_CHECK(torch_call_dispatcher(name, overload, stack.data(), TORCH_ABI_VERSION));
  return torch::stable::detail::to<Tensor>(stack[0]);
}

// ---------------------------------------------------------------------------------------------
// Kernel parameters.

// The fields every call shares: sizes, spline, x.
template <typename T, typename K>
LayerParams<T, K> base_params(const Tensor& x, int64_t out_features, const OptTensor& grid, const Spline& s) {
  LayerParams<T, K> p{};
  p.batch = x.size(0);
  p.in_features = x.size(1);
  p.out_features = out_features;
  p.spline.grid_size = static_cast<int>(s.grid_size);
  p.spline.order = static_cast<int>(s.order);
  p.spline.num_bases = static_cast<int>(s.num_bases());
  p.spline.lo = s.lo;
  p.spline.step = (s.hi - s.lo) / static_cast<double>(s.grid_size);  // as reference.uniform_knots
  if (grid) {
    p.spline.knots = ptr<K>(*grid);
    p.spline.knots_stride = grid->stride(0);
  }
  p.x = ptr<T>(x);
  p.x_stride = x.stride(0);
  return p;
}

template <typename T, typename K>
void set_meta(LayerParams<T, K>& p, const Tensor& embedding, const Tensor& w1, const Tensor& b1, const Tensor& w2,
              const Tensor& b2, int64_t activation) {
  p.embedding = ptr<T>(embedding);
  p.w1 = ptr<T>(w1);
  p.b1 = ptr<T>(b1);
  p.w2 = ptr<T>(w2);
  p.b2 = ptr<T>(b2);
  p.embedding_dim = static_cast<int>(embedding.size(2));
  p.hidden_dim = static_cast<int>(w1.size(0));
  p.activation = static_cast<int>(activation);
}

// ---------------------------------------------------------------------------------------------
// Running the kernels on the tensors' device.

// y; dx; the parameters' gradients; the edge statistics; their backward (dx and/or the parameters')
enum class Pass { kForward, kInput, kParams, kEdgeL1, kEdgeL1Input, kEdgeL1Params, kEdgeL1Both };

// op(A) as a (rows, cols) view of host memory: A is stored row-major with leading dimension ld,
// as (rows, cols), or as (cols, rows) when transposed.
template <typename T>
Tensor host_matrix(const T* data, int64_t rows, int64_t cols, int64_t ld, bool trans) {
  const std::array<int64_t, 2> sizes{rows, cols};
  const std::array<int64_t, 2> strides = trans ? std::array<int64_t, 2>{1, ld} : std::array<int64_t, 2>{ld, 1};
  return torch::stable::from_blob(const_cast<T*>(data), sizes, strides,
                                  torch::stable::Device(torch::headeronly::DeviceType::CPU),
                                  torch::headeronly::CppTypeToScalarType<T>::value);
}

// Row-major C = op(A) op(B) + beta C (beta 0 or 1) on strided views of the kernels' tile buffers,
// by ATen's CPU matrix product through torch's C shims (called from the kernels' threads).
template <typename T>
void aten_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
               int64_t ldb, T beta, T* c, int64_t ldc) {
  const Tensor out = host_matrix(c, m, n, ldc, false);
  const Tensor lhs = host_matrix(a, m, k, lda, trans_a);
  const Tensor rhs = host_matrix(b, k, n, ldb, trans_b);
  if (beta == T(0)) {
    STABLE_TORCH_ERROR_CODE_CHECK(aoti_torch_cpu_mm_out(out.get(), lhs.get(), rhs.get()));
  } else {
    STABLE_TORCH_ERROR_CODE_CHECK(
        aoti_torch_cpu_addmm_out(out.get(), out.get(), lhs.get(), rhs.get(), static_cast<double>(beta), 1.0));
  }
}

template <typename T, typename K>
void run_cpu(Pass pass, const LayerParams<T, K>& p) {
  switch (pass) {
    case Pass::kForward: cpu::forward(p, &aten_gemm<T>); break;
    case Pass::kInput: cpu::backward_input(p, &aten_gemm<T>); break;
    case Pass::kParams: cpu::backward_params(p, &aten_gemm<T>); break;
    case Pass::kEdgeL1: cpu::edge_l1(p, &aten_gemm<T>); break;
    case Pass::kEdgeL1Input: cpu::edge_l1_backward(p, &aten_gemm<T>, true, false); break;
    case Pass::kEdgeL1Params: cpu::edge_l1_backward(p, &aten_gemm<T>, false, true); break;
    case Pass::kEdgeL1Both: cpu::edge_l1_backward(p, &aten_gemm<T>, true, true); break;
  }
}

#if defined(METAKAN_WITH_CUDA)
template <typename T>
void run_cuda(Pass pass, const LayerParams<T, float>& p, const Tensor& x) {
  METAKAN_CHECK(cuda::max_blocks(p) <= std::numeric_limits<int32_t>::max(),
                "batch x features too large for one CUDA launch (", cuda::max_blocks(p),
                " thread blocks); split the batch");
  const torch::stable::accelerator::DeviceGuard device_guard(x.get_device_index());
  void* current_stream = nullptr;
  STABLE_TORCH_ERROR_CODE_CHECK(aoti_torch_get_current_cuda_stream(x.get_device_index(), &current_stream));
  const auto stream = static_cast<cudaStream_t>(current_stream);
  switch (pass) {
    case Pass::kForward: STD_CUDA_CHECK(cuda::forward(p, stream)); break;
    case Pass::kInput: STD_CUDA_CHECK(cuda::backward_input(p, stream)); break;
    case Pass::kEdgeL1: STD_CUDA_CHECK(cuda::edge_l1(p, cuda::kEdgeForward, nullptr, stream)); break;
    case Pass::kEdgeL1Input: STD_CUDA_CHECK(cuda::edge_l1(p, cuda::kEdgeInput, nullptr, stream)); break;
    case Pass::kEdgeL1Params:
    case Pass::kEdgeL1Both: {
      if (pass == Pass::kEdgeL1Both) STD_CUDA_CHECK(cuda::edge_l1(p, cuda::kEdgeInput, nullptr, stream));
      const Tensor workspace =
          torch::stable::new_empty(x, {std::max<int64_t>(cuda::edge_l1_workspace_elements(p), 1)}, ScalarType::Float);
      STD_CUDA_CHECK(cuda::edge_l1(p, cuda::kEdgeParams, static_cast<float*>(workspace.mutable_data_ptr()), stream));
      break;
    }
    case Pass::kParams: {
      const Tensor workspace = torch::stable::new_empty(x, {cuda::params_workspace_elements(p)}, ScalarType::Float);
      STD_CUDA_CHECK(cuda::backward_params(p, static_cast<float*>(workspace.mutable_data_ptr()), stream));
      break;
    }
  }
}
#endif

template <typename T, typename K>
void launch(Pass pass, const LayerParams<T, K>& p, const Tensor& x) {
#if defined(METAKAN_WITH_CUDA)
  if constexpr (std::is_same_v<K, float>) {
    if (x.is_cuda()) return run_cuda(pass, p, x);
  }
#endif
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    run_cpu(pass, p);
  } else {
    METAKAN_CHECK(false, dtype_str(x.scalar_type()), " runs on CUDA only");
  }
}

// The element type the kernels see (T) and the knot type (K) of one dtype.
template <typename T_, typename K_>
struct Types {
  using T = T_;
  using K = K_;
};

// Calls body(Types<T, K>{}) for x's dtype.
template <typename Body>
void dispatch(const Tensor& x, Body&& body) {
  switch (x.scalar_type()) {
    case ScalarType::Float: return body(Types<float, float>{});
    case ScalarType::Double: return body(Types<double, double>{});
#if defined(METAKAN_WITH_CUDA)
    case ScalarType::Half: return body(Types<__half, float>{});
    case ScalarType::BFloat16: return body(Types<__nv_bfloat16, float>{});
#endif
    default: METAKAN_CHECK(false, "unsupported dtype ", dtype_str(x.scalar_type()));
  }
}

// ---------------------------------------------------------------------------------------------
// The four ops (schemas in metakan_kernels/schema.py).

// x, the spline and the knots of a call, checked.
struct Inputs {
  const Tensor& x;
  const OptTensor& grid;
  Spline spline;

  Inputs(const Tensor& x_, const OptTensor& grid_, int64_t grid_size, int64_t spline_order, double lo, double hi)
      : x(x_), grid(grid_), spline{grid_size, spline_order, lo, hi} {
    check_spline(spline);
    check_x(x);
    check_grid(grid, x, spline);
  }
};

// A KAN layer's call: the inputs and its weights, checked.
struct KanCall {
  Inputs in;
  const Tensor& coef;
  const OptTensor& base_weight;

  KanCall(Inputs inputs, const Tensor& coef_, const OptTensor& base_weight_)
      : in(inputs), coef(coef_), base_weight(base_weight_) {
    check_kan(in.x, coef, base_weight, in.spline);
  }
  int64_t out_features() const { return coef.size(0); }
  template <typename T, typename K>
  LayerParams<T, K> params() const {
    auto p = base_params<T, K>(in.x, out_features(), in.grid, in.spline);
    p.coef = ptr<T>(coef);
    p.base_weight = base_weight ? ptr<T>(*base_weight) : nullptr;
    return p;
  }
};

// A MetaKAN layer's call: the inputs and the embeddings and meta-learner, checked.
struct MetaCall {
  Inputs in;
  const Tensor &embedding, &w1, &b1, &w2, &b2;
  int64_t activation;

  MetaCall(Inputs inputs, const Tensor& embedding_, const Tensor& w1_, const Tensor& b1_, const Tensor& w2_,
           const Tensor& b2_, int64_t activation_)
      : in(inputs), embedding(embedding_), w1(w1_), b1(b1_), w2(w2_), b2(b2_), activation(activation_) {
    check_meta(in.x, embedding, w1, b1, w2, b2, in.spline);
    check_activation(activation);
  }
  int64_t out_features() const { return embedding.size(0); }
  template <typename T, typename K>
  LayerParams<T, K> params() const {
    auto p = base_params<T, K>(in.x, out_features(), in.grid, in.spline);
    set_meta(p, embedding, w1, b1, w2, b2, activation);
    return p;
  }
};

// y (B, O), or with EdgeL1 the edge statistics (O, I); zeros when there is nothing to sum (statistics of
// an empty batch are NaN, a mean of nothing).
template <bool EdgeL1, typename Call>
Tensor forward(const Call& call) {
  const Tensor& x = call.in.x;
  const int64_t rows = EdgeL1 ? call.out_features() : x.size(0);
  const int64_t cols = EdgeL1 ? x.size(1) : call.out_features();
  Tensor out = torch::stable::new_zeros(x, {rows, cols});
  if (x.size(0) == 0 && EdgeL1) return torch::stable::fill_(out, std::nan(""));
  if (out.numel() == 0 || x.size(0) == 0 || x.size(1) == 0) return out;
  dispatch(x, [&](auto types) {
    using T = typename decltype(types)::T;
    auto p = call.template params<T, typename decltype(types)::K>();
    if constexpr (EdgeL1) {
      p.edge_l1 = mut_ptr<T>(out);
    } else {
      p.y = mut_ptr<T>(out);
      p.y_stride = out.stride(0);
    }
    launch(EdgeL1 ? Pass::kEdgeL1 : Pass::kForward, p, x);
  });
  return out;
}

// Fills dx (when need_dx) and the parameter gradients that set_grads(params) points the kernels to
// (when need_dparams) from dy, the gradient of forward<EdgeL1>'s output; they hold zeros beforehand,
// which stand when there is nothing to sum.
template <bool EdgeL1, typename Call, typename SetGrads>
void backward(const Call& call, const Tensor& dy, const Tensor& dx, bool need_dx, bool need_dparams,
              SetGrads&& set_grads) {
  const Tensor& x = call.in.x;
  if constexpr (EdgeL1) {
    check_weight("dy", dy, x, {call.out_features(), x.size(1)}, "(out_features, in_features)");
  } else {
    check_dy(dy, x, call.out_features());
  }
  if (x.size(0) == 0 || x.size(1) == 0 || call.out_features() == 0 || !(need_dx || need_dparams)) return;
  dispatch(x, [&](auto types) {
    using T = typename decltype(types)::T;
    auto p = call.template params<T, typename decltype(types)::K>();
    p.dx = mut_ptr<T>(dx);
    p.dx_stride = x.size(1);
    set_grads(p);
    if constexpr (EdgeL1) {
      p.dedge_l1 = ptr<T>(dy);
      launch(need_dx && need_dparams ? Pass::kEdgeL1Both : need_dx ? Pass::kEdgeL1Input : Pass::kEdgeL1Params, p, x);
    } else {
      p.dy = ptr<T>(dy);
      p.dy_stride = dy.stride(0);
      if (need_dx) launch(Pass::kInput, p, x);
      if (need_dparams) launch(Pass::kParams, p, x);
    }
  });
}

// Zeros shaped as t, contiguous (new_zeros ignores t's strides), or an empty tensor when not needed.
Tensor zero_grad(const Tensor& t, bool need) { return need ? torch::stable::new_zeros(t, t.sizes()) : empty_grad(t); }

template <typename P>
using Elem = std::remove_pointer_t<decltype(std::declval<P>().dcoef)>;

// coef multiplied per edge by coef_scale (O, I) when one is given: formed for this call only, so that
// autograd keeps the two factors (parameters) rather than their product.
Tensor scaled_coef(const Inputs& in, const Tensor& coef, const OptTensor& coef_scale) {
  if (!coef_scale) return coef;
  check_kan(in.x, coef, std::nullopt, in.spline);
  check_weight("coef_scale", *coef_scale, in.x, {coef.size(0), in.x.size(1)}, "(out_features, in_features)");
  return call_aten("aten::mul", "Tensor", coef, torch::stable::unsqueeze(*coef_scale, -1));
}

// Each op below is the layer op or, with EdgeL1, its edge statistics: same arguments, same checks.
template <bool EdgeL1>
Tensor kan_fwd(const Tensor& x, const Tensor& coef, const OptTensor& coef_scale, const OptTensor& base_weight,
               const OptTensor& grid, int64_t grid_size, int64_t spline_order, double lo, double hi) {
  const Inputs in(x, grid, grid_size, spline_order, lo, hi);
  const Tensor scaled = scaled_coef(in, coef, coef_scale);
  return forward<EdgeL1>(KanCall(in, scaled, base_weight));
}

template <bool EdgeL1>
std::tuple<Tensor, Tensor, Tensor> kan_bwd(const Tensor& dy, const Tensor& x, const Tensor& coef,
                                           const OptTensor& base_weight, const OptTensor& grid, int64_t grid_size,
                                           int64_t spline_order, double lo, double hi, bool need_dx,
                                           bool need_dparams) {
  const KanCall call(Inputs(x, grid, grid_size, spline_order, lo, hi), coef, base_weight);
  Tensor dx = zero_grad(x, need_dx);
  Tensor dcoef = zero_grad(coef, need_dparams);
  Tensor dbase = base_weight ? zero_grad(*base_weight, need_dparams) : empty_grad(coef);
  backward<EdgeL1>(call, dy, dx, need_dx, need_dparams, [&](auto& p) {
    using T = Elem<decltype(p)>;
    p.dcoef = mut_ptr<T>(dcoef);
    p.dbase_weight = mut_ptr<T>(dbase);
  });
  return {dx, dcoef, dbase};
}

template <bool EdgeL1>
Tensor metakan_fwd(const Tensor& x, const Tensor& embedding, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                   const Tensor& b2, const OptTensor& grid, int64_t grid_size, int64_t spline_order, double lo,
                   double hi, int64_t activation) {
  return forward<EdgeL1>(
      MetaCall(Inputs(x, grid, grid_size, spline_order, lo, hi), embedding, w1, b1, w2, b2, activation));
}

template <bool EdgeL1>
std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor> metakan_bwd(
    const Tensor& dy, const Tensor& x, const Tensor& embedding, const Tensor& w1, const Tensor& b1, const Tensor& w2,
    const Tensor& b2, const OptTensor& grid, int64_t grid_size, int64_t spline_order, double lo, double hi,
    int64_t activation, bool need_dx, bool need_dparams) {
  const MetaCall call(Inputs(x, grid, grid_size, spline_order, lo, hi), embedding, w1, b1, w2, b2, activation);
  Tensor dx = zero_grad(x, need_dx);
  Tensor dembedding = zero_grad(embedding, need_dparams), dw1 = zero_grad(w1, need_dparams),
         db1 = zero_grad(b1, need_dparams), dw2 = zero_grad(w2, need_dparams), db2 = zero_grad(b2, need_dparams);
  backward<EdgeL1>(call, dy, dx, need_dx, need_dparams, [&](auto& p) {
    using T = Elem<decltype(p)>;
    p.dembedding = mut_ptr<T>(dembedding);
    p.dw1 = mut_ptr<T>(dw1);
    p.db1 = mut_ptr<T>(db1);
    p.dw2 = mut_ptr<T>(dw2);
    p.db2 = mut_ptr<T>(db2);
  });
  return {dx, dembedding, dw1, db1, dw2, db2};
}

}  // namespace

// The ops' schemas are defined once, in Python (metakan_kernels/schema.py), before this module loads; the
// functions above take their arguments in that order.
STABLE_TORCH_LIBRARY_IMPL(metakan, CPU, m) {
  m.impl("native_kan_fwd", TORCH_BOX(&kan_fwd<false>));
  m.impl("native_kan_bwd", TORCH_BOX(&kan_bwd<false>));
  m.impl("native_metakan_fwd", TORCH_BOX(&metakan_fwd<false>));
  m.impl("native_metakan_bwd", TORCH_BOX(&metakan_bwd<false>));
  m.impl("native_kan_edge_l1_fwd", TORCH_BOX(&kan_fwd<true>));
  m.impl("native_kan_edge_l1_bwd", TORCH_BOX(&kan_bwd<true>));
  m.impl("native_metakan_edge_l1_fwd", TORCH_BOX(&metakan_fwd<true>));
  m.impl("native_metakan_edge_l1_bwd", TORCH_BOX(&metakan_bwd<true>));
}

#if defined(METAKAN_WITH_CUDA)
STABLE_TORCH_LIBRARY_IMPL(metakan, CUDA, m) {
  m.impl("native_kan_fwd", TORCH_BOX(&kan_fwd<false>));
  m.impl("native_kan_bwd", TORCH_BOX(&kan_bwd<false>));
  m.impl("native_metakan_fwd", TORCH_BOX(&metakan_fwd<false>));
  m.impl("native_metakan_bwd", TORCH_BOX(&metakan_bwd<false>));
  m.impl("native_kan_edge_l1_fwd", TORCH_BOX(&kan_fwd<true>));
  m.impl("native_kan_edge_l1_bwd", TORCH_BOX(&kan_bwd<true>));
  m.impl("native_metakan_edge_l1_fwd", TORCH_BOX(&metakan_fwd<true>));
  m.impl("native_metakan_edge_l1_bwd", TORCH_BOX(&metakan_bwd<true>));
}
#endif

}  // namespace metakan

// The Python module metakan_kernels._C (Python's limited API): importing it registers the kernels above.
PyMODINIT_FUNC PyInit__C(void) {
  static PyModuleDef module = {PyModuleDef_HEAD_INIT, "_C", "metakan's compiled kernels (torch.ops.metakan.native_*)",
                               -1, nullptr};
  PyObject* m = PyModule_Create(&module);
  if (m == nullptr) return nullptr;
#if defined(METAKAN_WITH_CUDA)
  const long with_cuda = 1;
#else
  const long with_cuda = 0;
#endif
  // The tables of metakan/limits.h, for metakan_kernels.limits to read.
  PyObject* activations = PyTuple_New(metakan::kNumActivations);
  for (int code = 0; activations != nullptr && code < metakan::kNumActivations; ++code) {
    PyObject* name = PyUnicode_FromString(metakan::kActivationNames[code]);
    if (name == nullptr || PyTuple_SetItem(activations, code, name) != 0) Py_CLEAR(activations);
  }
  const bool failed = activations == nullptr || PyModule_AddObjectRef(m, "activations", activations) != 0 ||
                      PyModule_AddIntConstant(m, "with_cuda", with_cuda) != 0 ||
                      PyModule_AddIntConstant(m, "min_spline_order", metakan::kMinOrder) != 0 ||
                      PyModule_AddIntConstant(m, "max_spline_order", metakan::kMaxOrder) != 0 ||
                      PyModule_AddIntConstant(m, "max_num_bases", metakan::kMaxNumBases) != 0 ||
                      PyModule_AddIntConstant(m, "max_cuda_embedding_dim", metakan::kMaxCudaEmbeddingDim) != 0 ||
                      PyModule_AddIntConstant(m, "max_cuda_hidden_dim", metakan::kMaxCudaHiddenDim) != 0;
  Py_XDECREF(activations);
  if (failed) {
    Py_DECREF(m);
    return nullptr;
  }
  return m;
}
