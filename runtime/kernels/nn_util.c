/*
 * nn_util.c - helpers the nn*.c kernel files share (declared in nn.h):
 *   - outputs and scratch: ferry_nn_out() shapes or checks an output,
 *     ferry_nn_scratch() reports out-of-memory;
 *   - the generic (non-float32) path of most nn kernels: a tensor loaded
 *     as doubles, the result stored back into any dtype with safe integer
 *     conversion;
 *   - float32 row primitives on simd.h vectors (max/min that propagate
 *     NaN, sums, a vector exp for softmax-style sums - nn_exp.h, generic
 *     and AVX2 - and moments).
 */
#include <math.h>
#include <string.h>

#include "gemm.h"
#include "nn.h"
#include "simd.h"
#include "util.h"

typedef unsigned int u32x4 __attribute__((vector_size(16)));

/* ---- outputs, scratch, loads and stores ---- */

int ferry_nn_out(ferry_kctx *k, int i, int dtype, int rank, const int64_t *dims) {
  if (i >= k->n_out) return FERRY_OK;
  ferry_tview *o = &k->out[i];
  int64_t n = ferry_nn_prod(dims, 0, rank);
  if (!o->data) {
    int rc = k->set_output(k, i, dtype, rank, dims);
    if (rc) return rc;
    if (!o->data && n > 0) return ferry_kernel_fail(k, "cannot allocate output %d", i);
    return FERRY_OK;
  }
  if (o->numel != n)
    return ferry_kernel_fail(k, "output %d has %lld elements, the kernel computes %lld", i, (long long)o->numel,
                             (long long)n);
  return FERRY_OK;
}

void *ferry_nn_scratch(ferry_kctx *k, int64_t n, size_t size) {
  if (n < 0 || (uint64_t)n > SIZE_MAX / size - 1) { /* size_t is 32 bits on wasm32 */
    ferry_kernel_fail(k, "scratch of %lld elements is too large", (long long)n);
    return NULL;
  }
  void *p = k->scratch(k, n ? (size_t)n * size : 1);
  if (!p) ferry_kernel_fail(k, "out of memory (%lld elements of scratch)", (long long)n);
  return p;
}

double *ferry_nn_load(ferry_kctx *k, const ferry_tview *t) {
  double *v = ferry_nn_scratch(k, t->numel, sizeof(double));
  if (!v) return NULL;
  if (t->dtype == FERRY_F32) {
    const float *x = t->data;
    for (int64_t i = 0; i < t->numel; i++) v[i] = x[i];
  } else {
    for (int64_t i = 0; i < t->numel; i++) v[i] = ferry_load_f64(t->data, t->dtype, i);
  }
  return v;
}

int64_t ferry_nn_to_i64(double v) {
  if (v != v) return 0;
  if (v >= 9.2233720368547758e18) return INT64_MAX;
  if (v <= -9.2233720368547758e18) return INT64_MIN;
  return (int64_t)v;
}

/* The value range of an integer dtype (as doubles for clamping). */
static void int_range(int dt, double *lo, double *hi) {
  switch (dt) {
  case FERRY_I8: *lo = -128, *hi = 127; break;
  case FERRY_U8: *lo = 0, *hi = 255; break;
  case FERRY_I16: *lo = -32768, *hi = 32767; break;
  case FERRY_U16: *lo = 0, *hi = 65535; break;
  case FERRY_I32: *lo = -2147483648.0, *hi = 2147483647.0; break;
  case FERRY_U32: *lo = 0, *hi = 4294967295.0; break;
  case FERRY_U64: *lo = 0, *hi = 1.8446744073709552e19; break;
  case FERRY_BOOL: *lo = 0, *hi = 1; break;
  default: *lo = -9.2233720368547758e18, *hi = 9.2233720368547758e18; break;
  }
}

void ferry_nn_store(ferry_tview *t, const double *v, int64_t n) {
  if (t->dtype == FERRY_F32) {
    float *y = t->data;
    for (int64_t i = 0; i < n; i++) y[i] = (float)v[i];
    return;
  }
  if (ferry_dtype_is_float(t->dtype)) {
    for (int64_t i = 0; i < n; i++) ferry_store_f64(t->data, t->dtype, i, v[i]);
    return;
  }
  double lo, hi;
  int_range(t->dtype, &lo, &hi);
  for (int64_t i = 0; i < n; i++) {
    double x = v[i] != v[i] ? 0 : v[i] < lo ? lo : v[i] > hi ? hi : v[i];
    if (t->dtype == FERRY_BOOL) x = v[i] != 0;
    if (t->dtype == FERRY_U64 && x >= 9.2233720368547758e18)
      ((uint64_t *)t->data)[i] = x >= 1.8446744073709552e19 ? UINT64_MAX : (uint64_t)x;
    else
      ferry_store_i64(t->data, t->dtype, i, ferry_nn_to_i64(x));
  }
}

int64_t ferry_nn_prod(const int64_t *dims, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; i++) p *= dims[i];
  return p;
}

int64_t ferry_nn_int_at(const ferry_tview *t, int64_t i, int64_t dflt) {
  if (!t || !t->data || i >= t->numel) return dflt;
  return ferry_load_i64(t->data, t->dtype, i);
}


double ferry_nn_attr_num(ferry_kctx *k, const char *name, double dflt) {
  ferry_attrv a;
  if (!ferry_attr_get(k->sctx, name, &a)) return dflt;
  return a.type == 1 ? (double)a.f : a.type == 2 ? (double)a.i : dflt;
}

/* ---- float32 row primitives ---- */

/* Lanes of a where mask m is set, else of b (C has no vector ?:). */
static inline f32x4 vsel(i32x4 m, f32x4 a, f32x4 b) { return (f32x4)((m & (i32x4)a) | (~m & (i32x4)b)); }

/* NaN-propagating lane min: take v when it is smaller or NaN (the max is in nn_exp.h). */
static inline f32x4 vmin_nan(f32x4 m, f32x4 v) { return vsel((v < m) | (v != v), v, m); }
static inline float smin_nan(float m, float v) { return v < m || v != v ? v : m; }


float ferry_nn_min_f32(const float *x, int64_t n) {
  float m = INFINITY;
  int64_t i = 0;
  if (n >= 8) {
    f32x4 a = f32x4_load(x), b = f32x4_load(x + 4);
    for (i = 8; i + 8 <= n; i += 8) a = vmin_nan(a, f32x4_load(x + i)), b = vmin_nan(b, f32x4_load(x + i + 4));
    a = vmin_nan(a, b);
    for (int l = 0; l < 4; l++) m = smin_nan(m, a[l]);
  }
  for (; i < n; i++) m = smin_nan(m, x[i]);
  return m;
}

static inline float hsum(f32x4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }

/* The reductions keep four partial sums: one add's latency a vector
 * would otherwise set the pace (V8 does not reassociate; LayerNorm rows of
 * 128 in BERT-tiny). */
float ferry_nn_sum_f32(const float *x, int64_t n) {
  f32x4 a = f32x4_splat(0), b = a, c = a, d = a;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    a += f32x4_load(x + i), b += f32x4_load(x + i + 4), c += f32x4_load(x + i + 8), d += f32x4_load(x + i + 12);
  for (; i + 4 <= n; i += 4) a += f32x4_load(x + i);
  float s = hsum((a + b) + (c + d));
  for (; i < n; i++) s += x[i];
  return s;
}

float ferry_nn_sumsq_f32(const float *x, int64_t n) {
  f32x4 a = f32x4_splat(0), b = a;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    f32x4 u = f32x4_load(x + i), v = f32x4_load(x + i + 4);
    a += u * u, b += v * v;
  }
  float s = hsum(a + b);
  for (; i < n; i++) s += x[i] * x[i];
  return s;
}

float ferry_nn_sumabs_f32(const float *x, int64_t n) {
  f32x4 a = f32x4_splat(0);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    f32x4 u = f32x4_load(x + i);
    a += vsel(u < 0, -u, u);
  }
  float s = hsum(a);
  for (; i < n; i++) s += fabsf(x[i]);
  return s;
}

float ferry_nn_prod_f32(const float *x, int64_t n) {
  f32x4 a = f32x4_splat(1);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) a *= f32x4_load(x + i);
  float p = (a[0] * a[1]) * (a[2] * a[3]);
  for (; i < n; i++) p *= x[i];
  return p;
}

/* The exp sum, once per instruction set (nn_exp.h). */
#define NX_V f32x4
#define NX_I i32x4
#define NX_U u32x4
#define NX_VL 4
#define NX_ATTR
#define NX_FN(name) name##_generic
#include "nn_exp.h"
#undef NX_V
#undef NX_I
#undef NX_U
#undef NX_VL
#undef NX_ATTR
#undef NX_FN
#if defined(__x86_64__) && !defined(__AVX2__)
typedef float nx_f32x8 __attribute__((vector_size(32)));
typedef int nx_i32x8 __attribute__((vector_size(32)));
typedef unsigned int nx_u32x8 __attribute__((vector_size(32)));
#define NX_V nx_f32x8
#define NX_I nx_i32x8
#define NX_U nx_u32x8
#define NX_VL 8
#define NX_ATTR __attribute__((target("avx2,fma")))
#define NX_FN(name) name##_avx2
#include "nn_exp.h"
#undef NX_V
#undef NX_I
#undef NX_U
#undef NX_VL
#undef NX_ATTR
#undef NX_FN
#endif

float ferry_nn_max_f32(const float *x, int64_t n) {
#if defined(__x86_64__) && !defined(__AVX2__)
  if (ferry_simd_avx2()) return row_max_avx2(x, n);
#endif
  return row_max_generic(x, n);
}

float ferry_nn_exp_sum_f32(float *y, const float *x, int64_t n, float shift) {
#if defined(__x86_64__) && !defined(__AVX2__)
  if (ferry_simd_avx2()) return exp_sum_avx2(y, x, n, shift);
#endif
  return exp_sum_generic(y, x, n, shift);
}

void ferry_nn_softmax_cols_f32(float *s, int64_t n, int w, const int32_t *lo, const int32_t *hi, float *mx,
                               float *inv) {
#if defined(__x86_64__) && !defined(__AVX2__)
  if (ferry_simd_avx2() && w % 16 == 0) return softmax_cols_avx2(s, n, w, lo, hi, mx, inv);
#endif
  softmax_cols_generic(s, n, w, lo, hi, mx, inv);
}

void ferry_nn_affine_f32(float *y, const float *x, int64_t n, float a, float b) {
  f32x4 va = f32x4_splat(a), vb = f32x4_splat(b);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) f32x4_store(y + i, f32x4_load(x + i) * va + vb);
  for (; i < n; i++) y[i] = x[i] * a + b;
}

void ferry_nn_moments_f32(const float *x, int64_t n, float *mean, float *var) {
  if (n <= 0) {
    *mean = *var = NAN;
    return;
  }
  float m = ferry_nn_sum_f32(x, n) / (float)n;
  f32x4 vm = f32x4_splat(m), a = f32x4_splat(0), b = a, c = a, e = a;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    f32x4 d0 = f32x4_load(x + i) - vm, d1 = f32x4_load(x + i + 4) - vm;
    f32x4 d2 = f32x4_load(x + i + 8) - vm, d3 = f32x4_load(x + i + 12) - vm;
    a += d0 * d0, b += d1 * d1, c += d2 * d2, e += d3 * d3;
  }
  for (; i + 4 <= n; i += 4) {
    f32x4 d = f32x4_load(x + i) - vm;
    a += d * d;
  }
  float s = hsum((a + b) + (c + e));
  for (; i < n; i++) s += (x[i] - m) * (x[i] - m);
  *mean = m;
  *var = s / (float)n;
}

void ferry_nn_moments_f64(const double *x, int64_t n, double *mean, double *var) {
  double s = 0, q = 0;
  if (n <= 0) {
    *mean = *var = NAN;
    return;
  }
  for (int64_t i = 0; i < n; i++) s += x[i];
  s /= (double)n;
  for (int64_t i = 0; i < n; i++) q += (x[i] - s) * (x[i] - s);
  *mean = s;
  *var = q / (double)n;
}
