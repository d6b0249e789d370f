// The torch face of the native kernels: the metakan::native_* op schemas, every argument check,
// the CPU and CUDA implementations (one op, dispatched by device) and the _C Python module.
#include <ATen/ATen.h>
#include <Python.h>
#include <torch/library.h>

#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <tuple>
#include <type_traits>

#include "cpu/kernels.h"
#include "metakan/spline.h"

#if defined(METAKAN_WITH_CUDA)
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "cuda/kernels.h"
#endif

namespace metakan {
namespace {

using at::Tensor;
using OptTensor = std::optional<Tensor>;

constexpr int64_t kMaxNumBases = 64;

// ---------------------------------------------------------------------------------------------
// Checks. Every message names the argument, says what was expected and what came.

std::string shape_str(const Tensor& t) {
  std::ostringstream out;
  out << t.sizes();
  return out.str();
}

// torch's names: float32 rather than Float.
std::string dtype_str(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    default: return c10::toString(dtype);
  }
}

void check_device(const char* name, const Tensor& t, const Tensor& x) {
  TORCH_CHECK(t.device() == x.device(), "metakan native op: ", name, " is on ", t.device(), " but x is on ", x.device());
}

void check_dtype(const char* name, const Tensor& t, at::ScalarType dtype) {
  TORCH_CHECK(t.scalar_type() == dtype, "metakan native op: ", name, " must be ", dtype_str(dtype), ", got ",
              dtype_str(t.scalar_type()));
}

void check_shape(const char* name, const Tensor& t, at::IntArrayRef shape, const char* meaning) {
  TORCH_CHECK(t.sizes() == shape, "metakan native op: ", name, " must have shape ", meaning, " = ", shape, ", got ",
              shape_str(t));
}

// Same device and dtype as x, the given shape, and contiguous.
void check_weight(const char* name, const Tensor& t, const Tensor& x, at::IntArrayRef shape, const char* meaning) {
  check_device(name, t, x);
  check_dtype(name, t, x.scalar_type());
  check_shape(name, t, shape, meaning);
  TORCH_CHECK(t.is_contiguous(), "metakan native op: ", name, " must be contiguous, got strides ", t.strides());
}

// A (rows, cols) matrix whose rows may be strided but whose elements within a row are adjacent.
void check_rows(const char* name, const Tensor& t, const Tensor& x, at::IntArrayRef shape, const char* meaning) {
  check_device(name, t, x);
  check_dtype(name, t, x.scalar_type());
  check_shape(name, t, shape, meaning);
  TORCH_CHECK(t.stride(1) == 1 || t.size(1) <= 1, "metakan native op: ", name,
              " must have unit stride along its last dimension, got strides ", t.strides());
  TORCH_CHECK(t.stride(0) >= 0, "metakan native op: ", name, " must have non-negative strides, got ", t.strides());
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
  TORCH_CHECK(s.grid_size >= 1, "metakan native op: grid_size must be >= 1, got ", s.grid_size);
  TORCH_CHECK(s.order >= 0 && s.order <= kMaxOrder, "metakan native op: spline_order must be in [0, ", kMaxOrder,
              "], got ", s.order);
  TORCH_CHECK(s.num_bases() <= kMaxNumBases, "metakan native op: grid_size + spline_order must be <= ", kMaxNumBases,
              ", got ", s.num_bases());
  TORCH_CHECK(std::isfinite(s.lo) && std::isfinite(s.hi) && s.lo < s.hi,
              "metakan native op: the grid range must be finite with lo < hi, got lo = ", s.lo, ", hi = ", s.hi);
}

void check_x(const Tensor& x) {
  TORCH_CHECK(x.dim() == 2, "metakan native op: x must have shape (batch, in_features), got ", shape_str(x));
  const auto dtype = x.scalar_type();
  if (x.is_cuda()) {
    TORCH_CHECK(dtype == at::kFloat || dtype == at::kHalf || dtype == at::kBFloat16,
                "metakan native op: on CUDA, x must be float32, float16 or bfloat16, got ", dtype_str(dtype));
  } else {
    TORCH_CHECK(x.is_cpu(), "metakan native op: x must be a CPU or CUDA tensor, got one on ", x.device());
    TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble,
                "metakan native op: on CPU, x must be float32 or float64, got ", dtype_str(dtype));
  }
  check_rows("x", x, x, x.sizes(), "(batch, in_features)");
}

// Per-feature knots: (I, G + 2k + 1), float32 (float64 for float64 x), rows of adjacent knots.
void check_grid(const OptTensor& grid, const Tensor& x, const Spline& s) {
  if (!grid) return;
  const Tensor& g = *grid;
  check_device("grid", g, x);
  check_dtype("grid", g, x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat);
  check_shape("grid", g, {x.size(1), s.num_knots()}, "(in_features, grid_size + 2*spline_order + 1)");
  TORCH_CHECK(g.stride(1) == 1, "metakan native op: grid must have unit stride along its last dimension, got strides ",
              g.strides());
}

void check_activation(int64_t activation) {
  TORCH_CHECK(activation >= kRelu && activation <= kIdentity,
              "metakan native op: activation must be a code in [0, 4] (relu, silu, gelu, tanh, identity), got ",
              activation);
}

void check_dy(const Tensor& dy, const Tensor& x, int64_t out_features) {
  TORCH_CHECK(dy.dim() == 2, "metakan native op: dy must have shape (batch, out_features), got ", shape_str(dy));
  check_rows("dy", dy, x, {x.size(0), out_features}, "(batch, out_features)");
}

void check_meta(const Tensor& x, const Tensor& embedding, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                const Tensor& b2, const Spline& s) {
  TORCH_CHECK(embedding.dim() == 3,
              "metakan native op: embedding must have shape (out_features, in_features, embedding_dim), got ",
              shape_str(embedding));
  TORCH_CHECK(w1.dim() == 2, "metakan native op: w1 must have shape (hidden_dim, embedding_dim), got ", shape_str(w1));
  const int64_t out = embedding.size(0);
  const int64_t d = embedding.size(2);
  const int64_t hidden = w1.size(0);
  TORCH_CHECK(d >= 1 && d <= std::numeric_limits<int>::max(),
              "metakan native op: embedding must have 1 <= embedding_dim < 2^31, got ", shape_str(embedding));
  TORCH_CHECK(hidden >= 1 && hidden <= std::numeric_limits<int>::max(),
              "metakan native op: w1 must have 1 <= hidden_dim < 2^31 rows, got ", shape_str(w1));
  check_weight("embedding", embedding, x, {out, x.size(1), d}, "(out_features, in_features, embedding_dim)");
  check_weight("w1", w1, x, {hidden, d}, "(hidden_dim, embedding_dim)");
  check_weight("b1", b1, x, {hidden}, "(hidden_dim,)");
  check_weight("w2", w2, x, {s.num_bases() + 1, hidden}, "(grid_size + spline_order + 1, hidden_dim)");
  check_weight("b2", b2, x, {s.num_bases() + 1}, "(grid_size + spline_order + 1,)");
}

void check_kan(const Tensor& x, const Tensor& coef, const OptTensor& base_weight, const Spline& s) {
  TORCH_CHECK(coef.dim() == 3,
              "metakan native op: coef must have shape (out_features, in_features, grid_size + spline_order), got ",
              shape_str(coef));
  const int64_t out = coef.size(0);
  check_weight("coef", coef, x, {out, x.size(1), s.num_bases()},
               "(out_features, in_features, grid_size + spline_order)");
  if (base_weight) check_weight("base_weight", *base_weight, x, {out, x.size(1)}, "(out_features, in_features)");
}

// ---------------------------------------------------------------------------------------------
// Kernel parameters.

Tensor empty_grad(const Tensor& like) { return at::empty({0}, like.options()); }

template <typename T>
const T* ptr(const Tensor& t) {
  return reinterpret_cast<const T*>(t.const_data_ptr());
}

template <typename T>
T* mut_ptr(const Tensor& t) {
  return t.defined() && t.numel() > 0 ? reinterpret_cast<T*>(t.mutable_data_ptr()) : nullptr;
}

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

enum class Pass { kForward, kInput, kParams };  // y; dx; the parameters' gradients

// Row-major C = op(A) op(B) + beta C on strided views of the kernels' tile buffers.
template <typename T>
void aten_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b,
               int64_t ldb, T beta, T* c, int64_t ldc) {
  at::AutoDispatchBelowAutograd no_autograd;
  const auto options = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
  auto view = [&](const T* data, int64_t rows, int64_t cols, int64_t ld, bool trans) {
    return trans ? at::from_blob(const_cast<T*>(data), {cols, rows}, {ld, 1}, options).t()
                 : at::from_blob(const_cast<T*>(data), {rows, cols}, {ld, 1}, options);
  };
  Tensor out = at::from_blob(c, {m, n}, {ldc, 1}, options);
  if (beta == T(0)) {
    at::mm_out(out, view(a, m, k, lda, trans_a), view(b, k, n, ldb, trans_b));
  } else {
    at::addmm_out(out, out, view(a, m, k, lda, trans_a), view(b, k, n, ldb, trans_b), beta, 1);
  }
}

template <typename T, typename K>
void run_cpu(Pass pass, const LayerParams<T, K>& p) {
  switch (pass) {
    case Pass::kForward: cpu::forward(p, &aten_gemm<T>); break;
    case Pass::kInput: cpu::backward_input(p, &aten_gemm<T>); break;
    case Pass::kParams: cpu::backward_params(p, &aten_gemm<T>); break;
  }
}

#if defined(METAKAN_WITH_CUDA)
template <typename T>
void run_cuda(Pass pass, const LayerParams<T, float>& p, const Tensor& x) {
  TORCH_CHECK(cuda::max_blocks(p) <= std::numeric_limits<int32_t>::max(),
              "metakan native op: batch x features too large for one CUDA launch (", cuda::max_blocks(p),
              " thread blocks); split the batch");
  const c10::cuda::CUDAGuard device_guard(x.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(x.device().index()).stream();
  switch (pass) {
    case Pass::kForward: C10_CUDA_CHECK(cuda::forward(p, stream)); break;
    case Pass::kInput: C10_CUDA_CHECK(cuda::backward_input(p, stream)); break;
    case Pass::kParams: {
      const Tensor workspace = at::empty({cuda::params_workspace_elements(p)}, x.options().dtype(at::kFloat));
      C10_CUDA_CHECK(cuda::backward_params(p, workspace.mutable_data_ptr<float>(), stream));
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
    TORCH_INTERNAL_ASSERT(false, "metakan native op: ", x.scalar_type(), " runs on CUDA only");
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
    case at::kFloat: return body(Types<float, float>{});
    case at::kDouble: return body(Types<double, double>{});
#if defined(METAKAN_WITH_CUDA)
    case at::kHalf: return body(Types<__half, float>{});
    case at::kBFloat16: return body(Types<__nv_bfloat16, float>{});
#endif
    default: TORCH_CHECK(false, "metakan native op: unsupported dtype ", dtype_str(x.scalar_type()));
  }
}

// ---------------------------------------------------------------------------------------------
// The four ops (schemas in metakan_kernels/fused.py).

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

// y (B, O); zeros when there is nothing to sum.
template <typename Call>
Tensor forward(const Call& call) {
  const Tensor& x = call.in.x;
  Tensor y = at::zeros({x.size(0), call.out_features()}, x.options());
  if (y.numel() == 0 || x.size(1) == 0) return y;
  dispatch(x, [&](auto types) {
    auto p = call.template params<typename decltype(types)::T, typename decltype(types)::K>();
    p.y = mut_ptr<typename decltype(types)::T>(y);
    p.y_stride = y.stride(0);
    launch(Pass::kForward, p, x);
  });
  return y;
}

// Fills dx (when need_dx) and the parameter gradients that set_grads(params) points the kernels to
// (when need_dparams); they hold zeros beforehand, which stand when there is nothing to sum.
template <typename Call, typename SetGrads>
void backward(const Call& call, const Tensor& dy, const Tensor& dx, bool need_dx, bool need_dparams,
              SetGrads&& set_grads) {
  const Tensor& x = call.in.x;
  check_dy(dy, x, call.out_features());
  if (dy.numel() == 0 || x.size(1) == 0) return;
  dispatch(x, [&](auto types) {
    using T = typename decltype(types)::T;
    auto p = call.template params<T, typename decltype(types)::K>();
    p.dy = ptr<T>(dy);
    p.dy_stride = dy.stride(0);
    p.dx = mut_ptr<T>(dx);
    p.dx_stride = x.size(1);
    set_grads(p);
    if (need_dx) launch(Pass::kInput, p, x);
    if (need_dparams) launch(Pass::kParams, p, x);
  });
}

Tensor input_grad(const Tensor& x, bool need) {
  return need ? at::zeros_like(x, at::MemoryFormat::Contiguous) : empty_grad(x);
}

Tensor param_grad(const Tensor& t, bool need) { return need ? at::zeros_like(t) : empty_grad(t); }

template <typename P>
using Elem = std::remove_pointer_t<decltype(std::declval<P>().dcoef)>;

// coef multiplied per edge by coef_scale (O, I) when one is given: formed for this call only, so that
// autograd keeps the two factors (parameters) rather than their product.
Tensor scaled_coef(const Inputs& in, const Tensor& coef, const OptTensor& coef_scale) {
  if (!coef_scale) return coef;
  check_kan(in.x, coef, std::nullopt, in.spline);
  check_weight("coef_scale", *coef_scale, in.x, {coef.size(0), in.x.size(1)}, "(out_features, in_features)");
  return coef * coef_scale->unsqueeze(-1);
}

Tensor kan_fwd(const Tensor& x, const Tensor& coef, const OptTensor& coef_scale, const OptTensor& base_weight,
               const OptTensor& grid, int64_t grid_size, int64_t spline_order, double lo, double hi) {
  const Inputs in(x, grid, grid_size, spline_order, lo, hi);
  const Tensor scaled = scaled_coef(in, coef, coef_scale);
  return forward(KanCall(in, scaled, base_weight));
}

std::tuple<Tensor, Tensor, Tensor> kan_bwd(const Tensor& dy, const Tensor& x, const Tensor& coef,
                                           const OptTensor& base_weight, const OptTensor& grid, int64_t grid_size,
                                           int64_t spline_order, double lo, double hi, bool need_dx,
                                           bool need_dparams) {
  const KanCall call(Inputs(x, grid, grid_size, spline_order, lo, hi), coef, base_weight);
  Tensor dx = input_grad(x, need_dx);
  Tensor dcoef = param_grad(coef, need_dparams);
  Tensor dbase = base_weight ? param_grad(*base_weight, need_dparams) : empty_grad(coef);
  backward(call, dy, dx, need_dx, need_dparams, [&](auto& p) {
    using T = Elem<decltype(p)>;
    p.dcoef = mut_ptr<T>(dcoef);
    p.dbase_weight = mut_ptr<T>(dbase);
  });
  return {dx, dcoef, dbase};
}

Tensor metakan_fwd(const Tensor& x, const Tensor& embedding, const Tensor& w1, const Tensor& b1, const Tensor& w2,
                   const Tensor& b2, const OptTensor& grid, int64_t grid_size, int64_t spline_order, double lo,
                   double hi, int64_t activation) {
  return forward(MetaCall(Inputs(x, grid, grid_size, spline_order, lo, hi), embedding, w1, b1, w2, b2, activation));
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor> metakan_bwd(
    const Tensor& dy, const Tensor& x, const Tensor& embedding, const Tensor& w1, const Tensor& b1, const Tensor& w2,
    const Tensor& b2, const OptTensor& grid, int64_t grid_size, int64_t spline_order, double lo, double hi,
    int64_t activation, bool need_dx, bool need_dparams) {
  const MetaCall call(Inputs(x, grid, grid_size, spline_order, lo, hi), embedding, w1, b1, w2, b2, activation);
  Tensor dx = input_grad(x, need_dx);
  Tensor dembedding = param_grad(embedding, need_dparams), dw1 = param_grad(w1, need_dparams),
         db1 = param_grad(b1, need_dparams), dw2 = param_grad(w2, need_dparams), db2 = param_grad(b2, need_dparams);
  backward(call, dy, dx, need_dx, need_dparams, [&](auto& p) {
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

TORCH_LIBRARY_FRAGMENT(metakan, m) {
  m.def(
      "native_kan_fwd(Tensor x, Tensor coef, Tensor? coef_scale, Tensor? base_weight, Tensor? grid, int grid_size, "
      "int spline_order, float lo, float hi) -> Tensor");
  m.def(
      "native_kan_bwd(Tensor dy, Tensor x, Tensor coef, Tensor? base_weight, Tensor? grid, int grid_size, "
      "int spline_order, float lo, float hi, bool need_dx, bool need_dparams) -> (Tensor, Tensor, Tensor)");
  m.def(
      "native_metakan_fwd(Tensor x, Tensor embedding, Tensor w1, Tensor b1, Tensor w2, Tensor b2, Tensor? grid, "
      "int grid_size, int spline_order, float lo, float hi, int activation) -> Tensor");
  m.def(
      "native_metakan_bwd(Tensor dy, Tensor x, Tensor embedding, Tensor w1, Tensor b1, Tensor w2, Tensor b2, "
      "Tensor? grid, int grid_size, int spline_order, float lo, float hi, int activation, bool need_dx, "
      "bool need_dparams) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(metakan, CPU, m) {
  m.impl("native_kan_fwd", &kan_fwd);
  m.impl("native_kan_bwd", &kan_bwd);
  m.impl("native_metakan_fwd", &metakan_fwd);
  m.impl("native_metakan_bwd", &metakan_bwd);
}

#if defined(METAKAN_WITH_CUDA)
TORCH_LIBRARY_IMPL(metakan, CUDA, m) {
  m.impl("native_kan_fwd", &kan_fwd);
  m.impl("native_kan_bwd", &kan_bwd);
  m.impl("native_metakan_fwd", &metakan_fwd);
  m.impl("native_metakan_bwd", &metakan_bwd);
}
#endif

}  // namespace metakan

// The Python module metakan_kernels._C: importing it registers the ops above.
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
  if (PyModule_AddIntConstant(m, "with_cuda", with_cuda) != 0) {
    Py_DECREF(m);
    return nullptr;
  }
  return m;
}
