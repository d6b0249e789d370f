// The meta-learner w = W2 act(W1 z + b1) + b2 of one edge embedding z, forward and backward, written
// once for the C++ and the CUDA kernels. The pieces work on one hidden unit h, one output r or one
// embedding component j, so that a CUDA block can spread them over threads (the C++ kernels run both
// layers as GEMMs over thousands of edges instead). A is the accumulation type.
#pragma once

#include "activations.h"
#include "macros.h"
#include "numeric.h"

namespace metakan {

// W1 (H, d), b1 (H,), W2 (outputs, H), b2 (outputs,), all contiguous; outputs = K + 1.
template <typename T>
struct MetaMlp {
  const T* w1;
  const T* b1;
  const T* w2;
  const T* b2;
  int embedding_dim;
  int hidden_dim;
  int outputs;
  int activation;
};

// Pre-activation of hidden unit h: b1[h] + W1[h, :] . z
template <typename A, typename T, typename Z>
MK_HD A meta_pre(const MetaMlp<T>& mlp, const Z* z, int h) {
  A v = cast<A>(mlp.b1[h]);
  const T* w = mlp.w1 + static_cast<long long>(h) * mlp.embedding_dim;
  for (int j = 0; j < mlp.embedding_dim; ++j) v += cast<A>(w[j]) * cast<A>(z[j]);
  return v;
}

// Output r from the hidden activations act[0 .. H): b2[r] + W2[r, :] . act
template <typename A, typename T, typename H>
MK_HD A meta_output(const MetaMlp<T>& mlp, const H* act, int r) {
  const T* w = mlp.w2 + static_cast<long long>(r) * mlp.hidden_dim;
  A v = A(0);
  MK_SIMD_SUM(v)
  for (int h = 0; h < mlp.hidden_dim; ++h) v += cast<A>(w[h]) * cast<A>(act[h]);
  return v + cast<A>(mlp.b2[r]);
}

// dL/dpre of hidden unit h, from dout[r] = dL/dw[r] for every output: act'(pre) sum_r dout[r] W2[r, h].
template <typename A, typename T, typename G>
MK_HD A meta_pre_grad(const MetaMlp<T>& mlp, const G* dout, int h, A pre) {
  A dact = A(0);
  const T* w = mlp.w2 + h;
  for (int r = 0; r < mlp.outputs; ++r) dact += cast<A>(dout[r]) * cast<A>(w[static_cast<long long>(r) * mlp.hidden_dim]);
  return dact * activate_grad(mlp.activation, pre);
}

// dL/dz[j] from dpre[h] = dL/dpre_h: sum_h dpre[h] W1[h, j].
template <typename A, typename T, typename D>
MK_HD A meta_embedding_grad(const MetaMlp<T>& mlp, const D* dpre, int j) {
  A v = A(0);
  for (int h = 0; h < mlp.hidden_dim; ++h) {
    v += cast<A>(dpre[h]) * cast<A>(mlp.w1[static_cast<long long>(h) * mlp.embedding_dim + j]);
  }
  return v;
}

}  // namespace metakan
