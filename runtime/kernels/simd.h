/*
 * simd.h - portable vector types for kernels: GCC/clang vector extensions
 * compile to SSE/AVX natively and to SIMD128 with clang --target=wasm32
 * -msimd128, from one source. Loads and stores go through memcpy so
 * unaligned pointers are fine (compilers turn it into one instruction).
 */
#ifndef FERRY_SIMD_H
#define FERRY_SIMD_H

#include <string.h>

/* 1 in the wasm builds, 0 natively: for choices made by measurement per
 * target (what V8 runs well is not always what x86 runs well). */
#if defined(__wasm__)
#define FERRY_IN_WASM 1
#else
#define FERRY_IN_WASM 0
#endif

/* Small vector helpers must inline (GCC at -O2 may otherwise call them,
 * passing vectors through memory): FERRY_VINLINE forces it. So must every
 * helper of a kernel built twice, plainly and as target("avx2") (conv_dw.h,
 * conv_winograd_tf.h, ...): an ordinary function is SSE code, and GCC calls
 * it from the AVX2 copy with the upper halves of the ymm registers dirty
 * (no vzeroupper): on the Zen 3 measured (docs/kernels.md) such a call
 * cost hundreds of cycles, and Intel documents a penalty for mixing SSE
 * and dirty AVX state too. FERRY_AVX_HELPER says so. */
#define FERRY_VINLINE static inline __attribute__((always_inline))
#define FERRY_AVX_HELPER FERRY_VINLINE

/* Before a loop of constant trip count (a few vectors at a time): unroll
 * it fully, so its vectors stay in registers (clang would leave some loops
 * rolled; GCC -O2 unrolls none unasked). */
#if defined(__clang__)
#define FERRY_UNROLL_FULL _Pragma("clang loop unroll(full)")
#else
#define FERRY_UNROLL_FULL _Pragma("GCC unroll 16")
#endif

/* a * b + c on float vectors: f32x4.relaxed_madd in the relaxed-SIMD wasm
 * build (ferry-relaxed.wasm; wasm vectors are always f32x4), else a
 * multiply and an add (one FMA where the function targets FMA: fp-contract) */
#if defined(__wasm_relaxed_simd__)
#define FERRY_VMADD(a, b, c) __builtin_wasm_relaxed_madd_f32x4((a), (b), (c))
#else
#define FERRY_VMADD(a, b, c) ((a) * (b) + (c))
#endif

/* a < b ? b : a and b < a ? b : a on float vectors of any width (a NaN
 * in a passes through, one in b gives a). In wasm they are f32x4.pmax
 * and f32x4.pmin, one instruction each in V8: clang turns a compare-select
 * against a constant into f32x4.max / min instead, which V8 expands into
 * eight instructions to order NaNs and signed zeros its way. */
#if defined(__wasm__)
#define FERRY_VPMAX(a, b) __builtin_wasm_pmax_f32x4((a), (b))
#define FERRY_VPMIN(a, b) __builtin_wasm_pmin_f32x4((a), (b))
#elif defined(__x86_64__)
/* x86's maxps / minps return their second operand unless the first is
 * greater / less, which is the order above: one instruction, where the
 * compare-select is two that compilers do not merge. f32x8 only inside
 * functions that target AVX (every 8-lane kernel is one). */
typedef float ferry_f32x8_ __attribute__((vector_size(32)));
typedef float ferry_f32x4_ __attribute__((vector_size(16)));
FERRY_VINLINE ferry_f32x4_ ferry_vpmax4_(ferry_f32x4_ a, ferry_f32x4_ b) { return __builtin_ia32_maxps(b, a); }
FERRY_VINLINE ferry_f32x4_ ferry_vpmin4_(ferry_f32x4_ a, ferry_f32x4_ b) { return __builtin_ia32_minps(b, a); }
__attribute__((target("avx"))) FERRY_VINLINE ferry_f32x8_ ferry_vpmax8_(ferry_f32x8_ a, ferry_f32x8_ b) {
  return __builtin_ia32_maxps256(b, a);
}
__attribute__((target("avx"))) FERRY_VINLINE ferry_f32x8_ ferry_vpmin8_(ferry_f32x8_ a, ferry_f32x8_ b) {
  return __builtin_ia32_minps256(b, a);
}
#define FERRY_VPMAX(a, b) _Generic((a), ferry_f32x8_: ferry_vpmax8_, default: ferry_vpmax4_)((a), (b))
#define FERRY_VPMIN(a, b) _Generic((a), ferry_f32x8_: ferry_vpmin8_, default: ferry_vpmin4_)((a), (b))
#else
#define FERRY_VSEL_(m, x, y) ((__typeof__(x))(((m) & (__typeof__(m))(x)) | (~(m) & (__typeof__(m))(y))))
#define FERRY_VPMAX(a, b)                       \
  __extension__({                               \
    __typeof__(a) pa_ = (a), pb_ = (b);         \
    FERRY_VSEL_(pa_ < pb_, pb_, pa_);           \
  })
#define FERRY_VPMIN(a, b)                       \
  __extension__({                               \
    __typeof__(a) pa_ = (a), pb_ = (b);         \
    FERRY_VSEL_(pb_ < pa_, pb_, pa_);           \
  })
#endif

/* In wasm, an f32x4 loaded from p + off bytes (FERRY_VLOAD_AT), or the
 * float there in every lane (FERRY_VSPLAT_AT), off a constant once loops
 * are unrolled. clang keeps p + off as an i32.add before the load (it
 * cannot prove that the add does not wrap, so it never folds it into the
 * load's offset field), and V8 spends a lea and a zero extension on each;
 * written as wasm text (clang's inline asm takes wasm instructions and v128
 * operands) the offset is the load's own, and V8 addresses it from a base
 * register. The "m" operand tells the compiler which memory the text
 * reads (without it, clang takes the asm for a pure function of p and may
 * move it past a store to that memory, or merge two of them across one).
 * off must be a constant by the time the code is generated: in unrolled
 * loops, that is at -O1 and up (the wasm builds use -O3). */
#if defined(__wasm__)
typedef float ferry_v128_ __attribute__((vector_size(16)));
#define FERRY_VLOAD_AT(p, off)                                                                         \
  __extension__({                                                                                      \
    ferry_v128_ v_;                                                                                    \
    __asm__("local.get %1\n\tv128.load %2:p2align=2\n\tlocal.set %0"                                   \
            : "=r"(v_)                                                                                 \
            : "r"(p), "i"(off), "m"(*(const ferry_v128_ *)(const void *)((const char *)(p) + (off)))); \
    v_;                                                                                                \
  })
#define FERRY_VSPLAT_AT(p, off)                                                                  \
  __extension__({                                                                                \
    ferry_v128_ v_;                                                                              \
    __asm__("local.get %1\n\tv128.load32_splat %2\n\tlocal.set %0"                               \
            : "=r"(v_)                                                                           \
            : "r"(p), "i"(off), "m"(*(const float *)(const void *)((const char *)(p) + (off)))); \
    v_;                                                                                          \
  })
#endif

/* x * c rounded to the nearest integer, ties to even, for |x c| < 2^22,
 * on float vectors of any width: wasm's f32x4.nearest after the multiply
 * (two operations on a dependency chain), elsewhere a multiply-add of
 * 1.5 * 2^23 and its subtraction (one FMA and a subtraction with AVX2). */
#if defined(__wasm__)
#define FERRY_VROUND_MUL(x, c) __builtin_wasm_nearest_f32x4((x) * (c))
#else
#define FERRY_VROUND_MUL(x, c) (((x) * (c) + 12582912.0f) - 12582912.0f)
#endif

typedef float f32x4 __attribute__((vector_size(16)));
typedef int i32x4 __attribute__((vector_size(16)));

FERRY_VINLINE f32x4 f32x4_load(const float *p) {
  f32x4 v;
  memcpy(&v, p, sizeof v);
  return v;
}
FERRY_VINLINE void f32x4_store(float *p, f32x4 v) { memcpy(p, &v, sizeof v); }
FERRY_VINLINE f32x4 f32x4_splat(float x) { return (f32x4){x, x, x, x}; }
FERRY_VINLINE f32x4 f32x4_max(f32x4 a, f32x4 b) { /* C has no vector ?: */
  i32x4 m = (i32x4)(a > b);
  return (f32x4)((m & (i32x4)a) | (~m & (i32x4)b));
}
FERRY_VINLINE f32x4 f32x4_min(f32x4 a, f32x4 b) {
  i32x4 m = (i32x4)(a < b);
  return (f32x4)((m & (i32x4)a) | (~m & (i32x4)b));
}

/* r[i][l] -> r[l][i]: a 4x4 transpose in registers (rows become columns). */
FERRY_VINLINE void f32x4_transpose(f32x4 *r) {
  f32x4 t0 = __builtin_shufflevector(r[0], r[1], 0, 4, 1, 5), t1 = __builtin_shufflevector(r[0], r[1], 2, 6, 3, 7);
  f32x4 t2 = __builtin_shufflevector(r[2], r[3], 0, 4, 1, 5), t3 = __builtin_shufflevector(r[2], r[3], 2, 6, 3, 7);
  r[0] = __builtin_shufflevector(t0, t2, 0, 1, 4, 5), r[1] = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
  r[2] = __builtin_shufflevector(t1, t3, 0, 1, 4, 5), r[3] = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
}

/* d[0..n) = 0 and d[0..n) = s[0..n) (not overlapping) for the short runs
 * of kernels' padding and packing: inline f32x4 stores. A memset or
 * memcpy there is, in wasm, memory.fill / memory.copy: a call out of the
 * module into the engine, costlier than a few floats (with these and
 * clang's loop idioms off, PaddleOCR det in ferry.wasm 116 -> 111 ms:
 * docs/kernels.md). */
FERRY_VINLINE void f32_zero(float *d, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) f32x4_store(d + i, (f32x4){0});
  for (; i < n; i++) d[i] = 0;
}
FERRY_VINLINE void f32_copy(float *d, const float *s, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) f32x4_store(d + i, f32x4_load(s + i));
  for (; i < n; i++) d[i] = s[i];
}

#endif
