// Scalar activations and their derivatives, shared by the C++ and CUDA kernels.
#pragma once

#include <cmath>

#include "macros.h"
#include "params.h"

namespace metakan {

// silu(x) = x / (1 + exp(-x)), the form torch uses (so silu(-inf) is NaN there and here).
template <typename A>
MK_HD A silu(A x) {
  using std::exp;
  return x / (A(1) + exp(-x));
}

template <typename A>
MK_HD A silu_grad(A x) {
  using std::exp;
  const A sig = A(1) / (A(1) + exp(-x));
  return sig * (A(1) + x * (A(1) - sig));
}

// The meta-learner's hidden activation (exact erf GELU, as torch's default; identity makes the
// meta-learner affine, as in the MetaKAN paper's image-classification models).
template <typename A>
MK_HD A activate(int activation, A v) {
  using std::erf;
  using std::tanh;
  switch (activation) {
    case kRelu: return v < A(0) ? A(0) : v;  // NaN stays NaN
    case kSilu: return silu(v);
    case kGelu: return A(0.5) * v * (A(1) + erf(v * A(0.70710678118654752440)));
    case kTanh: return tanh(v);
    default: return v;  // kIdentity
  }
}

// d activate(v) / dv; ReLU's derivative at 0 is 0, as in torch.
template <typename A>
MK_HD A activate_grad(int activation, A v) {
  using std::erf;
  using std::exp;
  using std::tanh;
  switch (activation) {
    case kRelu: return v > A(0) ? A(1) : A(0);
    case kSilu: return silu_grad(v);
    case kGelu:
      return A(0.5) * (A(1) + erf(v * A(0.70710678118654752440))) +
             v * exp(A(-0.5) * v * v) * A(0.39894228040143267794);
    case kTanh: {
      const A t = tanh(v);
      return A(1) - t * t;
    }
    default: return A(1);  // kIdentity
  }
}

}  // namespace metakan
