/*
 * vmath_body.h - the vector bodies of elementwise_vmath.c, written once
 * and included once per instruction set (like conv_dw.h): the generic
 * build (f32x4: SSE natively, SIMD128 in wasm) and, on x86-64, again
 * inside `target("avx2,fma")` functions with f32x8.
 *
 * elementwise_vmath.c defines before including:
 *   VM_V, VM_I, VM_VL  the float and int32 vectors and their lanes
 *   VM_ATTR            attributes of every function here
 *   VM_FN(name)        the function's name for this variant
 * and gets VM_FN(vexp_map) ... VM_FN(vfastgelu_map): y[0..n) = f(x[0..n)).
 */

VM_ATTR static inline __attribute__((always_inline)) VM_V VM_FN(load)(const float *p) {
  VM_V v;
  memcpy(&v, p, sizeof v);
  return v;
}
VM_ATTR static inline __attribute__((always_inline)) void VM_FN(store)(float *p, VM_V v) { memcpy(p, &v, sizeof v); }

/* lane masks: all ones where true (vector comparisons give 0 / -1) */
VM_ATTR static inline __attribute__((always_inline)) VM_I VM_FN(lt)(VM_V a, VM_V b) { return (VM_I)(a < b); }
VM_ATTR static inline __attribute__((always_inline)) VM_I VM_FN(isnan4)(VM_V a) { return (VM_I)(a != a); }
VM_ATTR static inline __attribute__((always_inline)) VM_V VM_FN(sel)(VM_I m, VM_V a, VM_V b) { return (VM_V)(((VM_I)a & m) | ((VM_I)b & ~m)); }
/* min/max that return the bound b for NaN lanes (callers restore NaN):
 * a < b ? a : b and b < a ? a : b, one f32x4.pmin / pmax in wasm */
VM_ATTR static inline __attribute__((always_inline)) VM_V VM_FN(vmin)(VM_V a, VM_V b) { return FERRY_VPMIN(b, a); }
VM_ATTR static inline __attribute__((always_inline)) VM_V VM_FN(vmax)(VM_V a, VM_V b) { return FERRY_VPMAX(b, a); }
VM_ATTR static inline __attribute__((always_inline)) VM_V VM_FN(splat)(float x) {
  return ((VM_V){0} + 1.0f) * x; /* not 0 + x: -0 stays -0 (the sign masks) */
}

/* e^r, r = x - n ln2 with n = round(x log2 e) (*nf), for an x already
 * clamped: Cephes' polynomial by Estrin's scheme (exp4 and exp4c scale it
 * by 2^n each their way). */
VM_ATTR static inline __attribute__((always_inline)) VM_V VM_FN(exp_r)(VM_V xc, VM_V *nf) {
  VM_V n = FERRY_VROUND_MUL(xc, VM_FN(splat)(1.44269504088896341f));
  VM_V r = FERRY_VMADD(n, VM_FN(splat)(-0.693359375f), xc) + n * VM_FN(splat)(2.12194440e-4f);
  VM_V r2 = r * r;
  VM_V a = FERRY_VMADD(r, VM_FN(splat)(1.6666665459e-1f), VM_FN(splat)(5.0000001201e-1f));
  VM_V b = FERRY_VMADD(r, VM_FN(splat)(8.3334519073e-3f), VM_FN(splat)(4.1665795894e-2f));
  VM_V c = FERRY_VMADD(r, VM_FN(splat)(1.9875691500e-4f), VM_FN(splat)(1.3981999507e-3f));
  VM_V p = FERRY_VMADD(r2, FERRY_VMADD(r2, c, b), a);
  *nf = n;
  return FERRY_VMADD(p, r2, r + VM_FN(splat)(1.0f));
}

/* exp as in nn_exp.h (x = n ln2 + r, Cephes' polynomial by Estrin's
 * scheme, n rounded by FERRY_VROUND_MUL: a short dependency chain), over the
 * whole float range: x clamped to [-104, 89] and 2^n applied as two
 * normal factors 2^n1 2^n2, so results below FLT_MIN come out subnormal
 * and those above FLT_MAX infinite; NaN stays NaN. */
VM_ATTR static inline __attribute__((always_inline)) VM_V VM_FN(exp4)(VM_V x) {
  const VM_V magic = VM_FN(splat)(12582912.0f); /* 1.5 * 2^23: n + magic holds n in its low bits */
  VM_V nf, y = VM_FN(exp_r)(VM_FN(vmin)(VM_FN(vmax)(x, VM_FN(splat)(-104.0f)), VM_FN(splat)(89.0f)), &nf);
  VM_I n = (VM_I)(nf + magic) - (VM_I)magic;
  VM_I n1 = n >> 1, n2 = n - n1; /* each in [-75, 64]: 2^n1, 2^n2 are normal */
  y = y * (VM_V)((n1 + 127) << 23) * (VM_V)((n2 + 127) << 23);
  return VM_FN(sel)(VM_FN(isnan4)(x), x, y);
}

typedef unsigned VM_FN(u32v) __attribute__((vector_size(sizeof(VM_V))));

/* exp for callers that bound or select around its range ends (tanh's
 * argument is at most 20; FastGelu's output is -0 below x = -20): x
 * clamped to [-88, 88] and 2^n as one factor, as nn_exp.h's (below about
 * -87.7 exactly 0, no subnormals); NaN in, NaN out. Five operations fewer
 * than exp4 and no select: GPT-tiny in ferry-relaxed.wasm about 1% faster. */
VM_ATTR static inline __attribute__((always_inline)) VM_V VM_FN(exp4c)(VM_V x) {
  VM_V nf, y = VM_FN(exp_r)(VM_FN(vmin)(VM_FN(vmax)(x, VM_FN(splat)(-88.0f)), VM_FN(splat)(88.0f)), &nf);
  VM_V t = nf + VM_FN(splat)(12582912.0f + 127.0f); /* n + 127 in the low bits */
  return y * (VM_V)(((VM_FN(u32v))t) << 23);      /* unsigned: the high bits shift out */
}

VM_ATTR static inline __attribute__((always_inline)) VM_V VM_FN(abs4)(VM_V x) { return (VM_V)((VM_I)x & ~(VM_I)VM_FN(splat)(-0.0f)); }
VM_ATTR static inline __attribute__((always_inline)) VM_V VM_FN(copysign4)(VM_V mag, VM_V sgn) {
  return (VM_V)((VM_I)mag | ((VM_I)sgn & (VM_I)VM_FN(splat)(-0.0f)));
}

VM_ATTR static inline __attribute__((always_inline)) VM_V VM_FN(tanh4)(VM_V x) {
  VM_V ax = VM_FN(abs4)(x), z = x * x, z2 = z * z; /* the small-|x| polynomial by Estrin's scheme */
  VM_V pa = FERRY_VMADD(z, VM_FN(splat)(1.33314422036e-1f), VM_FN(splat)(-3.33332819422e-1f));
  VM_V pb = FERRY_VMADD(z, VM_FN(splat)(2.06390887954e-2f), VM_FN(splat)(-5.37397155531e-2f));
  VM_V ps = FERRY_VMADD(z2, FERRY_VMADD(z2, VM_FN(splat)(-5.70498872745e-3f), pb), pa);
  ps = ps * z * x + x;
  VM_V e = VM_FN(exp4c)(VM_FN(splat)(2.0f) * VM_FN(vmin)(ax, VM_FN(splat)(10.0f))); /* tanh > 1 - 2^-25 beyond 9.1 */
  VM_V pl = VM_FN(splat)(1.0f) - VM_FN(splat)(2.0f) / (e + VM_FN(splat)(1.0f));
  VM_V y = VM_FN(copysign4)(VM_FN(abs4)(VM_FN(sel)(VM_FN(lt)(ax, VM_FN(splat)(0.625f)), ps, pl)), x); /* odd, also at -0 */
  return VM_FN(sel)(VM_FN(isnan4)(x), x, y);
}

VM_ATTR static inline __attribute__((always_inline)) VM_V VM_FN(erf4)(VM_V x) {
  VM_V xc = VM_FN(vmin)(VM_FN(vmax)(x, VM_FN(splat)(-4.0f)), VM_FN(splat)(4.0f)), z = xc * xc;
  VM_V z2 = z * z, z4 = z2 * z2; /* both polynomials by Estrin's scheme */
  VM_V p0 = FERRY_VMADD(z, VM_FN(splat)(-2.95459980854025e-03f), VM_FN(splat)(-1.60960333262415e-02f));
  VM_V p1 = FERRY_VMADD(z, VM_FN(splat)(-5.69250639462346e-05f), VM_FN(splat)(-7.34990630326855e-04f));
  VM_V p2 = FERRY_VMADD(z, VM_FN(splat)(2.77068142495902e-08f), VM_FN(splat)(-2.10102402082508e-06f));
  VM_V p = FERRY_VMADD(z4, FERRY_VMADD(z2, VM_FN(splat)(-2.72614225801306e-10f), p2), FERRY_VMADD(z2, p1, p0));
  VM_V q0 = FERRY_VMADD(z, VM_FN(splat)(-7.37332916720468e-03f), VM_FN(splat)(-1.42647390514189e-02f));
  VM_V q1 = FERRY_VMADD(z, VM_FN(splat)(-2.13374055278905e-04f), VM_FN(splat)(-1.68282697438203e-03f));
  VM_V q = FERRY_VMADD(z4, VM_FN(splat)(-1.45660718464996e-05f), FERRY_VMADD(z2, q1, q0));
  VM_V y = VM_FN(vmin)(VM_FN(vmax)(xc * p / q, VM_FN(splat)(-1.0f)), VM_FN(splat)(1.0f));
  return VM_FN(sel)(VM_FN(isnan4)(x), x, y);
}

VM_ATTR static inline __attribute__((always_inline)) VM_V VM_FN(sigmoid4)(VM_V x) { return VM_FN(splat)(1.0f) / (VM_FN(splat)(1.0f) + VM_FN(exp4)(-x)); }

/* Both gelus are -0 below -20 (the exact values underflow), which also
 * keeps -inf from giving -inf * 0. */
VM_ATTR static inline __attribute__((always_inline)) VM_V VM_FN(gelu4)(VM_V x) {
  VM_V y = VM_FN(splat)(0.5f) * x * (VM_FN(splat)(1.0f) + VM_FN(erf4)(x * VM_FN(splat)(0.70710678118654752f)));
  return VM_FN(sel)(VM_FN(lt)(x, VM_FN(splat)(-20.0f)), VM_FN(splat)(-0.0f), y);
}

VM_ATTR static inline __attribute__((always_inline)) VM_V VM_FN(fastgelu4)(VM_V x) {
  /* 2u = x (2 sqrt(2/pi) + 2 * 0.044715 sqrt(2/pi) x^2) */
  VM_V u2 = x * (VM_FN(splat)(1.5957691216057308f) + VM_FN(splat)(0.0713548162726009f) * x * x);
  VM_V y = x / (VM_FN(splat)(1.0f) + VM_FN(exp4c)(-u2));
  return VM_FN(sel)(VM_FN(lt)(x, VM_FN(splat)(-20.0f)), VM_FN(splat)(-0.0f), VM_FN(sel)(VM_FN(isnan4)(x), x, y));
}

/* Vectors per step of VMAP's main loop: four f32x4 (V8 schedules little
 * itself; the functions are long dependency chains: GPT-tiny's FastGelu
 * in ferry-relaxed.wasm 1.24 -> 1.21 ms a run, in ferry.wasm 1.50 -> 1.46),
 * one f32x8 (AVX2 reorders on its own). */
#define VM_STEP (VM_VL == 4 ? 4 : 1)

/* y[0..n) = f(x[0..n)) with a padded tail. */
#define VMAP(name, f4)                                          \
  VM_ATTR static void VM_FN(name)(const float *x, float *y, int64_t n) { \
    int64_t i = 0;                                              \
    for (; i + VM_STEP * VM_VL <= n; i += VM_STEP * VM_VL) {    \
      VM_V v[VM_STEP];                                          \
      FERRY_UNROLL_FULL for (int k = 0; k < VM_STEP; k++) v[k] = VM_FN(f4)(VM_FN(load)(x + i + k * VM_VL)); \
      FERRY_UNROLL_FULL for (int k = 0; k < VM_STEP; k++) VM_FN(store)(y + i + k * VM_VL, v[k]); \
    }                                                           \
    for (; i + VM_VL <= n; i += VM_VL) VM_FN(store)(y + i, VM_FN(f4)(VM_FN(load)(x + i))); \
    if (i < n) {                                                \
      float t[VM_VL] = {0};                                     \
      for (int64_t j = i; j < n; j++) t[j - i] = x[j];          \
      VM_FN(store)(t, VM_FN(f4)(VM_FN(load)(t)));                        \
      for (int64_t j = i; j < n; j++) y[j] = t[j - i];          \
    }                                                           \
  }

VMAP(vexp_map, exp4)
VMAP(vtanh_map, tanh4)
VMAP(verf_map, erf4)
VMAP(vsigmoid_map, sigmoid4)
VMAP(vgelu_map, gelu4)
VMAP(vfastgelu_map, fastgelu4)
#undef VMAP
