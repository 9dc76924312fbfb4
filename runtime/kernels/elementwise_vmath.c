/*
 * elementwise_vmath.c - float32 exp, tanh, erf, sigmoid and gelu over
 * arrays, four lanes at a time with simd.h vectors (SSE natively, SIMD128
 * in wasm). Each function has a vector body and reuses it for the tail
 * through a padded 4-element buffer, so tail and body agree bit for bit.
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
#include "simd.h"

/* lane masks: all ones where true (vector comparisons give 0 / -1) */
static inline i32x4 lt(f32x4 a, f32x4 b) { return (i32x4)(a < b); }
static inline i32x4 isnan4(f32x4 a) { return (i32x4)(a != a); }
static inline f32x4 sel(i32x4 m, f32x4 a, f32x4 b) { return (f32x4)(((i32x4)a & m) | ((i32x4)b & ~m)); }
/* min/max that return the bound for NaN lanes (callers restore NaN) */
static inline f32x4 vmin(f32x4 a, f32x4 b) { return sel(lt(a, b), a, b); }
static inline f32x4 vmax(f32x4 a, f32x4 b) { return sel(lt(b, a), a, b); }
static inline f32x4 splat(float x) { return f32x4_splat(x); }

static inline f32x4 exp4(f32x4 x) {
  const f32x4 magic = splat(12582912.0f); /* 1.5 * 2^23: adding it rounds to an integer */
  f32x4 xc = vmin(vmax(x, splat(-104.0f)), splat(89.0f));
  f32x4 t = xc * splat(1.44269504088896341f) + magic;
  i32x4 n = (i32x4)t - (i32x4)magic;
  f32x4 nf = t - magic;
  f32x4 r = xc - nf * splat(0.693359375f);
  r = r - nf * splat(-2.12194440e-4f);
  f32x4 p = splat(1.9875691500e-4f);
  p = p * r + splat(1.3981999507e-3f);
  p = p * r + splat(8.3334519073e-3f);
  p = p * r + splat(4.1665795894e-2f);
  p = p * r + splat(1.6666665459e-1f);
  p = p * r + splat(5.0000001201e-1f);
  f32x4 y = p * r * r + r + splat(1.0f);
  i32x4 n1 = n >> 1, n2 = n - n1; /* each in [-75, 64]: 2^n1, 2^n2 are normal */
  y = y * (f32x4)((n1 + 127) << 23) * (f32x4)((n2 + 127) << 23);
  return sel(isnan4(x), x, y);
}

static inline f32x4 abs4(f32x4 x) { return (f32x4)((i32x4)x & ~(i32x4)splat(-0.0f)); }
static inline f32x4 copysign4(f32x4 mag, f32x4 sgn) {
  return (f32x4)((i32x4)mag | ((i32x4)sgn & (i32x4)splat(-0.0f)));
}

static inline f32x4 tanh4(f32x4 x) {
  f32x4 ax = abs4(x), z = x * x;
  f32x4 ps = splat(-5.70498872745e-3f);
  ps = ps * z + splat(2.06390887954e-2f);
  ps = ps * z + splat(-5.37397155531e-2f);
  ps = ps * z + splat(1.33314422036e-1f);
  ps = ps * z + splat(-3.33332819422e-1f);
  ps = ps * z * x + x;
  f32x4 e = exp4(splat(2.0f) * vmin(ax, splat(10.0f))); /* tanh > 1 - 2^-25 beyond 9.1 */
  f32x4 pl = splat(1.0f) - splat(2.0f) / (e + splat(1.0f));
  f32x4 y = copysign4(abs4(sel(lt(ax, splat(0.625f)), ps, pl)), x); /* odd, also at -0 */
  return sel(isnan4(x), x, y);
}

static inline f32x4 erf4(f32x4 x) {
  f32x4 xc = vmin(vmax(x, splat(-4.0f)), splat(4.0f)), z = xc * xc;
  f32x4 p = splat(-2.72614225801306e-10f);
  p = p * z + splat(2.77068142495902e-08f);
  p = p * z + splat(-2.10102402082508e-06f);
  p = p * z + splat(-5.69250639462346e-05f);
  p = p * z + splat(-7.34990630326855e-04f);
  p = p * z + splat(-2.95459980854025e-03f);
  p = p * z + splat(-1.60960333262415e-02f);
  f32x4 q = splat(-1.45660718464996e-05f);
  q = q * z + splat(-2.13374055278905e-04f);
  q = q * z + splat(-1.68282697438203e-03f);
  q = q * z + splat(-7.37332916720468e-03f);
  q = q * z + splat(-1.42647390514189e-02f);
  f32x4 y = vmin(vmax(xc * p / q, splat(-1.0f)), splat(1.0f));
  return sel(isnan4(x), x, y);
}

static inline f32x4 sigmoid4(f32x4 x) { return splat(1.0f) / (splat(1.0f) + exp4(-x)); }

/* Both gelus are -0 below -20 (the exact values underflow), which also
 * keeps -inf from giving -inf * 0. */
static inline f32x4 gelu4(f32x4 x) {
  f32x4 y = splat(0.5f) * x * (splat(1.0f) + erf4(x * splat(0.70710678118654752f)));
  return sel(lt(x, splat(-20.0f)), splat(-0.0f), y);
}

static inline f32x4 fastgelu4(f32x4 x) {
  /* 2u = x (2 sqrt(2/pi) + 2 * 0.044715 sqrt(2/pi) x^2) */
  f32x4 u2 = x * (splat(1.5957691216057308f) + splat(0.0713548162726009f) * x * x);
  f32x4 y = x / (splat(1.0f) + exp4(-u2));
  return sel(lt(x, splat(-20.0f)), splat(-0.0f), sel(isnan4(x), x, y));
}

/* y[0..n) = f(x[0..n)) with a padded tail. */
#define VMAP(name, f4)                                          \
  void name(const float *x, float *y, int64_t n) {              \
    int64_t i = 0;                                              \
    for (; i + 4 <= n; i += 4) f32x4_store(y + i, f4(f32x4_load(x + i))); \
    if (i < n) {                                                \
      float t[4] = {0, 0, 0, 0};                                \
      for (int64_t j = i; j < n; j++) t[j - i] = x[j];          \
      f32x4_store(t, f4(f32x4_load(t)));                        \
      for (int64_t j = i; j < n; j++) y[j] = t[j - i];          \
    }                                                           \
  }

VMAP(ferry_vexp_f32, exp4)
VMAP(ferry_vtanh_f32, tanh4)
VMAP(ferry_verf_f32, erf4)
VMAP(ferry_vsigmoid_f32, sigmoid4)
VMAP(ferry_vgelu_f32, gelu4)
VMAP(ferry_vfastgelu_f32, fastgelu4)
