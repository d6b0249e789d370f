// cast<To>(v): conversions between tensor element types and accumulation types in host and device
// code, including CUDA's 16-bit types (whose implicit conversions torch's builds switch off).
#pragma once

#include "macros.h"

// CUDA's 16-bit types: in CUDA code, and in the CPU emulation of the CUDA kernels (csrc/tests).
#if defined(__CUDACC__) || defined(METAKAN_CUDA_EMULATION)
#define METAKAN_HAS_CUDA_16BIT 1
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#endif

namespace metakan {

template <typename To, typename From>
struct Cast {
  MK_HD static To apply(From v) { return static_cast<To>(v); }
};

#if defined(METAKAN_HAS_CUDA_16BIT)
template <typename From>
struct Cast<__half, From> {
  MK_HD static __half apply(From v) { return __float2half_rn(static_cast<float>(v)); }
};
template <typename From>
struct Cast<__nv_bfloat16, From> {
  MK_HD static __nv_bfloat16 apply(From v) { return __float2bfloat16_rn(static_cast<float>(v)); }
};
template <typename To>
struct Cast<To, __half> {
  MK_HD static To apply(__half v) { return static_cast<To>(__half2float(v)); }
};
template <typename To>
struct Cast<To, __nv_bfloat16> {
  MK_HD static To apply(__nv_bfloat16 v) { return static_cast<To>(__bfloat162float(v)); }
};
template <>
struct Cast<__half, __half> {
  MK_HD static __half apply(__half v) { return v; }
};
template <>
struct Cast<__nv_bfloat16, __nv_bfloat16> {
  MK_HD static __nv_bfloat16 apply(__nv_bfloat16 v) { return v; }
};
#endif

template <typename To, typename From>
MK_HD To cast(From v) {
  return Cast<To, From>::apply(v);
}

}  // namespace metakan
