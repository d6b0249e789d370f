// Launchers of the fused CUDA kernels (no torch): each returns the launch's CUDA error.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "../metakan/params.h"

namespace metakan::cuda {

// T is float, __half or __nv_bfloat16; knots are float.

// y = layer(x).
template <typename T>
cudaError_t forward(const LayerParams<T, float>& p, cudaStream_t stream);

// dx from dy.
template <typename T>
cudaError_t backward_input(const LayerParams<T, float>& p, cudaStream_t stream);

// Parameter gradients from dy; a MetaKAN layer needs params_workspace_elements(p) floats of
// workspace for the per-block partial sums of the meta-learner's gradients.
template <typename T>
cudaError_t backward_params(const LayerParams<T, float>& p, float* workspace, cudaStream_t stream);

template <typename T>
int64_t params_workspace_elements(const LayerParams<T, float>& p);

// The edge statistics' passes: stat (edge_l1) from x; dx, or the parameter gradients, from dedge_l1.
enum EdgePass { kEdgeForward = 0, kEdgeInput = 1, kEdgeParams = 2 };

// One pass of the edge statistics; the parameter pass of a MetaKAN layer needs
// edge_l1_workspace_elements(p) floats of workspace for the per-block partial sums.
template <typename T>
cudaError_t edge_l1(const LayerParams<T, float>& p, int pass, float* workspace, cudaStream_t stream);

template <typename T>
int64_t edge_l1_workspace_elements(const LayerParams<T, float>& p);

// Thread blocks of the largest launch; must stay below 2^31.
template <typename T>
int64_t max_blocks(const LayerParams<T, float>& p);

}  // namespace metakan::cuda
