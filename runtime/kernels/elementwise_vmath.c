/*
 * elementwise_vmath.c - float32 exp, tanh, erf, sigmoid and gelu over
 * arrays, four lanes at a time with simd.h vectors (SSE natively, SIMD128
 * in wasm), eight with AVX2+FMA where the CPU has it (the bodies are
 * written once, in vmath_body.h, and included per instruction set). Each
 * function has a vector body and reuses it for the tail through a padded
 * one-vector buffer, so tail and body agree bit for bit.
 *
 *   exp      Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, a degree-6
 *            polynomial (Cephes expf), scaled by 2^n in two steps so
 *            subnormal results and n = 128 need no special case;
 *   tanh     odd polynomial below 0.625 (Cephes tanhf), 1 - 2/(e^2x + 1)
 *            above (exactly 1 from 10 on);
 *   erf      x P(x^2) / Q(x^2) on [-4, 4] (the rational fit XLA and Eigen
 *            use), +-1 beyond;
 *   sigmoid  1 / (1 + e^-x);
 *   gelu     x/2 (1 + erf(x / sqrt 2));
 *   fastgelu x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3), which equals
 *            x/2 (1 + tanh u) without its cancellation for negative x.
 * The test (tests/check_kernels_elementwise.c) sweeps them against libm.
 */
#include <stdint.h>

#include "elementwise.h"
#include "gemm.h"
#include "simd.h"

/* The bodies, once per instruction set (vmath_body.h). */
#define VM_V f32x4
#define VM_I i32x4
#define VM_VL 4
#define VM_ATTR
#define VM_FN(name) name##_generic
#include "vmath_body.h"
#undef VM_V
#undef VM_I
#undef VM_VL
#undef VM_ATTR
#undef VM_FN
#if defined(__x86_64__) && !defined(__AVX2__)
typedef float vm_f32x8 __attribute__((vector_size(32)));
typedef int vm_i32x8 __attribute__((vector_size(32)));
#define VM_V vm_f32x8
#define VM_I vm_i32x8
#define VM_VL 8
#define VM_ATTR __attribute__((target("avx2,fma")))
#define VM_FN(name) name##_avx2
#include "vmath_body.h"
#undef VM_V
#undef VM_I
#undef VM_VL
#undef VM_ATTR
#undef VM_FN
#define VM_PICK(name, x, y, n)   \
  if (ferry_simd_avx2()) {       \
    name##_avx2(x, y, n);        \
    return;                      \
  }
#else
#define VM_PICK(name, x, y, n)
#endif

/* The exported maps: AVX2 where the GEMM uses it, else the generic one. */
#define VM_EXPORT(fn, name)                         \
  void fn(const float *x, float *y, int64_t n) {    \
    VM_PICK(name, x, y, n)                          \
    name##_generic(x, y, n);                        \
  }

VM_EXPORT(ferry_vexp_f32, vexp_map)
VM_EXPORT(ferry_vtanh_f32, vtanh_map)
VM_EXPORT(ferry_verf_f32, verf_map)
VM_EXPORT(ferry_vsigmoid_f32, vsigmoid_map)
VM_EXPORT(ferry_vgelu_f32, vgelu_map)
VM_EXPORT(ferry_vfastgelu_f32, vfastgelu_map)
