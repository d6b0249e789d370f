// Fused CPU kernels of the KAN and MetaKAN layers: tiles of bases and of (generated) coefficients
// in cache-sized buffers, OpenMP over tiles, tile products through a GEMM the binding supplies.
#pragma once

#include <cstdint>

#include "../metakan/params.h"

namespace metakan::cpu {

// Row-major C (m, n) = op(A) op(B) + beta C, with op(A) (m, k) and op(B) (k, n); a transposed operand
// is stored as its transpose. Supplied by the binding (a BLAS call), so that the kernels know no
// torch; it must be callable from several threads at once.
template <typename T>
using GemmFn = void (*)(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda,
                        const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

// y = layer(x).
template <typename T, typename K>
void forward(const LayerParams<T, K>& p, GemmFn<T> gemm);

// dx from dy.
template <typename T, typename K>
void backward_input(const LayerParams<T, K>& p, GemmFn<T> gemm);

// dcoef and dbase_weight, or dembedding, dw1, db1, dw2 and db2, from dy; meta-learner gradients
// are summed over fixed groups of tiles in a fixed order, so they do not depend on the threads.
template <typename T, typename K>
void backward_params(const LayerParams<T, K>& p, GemmFn<T> gemm);

// edge_l1[o, i] = mean_b |phi_oi(x[b, i])|, the edge statistics, without a (B, O, I) tensor.
template <typename T, typename K>
void edge_l1(const LayerParams<T, K>& p, GemmFn<T> gemm);

// The backward of edge_l1 from dedge_l1: dx when need_dx, and the parameter gradients (as
// backward_params) when need_dparams; every sum runs in a fixed order, whatever the threads.
template <typename T, typename K>
void edge_l1_backward(const LayerParams<T, K>& p, GemmFn<T> gemm, bool need_dx, bool need_dparams);

}  // namespace metakan::cpu
