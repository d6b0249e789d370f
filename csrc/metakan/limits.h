// The meta-learner's activation codes and the fused kernels' limits, stated once: the kernels and the
// binding use them, and metakan_kernels._C exports them to Python (metakan_kernels/limits.py holds the
// same table for the backends that run without _C; a test checks that both agree).
#pragma once

namespace metakan {

// Codes of the meta-learner's hidden activation, in the order of kActivationNames.
enum Activation : int { kRelu = 0, kSilu = 1, kGelu = 2, kTanh = 3, kIdentity = 4 };
constexpr int kNumActivations = 5;
constexpr const char* kActivationNames[kNumActivations] = {"relu", "silu", "gelu", "tanh", "identity"};

constexpr int kMinOrder = 0;       // piecewise-constant bases
constexpr int kMaxOrder = 5;       // the orders the basis recursions are unrolled for
constexpr int kMaxNumBases = 64;   // G + k: one edge's bases live in registers
// The CUDA meta-learner's tiles: one warp's embedding slice and the hidden width kept in shared memory.
constexpr int kMaxCudaEmbeddingDim = 16;
constexpr int kMaxCudaHiddenDim = 128;

}  // namespace metakan
