// Qualifiers that let one inline function serve both the C++ (host) and the CUDA (device) kernels.
#pragma once

#if defined(__CUDACC__)
#define MK_HD __host__ __device__ __forceinline__
#define MK_UNROLL _Pragma("unroll")
#define MK_SIMD_SUM(v)
#else
#define MK_HD inline __attribute__((always_inline))
#define MK_UNROLL
// Lets the C++ compiler vectorize a sum (reassociating it; the order is still fixed).
#define MK_SIMD_PRAGMA(x) _Pragma(#x)
#define MK_SIMD_SUM(v) MK_SIMD_PRAGMA(omp simd reduction(+ : v))
#endif
