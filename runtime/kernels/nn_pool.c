/*
 * nn_pool.c - pooling kernels: MaxPool (with Indices), AveragePool,
 * LpPool, GlobalMaxPool, GlobalAveragePool, GlobalLpPool, MaxUnpool,
 * MaxRoiPool, RoiAlign.
 *
 * How the parts fit:
 *   - read_geom() turns the attributes (kernel_shape, strides, dilations,
 *     pads, auto_pad, ceil_mode) into a `pgeom`, computing the output dims
 *     with the same formulas as the shape rule (runtime/ops/nn.c) and the
 *     SAME_* pads from them;
 *   - a window's taps are clipped per spatial dim once (tap_range), so the
 *     inner loops never test bounds; padding never contributes a value
 *     (MaxPool ignores it, AveragePool counts it only with
 *     count_include_pad, LpPool adds zeros);
 *   - float32 1-D/2-D Max/AveragePool without Indices take a fast path,
 *     threads over the N*C planes: each output row reduces its window
 *     rows into one row, then its columns are reduced a vector of outputs
 *     at a time where the windows lie inside the row (pool_row.h, generic
 *     and AVX2), one by one at the edges; everything else (3-D, Indices,
 *     LpPool, other dtypes) runs one N-d loop on doubles;
 *   - MaxPool propagates NaN (a window with a NaN gives NaN, its Indices
 *     the first NaN), -inf is an ordinary value;
 *   - RoiAlign follows onnxruntime's bilinear sampling (half_pixel or
 *     output_half_pixel coordinates, avg or its max mode), MaxRoiPool the
 *     Caffe/onnxruntime rounding of the roi corners.
 */
#include <math.h>
#include <string.h>

#include "gemm.h"
#include "nn.h"
#include "simd.h"
#include "util.h"

/* ---- window geometry ---- */

typedef struct pgeom {
  int n;          /* spatial rank */
  int ceil, same; /* ceil_mode; 0 / 1 SAME_UPPER / 2 SAME_LOWER / 3 VALID */
  int64_t planes, in_plane, out_plane;
  int64_t in[FERRY_MAX_RANK], out[FERRY_MAX_RANK], k[FERRY_MAX_RANK], s[FERRY_MAX_RANK], d[FERRY_MAX_RANK];
  int64_t pb[FERRY_MAX_RANK], pe[FERRY_MAX_RANK];
} pgeom;

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

/* An ints attribute of exactly n values (all dflt when absent). */
static int ints_attr(ferry_kctx *k, const char *name, int n, int64_t dflt, int64_t *v, int required) {
  const int64_t *a;
  int m = ferry_attr_ints(k->sctx, name, &a);
  if (!m && required) return ferry_kernel_fail(k, "%s is required", name);
  if (m && m != n) return ferry_kernel_fail(k, "%s has %d values, expected %d", name, m, n);
  for (int i = 0; i < n; i++) {
    v[i] = m ? a[i] : dflt;
    if (v[i] > INT32_MAX || v[i] < -INT32_MAX) return ferry_kernel_fail(k, "%s value %lld is too large", name, (long long)v[i]);
  }
  return FERRY_OK;
}

static int read_auto_pad(ferry_kctx *k, int *same) {
  const char *s = ferry_attr_str(k->sctx, "auto_pad", "NOTSET");
  *same = !strcmp(s, "SAME_UPPER") ? 1 : !strcmp(s, "SAME_LOWER") ? 2 : !strcmp(s, "VALID") ? 3 : 0;
  if (!*same && *s && strcmp(s, "NOTSET")) return ferry_kernel_fail(k, "unknown auto_pad '%s'", s);
  return FERRY_OK;
}

/* Output size of spatial dim i (the shape rule's formula). */
static int64_t out_dim(const pgeom *g, int i) {
  int64_t s = g->s[i], ek = (g->k[i] - 1) * g->d[i] + 1, in = g->in[i];
  if (g->same == 1 || g->same == 2) return floor_div(in + s - 1, s);
  int64_t out = floor_div(in + g->pb[i] + g->pe[i] - ek + (g->ceil ? s - 1 : 0), s) + 1;
  if (g->ceil && s > ek - g->pe[i]) {
    int64_t lim = floor_div(in + g->pb[i] - 1, s) + 1;
    out = lim < out ? lim : out;
  }
  return out;
}

static int check_geom(ferry_kctx *k, const pgeom *g) {
  for (int i = 0; i < g->n; i++) {
    if (g->k[i] < 1 || g->s[i] < 1 || g->d[i] < 1)
      return ferry_kernel_fail(k, "kernel_shape, strides and dilations must be >= 1");
    if (g->pb[i] < 0 || g->pe[i] < 0) return ferry_kernel_fail(k, "pads must be >= 0");
  }
  return FERRY_OK;
}

/* Reads X's window and shapes output 0 (and 1, Indices, as int64). */
static int read_geom(ferry_kctx *k, pgeom *g) {
  const ferry_tview *x = &k->in[0];
  int64_t pads[2 * FERRY_MAX_RANK], od[FERRY_MAX_RANK];
  if (x->rank < 3) return ferry_kernel_fail(k, "input must have rank >= 3 (N, C, spatial...), got %d", x->rank);
  memset(g, 0, sizeof *g);
  g->n = x->rank - 2;
  int rc;
  if ((rc = read_auto_pad(k, &g->same)) || (rc = ints_attr(k, "kernel_shape", g->n, 1, g->k, 1)) ||
      (rc = ints_attr(k, "strides", g->n, 1, g->s, 0)) || (rc = ints_attr(k, "dilations", g->n, 1, g->d, 0)) ||
      (rc = ints_attr(k, "pads", 2 * g->n, 0, pads, 0)))
    return rc;
  g->ceil = ferry_attr_int(k->sctx, "ceil_mode", 0) != 0;
  g->planes = x->dims[0] * x->dims[1];
  g->in_plane = g->out_plane = 1;
  for (int i = 0; i < g->n; i++) {
    g->in[i] = x->dims[i + 2];
    g->pb[i] = g->same ? 0 : pads[i];
    g->pe[i] = g->same ? 0 : pads[i + g->n];
  }
  if ((rc = check_geom(k, g))) return rc;
  od[0] = x->dims[0], od[1] = x->dims[1];
  for (int i = 0; i < g->n; i++) {
    g->out[i] = od[i + 2] = out_dim(g, i);
    if (g->out[i] < 0) return ferry_kernel_fail(k, "spatial dim %d: input is smaller than the kernel", i);
    if (g->same == 1 || g->same == 2) {
      int64_t total = (g->out[i] - 1) * g->s[i] + (g->k[i] - 1) * g->d[i] + 1 - g->in[i];
      total = total > 0 ? total : 0;
      g->pb[i] = g->same == 1 ? total / 2 : total - total / 2;
      g->pe[i] = total - g->pb[i];
    }
    g->in_plane *= g->in[i];
    g->out_plane *= g->out[i];
  }
  if ((rc = ferry_nn_out(k, 0, x->dtype, x->rank, od))) return rc;
  return ferry_nn_out(k, 1, FERRY_I64, x->rank, od);
}

/* Taps [lo, hi) of spatial dim i at output position o that land in the
 * input; *padded: taps inside input plus explicit pads. */
static inline void tap_range(const pgeom *g, int i, int64_t o, int64_t *lo, int64_t *hi, int64_t *padded) {
  int64_t start = o * g->s[i] - g->pb[i], d = g->d[i], K = g->k[i], l, h, p;
  if (d == 1) { /* (no divisions: this runs per output row of the float path) */
    l = start >= 0 ? 0 : -start;
    h = g->in[i] - start < 0 ? 0 : g->in[i] - start;
    p = g->in[i] + g->pe[i] - start < 0 ? 0 : g->in[i] + g->pe[i] - start;
  } else {
    l = start >= 0 ? 0 : (-start + d - 1) / d;
    h = g->in[i] - 1 - start < 0 ? 0 : (g->in[i] - 1 - start) / d + 1;
    p = g->in[i] + g->pe[i] - 1 - start < 0 ? 0 : (g->in[i] + g->pe[i] - 1 - start) / d + 1;
  }
  *lo = l < K ? l : K;
  *hi = h < K ? h : K;
  *hi = *hi > *lo ? *hi : *lo;
  *padded = p < K ? p : K;
}

/* ---- the generic N-d pool on doubles ---- */

enum pool_mode { POOL_MAX, POOL_AVG, POOL_LP };

typedef struct pool_args {
  const pgeom *g;
  int mode, include_pad, col_major;
  double p;
} pool_args;

/* One output element: taps lo..hi per dim (odometer); *arg gets the flat
 * input index of the max (col_major: spatial dims reversed). */
static double pool_window(const pool_args *a, const double *x, const int64_t *lo, const int64_t *hi, const int64_t *o,
                          int64_t *arg) {
  const pgeom *g = a->g;
  int64_t t[FERRY_MAX_RANK], n = g->n;
  double acc = a->mode == POOL_MAX ? -INFINITY : 0;
  *arg = -1;
  for (int i = 0; i < n; i++) {
    if (lo[i] >= hi[i]) return acc;
    t[i] = lo[i];
  }
  for (;;) {
    int64_t off = 0, cm = 0, cs = 1;
    for (int i = 0; i < n; i++) {
      int64_t pos = o[i] * g->s[i] - g->pb[i] + t[i] * g->d[i];
      off = off * g->in[i] + pos;
      cm += pos * cs, cs *= g->in[i];
    }
    double v = x[off];
    if (a->mode == POOL_MAX) {
      if (v > acc || (v != v && acc == acc) || *arg < 0) acc = v, *arg = a->col_major ? cm : off;
    } else {
      acc += a->mode == POOL_AVG ? v : a->p == 2 ? v * v : pow(fabs(v), a->p);
    }
    int i = (int)n - 1;
    while (i >= 0 && ++t[i] == hi[i]) t[i] = lo[i], i--;
    if (i < 0) return acc;
  }
}

static void pool_plane(const pool_args *a, const double *x, double *y, int64_t *ind, int64_t plane) {
  const pgeom *g = a->g;
  int64_t o[FERRY_MAX_RANK] = {0}, lo[FERRY_MAX_RANK], hi[FERRY_MAX_RANK];
  for (int64_t j = 0; j < g->out_plane; j++) {
    int64_t valid = 1, padded = 1, pc, arg;
    for (int i = 0; i < g->n; i++) {
      tap_range(g, i, o[i], &lo[i], &hi[i], &pc);
      valid *= hi[i] - lo[i], padded *= pc;
    }
    double v = pool_window(a, x, lo, hi, o, &arg);
    if (a->mode == POOL_AVG) {
      int64_t cnt = a->include_pad ? padded : valid;
      v = cnt ? v / (double)cnt : 0;
    } else if (a->mode == POOL_LP) {
      v = a->p == 2 ? sqrt(v) : pow(v, 1 / a->p);
    }
    y[j] = v;
    if (ind) ind[j] = arg < 0 ? -1 : plane * g->in_plane + arg;
    for (int i = g->n - 1; i >= 0 && ++o[i] == g->out[i]; i--) o[i] = 0;
  }
}

static int pool_generic(ferry_kctx *k, const pool_args *a) {
  const pgeom *g = a->g;
  double *x = ferry_nn_load(k, &k->in[0]), *y = ferry_nn_scratch(k, k->out[0].numel, sizeof(double));
  if (!x || !y) return FERRY_E_SYSTEM;
  int64_t *ind = k->n_out > 1 && k->out[1].data ? k->out[1].data : NULL;
  for (int64_t p = 0; p < g->planes; p++)
    pool_plane(a, x + p * g->in_plane, y + p * g->out_plane, ind ? ind + p * g->out_plane : NULL, p);
  ferry_nn_store(&k->out[0], y, k->out[0].numel);
  return FERRY_OK;
}

/* ---- the float32 1-D/2-D fast path ---- */

typedef struct pool2d {
  const pool_args *a;
  const float *x;
  float *y;
  int64_t H, W, OH, OW, KH, KW, SH, SW, DH, DW, PH, PW;
  /* the separable plane loop of this instruction set (pool_row.h) */
  void (*plane)(const struct pool2d *t, const float *x, float *y);
} pool2d;

/* max(acc, v), v where it is NaN (MaxPool propagates NaN), without a
 * branch on the data (random data mispredicts one every other window). */
static inline __attribute__((always_inline)) float pool_max1(float acc, float v) {
  float m = v > acc ? v : acc;
  return v != v ? v : m;
}

#define POOL_ROW_MAX 4096 /* rows up to this wide reduce their window rows into a stack row */

/* One output of a reduced row r (its window rows already combined), taps
 * [wlo, whi) of the columns; cnt: AveragePool's divisor. */
static inline __attribute__((always_inline)) float pool_col(const pool2d *t, const float *r, int64_t ow, int64_t wlo,
                                                            int64_t whi, int max, int64_t cnt) {
  float acc = max ? -INFINITY : 0.0f;
  for (int64_t tw = wlo; tw < whi; tw++) {
    float v = r[ow * t->SW - t->PW + tw * t->DW];
    acc = max ? pool_max1(acc, v) : acc + v;
  }
  return max ? acc : cnt ? acc / (float)cnt : 0.0f;
}

/* The separable plane loop, once per instruction set (pool_row.h). */
#define PL_V f32x4
#define PL_I i32x4
#define PL_VL 4
#define PL_ATTR
#define PL_FN(name) name##_generic
#include "pool_row.h"
#undef PL_V
#undef PL_I
#undef PL_VL
#undef PL_ATTR
#undef PL_FN
#if defined(__x86_64__) && !defined(__AVX2__)
typedef float pl_f32x8 __attribute__((vector_size(32)));
typedef int pl_i32x8 __attribute__((vector_size(32)));
#define PL_V pl_f32x8
#define PL_I pl_i32x8
#define PL_VL 8
#define PL_ATTR __attribute__((target("avx2")))
#define PL_FN(name) name##_avx2
#include "pool_row.h"
#undef PL_V
#undef PL_I
#undef PL_VL
#undef PL_ATTR
#undef PL_FN
#endif

static inline f32x4 vsel(i32x4 m, f32x4 a, f32x4 b) { return (f32x4)((m & (i32x4)a) | (~m & (i32x4)b)); }

/* Four outputs at columns ow..ow+3 whose windows lie inside the row. */
static f32x4 pool4(const pool2d *t, const float *x, int64_t oh, int64_t ow, int64_t hlo, int64_t hhi, int max) {
  f32x4 acc = f32x4_splat(max ? -INFINITY : 0.0f);
  int64_t s = t->SW;
  for (int64_t th = hlo; th < hhi; th++) {
    const float *row = x + (oh * t->SH - t->PH + th * t->DH) * t->W + ow * s - t->PW;
    for (int64_t tw = 0; tw < t->KW; tw++) {
      const float *p = row + tw * t->DW;
      f32x4 v = s == 1 ? f32x4_load(p) : (f32x4){p[0], p[s], p[2 * s], p[3 * s]};
      acc = max ? vsel((v > acc) | (v != v), v, acc) : acc + v;
    }
  }
  return acc;
}

/* One output, taps clipped. */
static float pool1(const pool2d *t, const float *x, int64_t oh, int64_t ow, int64_t hlo, int64_t hhi, int64_t wlo,
                   int64_t whi, int max) {
  float acc = max ? -INFINITY : 0.0f;
  for (int64_t th = hlo; th < hhi; th++) {
    const float *row = x + (oh * t->SH - t->PH + th * t->DH) * t->W + ow * t->SW - t->PW;
    for (int64_t tw = wlo; tw < whi; tw++) {
      float v = row[tw * t->DW];
      acc = max ? pool_max1(acc, v) : acc + v;
    }
  }
  return acc;
}

/* The plane without the separable split (rows wider than POOL_ROW_MAX):
 * each vector of outputs reads its whole window. */
static void pool2d_plane_direct(const pool2d *t, const float *x, float *y) {
  const pgeom *g = t->a->g;
  int n = g->n, max = t->a->mode == POOL_MAX;
  /* columns whose windows lie inside the row */
  int64_t ow_a = (t->PW + t->SW - 1) / t->SW, ow_b = floor_div(t->W - 1 - (t->KW - 1) * t->DW + t->PW, t->SW) + 1;
  ow_b = ow_b < t->OW ? ow_b : t->OW;
  for (int64_t oh = 0; oh < t->OH; oh++) {
    int64_t hlo = 0, hhi = 1, hp = 1, wlo, whi, wp;
    if (n == 2) tap_range(g, 0, oh, &hlo, &hhi, &hp);
    float *yr = y + oh * t->OW;
    for (int64_t ow = 0; ow < t->OW;) {
      if (ow >= ow_a && ow + 4 <= ow_b) {
        f32x4 v = pool4(t, x, oh, ow, hlo, hhi, max);
        int64_t cnt = (t->a->include_pad ? hp : hhi - hlo) * t->KW;
        if (!max) v = cnt ? v / (float)cnt : f32x4_splat(0.0f);
        f32x4_store(yr + ow, v);
        ow += 4;
        continue;
      }
      tap_range(g, n - 1, ow, &wlo, &whi, &wp);
      float v = pool1(t, x, oh, ow, hlo, hhi, wlo, whi, max);
      if (!max) {
        int64_t cnt = t->a->include_pad ? hp * wp : (hhi - hlo) * (whi - wlo);
        v = cnt ? v / (float)cnt : 0.0f;
      }
      yr[ow++] = v;
    }
  }
}

/* One plane: separably (pool_row.h) unless its rows are too wide. */
static void pool2d_plane(const pool2d *t, const float *x, float *y) {
  if (t->W > POOL_ROW_MAX)
    pool2d_plane_direct(t, x, y);
  else
    t->plane(t, x, y);
}

static void pool2d_task(void *arg, int64_t b, int64_t e) {
  pool2d *t = arg;
  const pgeom *g = t->a->g;
  for (int64_t p = b; p < e; p++) pool2d_plane(t, t->x + p * g->in_plane, t->y + p * g->out_plane);
}

static void pool_f32(ferry_kctx *k, const pool_args *a) {
  const pgeom *g = a->g;
  int two = g->n == 2;
  pool2d t = {a, k->in[0].data, k->out[0].data, two ? g->in[0] : 1, g->in[g->n - 1], two ? g->out[0] : 1,
              g->out[g->n - 1], two ? g->k[0] : 1, g->k[g->n - 1], two ? g->s[0] : 1, g->s[g->n - 1],
              two ? g->d[0] : 1, g->d[g->n - 1], two ? g->pb[0] : 0, g->pb[g->n - 1], pool_plane_generic};
#if defined(__x86_64__) && !defined(__AVX2__)
  if (ferry_simd_avx2()) t.plane = pool_plane_avx2;
#endif
  k->parallel(k, g->planes, pool2d_task, &t);
}

static int pool(ferry_kctx *k, int mode) {
  pgeom g;
  int rc = read_geom(k, &g);
  if (rc) return rc;
  pool_args a = {&g, mode, ferry_attr_int(k->sctx, "count_include_pad", 0) != 0,
                 ferry_attr_int(k->sctx, "storage_order", 0) != 0, ferry_nn_attr_num(k, "p", 2)};
  if (mode == POOL_LP && !(a.p > 0)) return ferry_kernel_fail(k, "p must be positive");
  if (k->out[0].numel == 0) return FERRY_OK;
  int indices = k->n_out > 1 && k->out[1].data;
  if (k->in[0].dtype == FERRY_F32 && mode != POOL_LP && g.n <= 2 && !indices) {
    pool_f32(k, &a);
    return FERRY_OK;
  }
  return pool_generic(k, &a);
}

int ferry_kernel_MaxPool(ferry_kctx *k) { return pool(k, POOL_MAX); }
int ferry_kernel_AveragePool(ferry_kctx *k) { return pool(k, POOL_AVG); }
int ferry_kernel_LpPool(ferry_kctx *k) { return pool(k, POOL_LP); }

/* ---- global pools ---- */

typedef struct gpool {
  int mode;
  const float *x;
  float *y;
  int64_t S;
} gpool;

static void gpool_task(void *arg, int64_t b, int64_t e) {
  gpool *t = arg;
  for (int64_t p = b; p < e; p++) {
    const float *x = t->x + p * t->S;
    t->y[p] = t->mode == POOL_MAX ? ferry_nn_max_f32(x, t->S) : ferry_nn_sum_f32(x, t->S) / (float)t->S;
  }
}

static int global_pool(ferry_kctx *k, int mode) {
  const ferry_tview *x = &k->in[0];
  int64_t od[FERRY_MAX_RANK];
  if (x->rank < 2) return ferry_kernel_fail(k, "input must have rank >= 2, got %d", x->rank);
  for (int i = 0; i < x->rank; i++) od[i] = i < 2 ? x->dims[i] : 1;
  int rc = ferry_nn_out(k, 0, x->dtype, x->rank, od);
  int64_t planes = x->dims[0] * x->dims[1], S = ferry_nn_prod(x->dims, 2, x->rank);
  if (rc || planes == 0) return rc;
  if (x->dtype == FERRY_F32 && mode != POOL_LP && S > 0) {
    gpool t = {mode, x->data, k->out[0].data, S};
    k->parallel(k, planes, gpool_task, &t);
    return FERRY_OK;
  }
  double *v = ferry_nn_load(k, x), *y = ferry_nn_scratch(k, planes, sizeof(double));
  double p = ferry_nn_attr_num(k, "p", 2);
  if (!v || !y) return FERRY_E_SYSTEM;
  for (int64_t pl = 0; pl < planes; pl++) {
    double acc = mode == POOL_MAX ? -INFINITY : 0;
    for (int64_t i = 0; i < S; i++) {
      double e = v[pl * S + i];
      if (mode == POOL_MAX) acc = e > acc || e != e ? e : acc;
      else acc += mode == POOL_AVG ? e : p == 2 ? e * e : pow(fabs(e), p);
    }
    y[pl] = mode == POOL_AVG ? acc / (double)S : mode == POOL_LP ? (p == 2 ? sqrt(acc) : pow(acc, 1 / p)) : acc;
  }
  ferry_nn_store(&k->out[0], y, planes);
  return FERRY_OK;
}

int ferry_kernel_GlobalMaxPool(ferry_kctx *k) { return global_pool(k, POOL_MAX); }
int ferry_kernel_GlobalAveragePool(ferry_kctx *k) { return global_pool(k, POOL_AVG); }
int ferry_kernel_GlobalLpPool(ferry_kctx *k) { return global_pool(k, POOL_LP); }

/* ---- MaxUnpool ---- */

/* The unpooled dims from the attributes: (in - 1) * s + k - pads. */
static int unpool_inferred(ferry_kctx *k, int64_t *od) {
  const ferry_tview *x = &k->in[0];
  int n = x->rank - 2, rc;
  int64_t kk[FERRY_MAX_RANK], s[FERRY_MAX_RANK], pads[2 * FERRY_MAX_RANK];
  if ((rc = ints_attr(k, "kernel_shape", n, 1, kk, 1)) || (rc = ints_attr(k, "strides", n, 1, s, 0)) ||
      (rc = ints_attr(k, "pads", 2 * n, 0, pads, 0)))
    return rc;
  od[0] = x->dims[0], od[1] = x->dims[1];
  for (int i = 0; i < n; i++)
    if ((od[i + 2] = (x->dims[i + 2] - 1) * s[i] + kk[i] - pads[i] - pads[i + n]) < 0)
      return ferry_kernel_fail(k, "output dim %d is negative", i + 2);
  return FERRY_OK;
}

/* output_shape's values (od unchanged when the input is absent). */
static int unpool_given(ferry_kctx *k, int64_t *od) {
  const ferry_tview *x = &k->in[0], *os = k->n_in > 2 && k->in[2].data ? &k->in[2] : NULL;
  if (!os) return FERRY_OK;
  if (os->numel != x->rank)
    return ferry_kernel_fail(k, "output_shape has %lld values, X has rank %d", (long long)os->numel, x->rank);
  for (int i = 0; i < x->rank; i++)
    if ((od[i] = ferry_load_i64(os->data, os->dtype, i)) < 0) return ferry_kernel_fail(k, "output_shape is negative");
  if (od[0] != x->dims[0] || od[1] != x->dims[1]) return ferry_kernel_fail(k, "output_shape must keep N and C");
  return FERRY_OK;
}

/* Output offset of flat index `at` of the inferred shape `inf` placed at
 * the same spatial position in the output `od`; -1 when outside. */
static int64_t unpool_offset(int64_t at, int rank, const int64_t *inf, const int64_t *od) {
  int64_t ip = ferry_nn_prod(inf, 2, rank), op = ferry_nn_prod(od, 2, rank);
  if (at < 0 || ip == 0 || at / ip >= inf[0] * inf[1]) return -1;
  int64_t rem = at % ip, off = 0, mul = 1;
  for (int i = rank - 1; i >= 2; i--) {
    int64_t c = rem % inf[i];
    rem /= inf[i];
    if (c >= od[i]) return -1;
    off += c * mul, mul *= od[i];
  }
  return at / ip * op + off;
}

/* X, I[, output_shape]: zeros with X's values at I. The indices are flat
 * in the shape the attributes give (MaxPool's input); a larger
 * output_shape keeps each value at its spatial position. */
int ferry_kernel_MaxUnpool(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0], *ix = &k->in[1];
  int64_t inf[FERRY_MAX_RANK], od[FERRY_MAX_RANK];
  if (x->rank < 3) return ferry_kernel_fail(k, "input must have rank >= 3, got %d", x->rank);
  if (k->n_in < 2 || !ix->data || ix->numel != x->numel) return ferry_kernel_fail(k, "I must have X's shape");
  int rc = unpool_inferred(k, inf);
  if (rc) return rc;
  memcpy(od, inf, (size_t)x->rank * sizeof *od);
  if ((rc = unpool_given(k, od)) || (rc = ferry_nn_out(k, 0, x->dtype, x->rank, od))) return rc;
  ferry_tview *y = &k->out[0];
  size_t es = (size_t)ferry_dtype_size(x->dtype);
  if (y->numel) memset(y->data, 0, (size_t)y->numel * es);
  for (int64_t i = 0; i < x->numel; i++) {
    int64_t at = ferry_load_i64(ix->data, ix->dtype, i), o = unpool_offset(at, x->rank, inf, od);
    if (o < 0 || o >= y->numel) return ferry_kernel_fail(k, "index %lld is out of range", (long long)at);
    memcpy((char *)y->data + (size_t)o * es, (const char *)x->data + (size_t)i * es, es);
  }
  return FERRY_OK;
}

/* ---- region of interest pools ---- */

/* Clamped int64 of a finite-or-not double (roi coordinates are data). */
static int64_t clamp_i(double v, int64_t lo, int64_t hi) {
  return v != v ? lo : v < (double)lo ? lo : v > (double)hi ? hi : (int64_t)v;
}

/* X [N, C, H, W], rois [R, 5] (batch, x1, y1, x2, y2) -> [R, C, ph, pw]. */
int ferry_kernel_MaxRoiPool(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0], *ro = &k->in[1];
  int64_t ps[2];
  int rc = ints_attr(k, "pooled_shape", 2, 1, ps, 1);
  if (rc) return rc;
  double scale = ferry_attr_float(k->sctx, "spatial_scale", 1.0f);
  if (x->rank != 4 || ro->rank != 2 || ro->dims[1] != 5) return ferry_kernel_fail(k, "expects X [N, C, H, W] and rois [R, 5]");
  if (ps[0] < 1 || ps[1] < 1) return ferry_kernel_fail(k, "pooled_shape must be positive");
  int64_t R = ro->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], od[4] = {R, C, ps[0], ps[1]};
  if ((rc = ferry_nn_out(k, 0, x->dtype, 4, od)) || k->out[0].numel == 0) return rc;
  double *xv = ferry_nn_load(k, x), *rv = ferry_nn_load(k, ro), *y = ferry_nn_scratch(k, k->out[0].numel, sizeof(double));
  if (!xv || !rv || !y) return FERRY_E_SYSTEM;
  for (int64_t r = 0; r < R; r++) {
    const double *b = rv + r * 5;
    int64_t n = clamp_i(b[0], -1, x->dims[0]);
    if (n < 0 || n >= x->dims[0]) return ferry_kernel_fail(k, "roi %lld has batch index %g out of range", (long long)r, b[0]);
    int64_t x1 = clamp_i(round(b[1] * scale), -H - W, H + W), y1 = clamp_i(round(b[2] * scale), -H - W, H + W);
    int64_t x2 = clamp_i(round(b[3] * scale), -H - W, H + W), y2 = clamp_i(round(b[4] * scale), -H - W, H + W);
    int64_t rh = y2 - y1 + 1 > 1 ? y2 - y1 + 1 : 1, rw = x2 - x1 + 1 > 1 ? x2 - x1 + 1 : 1;
    double bh = (double)rh / (double)ps[0], bw = (double)rw / (double)ps[1];
    for (int64_t c = 0; c < C; c++)
      for (int64_t ph = 0; ph < ps[0]; ph++)
        for (int64_t pw = 0; pw < ps[1]; pw++) {
          int64_t hs = clamp_i(floor((double)ph * bh) + (double)y1, 0, H), he = clamp_i(ceil((double)(ph + 1) * bh) + (double)y1, 0, H);
          int64_t ws = clamp_i(floor((double)pw * bw) + (double)x1, 0, W), we = clamp_i(ceil((double)(pw + 1) * bw) + (double)x1, 0, W);
          double m = he <= hs || we <= ws ? 0 : -INFINITY;
          for (int64_t h = hs; h < he; h++)
            for (int64_t w = ws; w < we; w++) {
              double v = xv[((n * C + c) * H + h) * W + w];
              m = v > m || v != v ? v : m;
            }
          y[((r * C + c) * ps[0] + ph) * ps[1] + pw] = m;
        }
  }
  ferry_nn_store(&k->out[0], y, k->out[0].numel);
  return FERRY_OK;
}

/* One bilinear sample: four input offsets and weights (all 0 outside). */
typedef struct bsample {
  int64_t pos[4];
  double w[4];
} bsample;

static bsample bilinear_at(double y, double x, int64_t H, int64_t W) {
  bsample s = {{0, 0, 0, 0}, {0, 0, 0, 0}};
  if (!(y >= -1.0 && y <= (double)H && x >= -1.0 && x <= (double)W)) return s;
  y = y <= 0 ? 0 : y, x = x <= 0 ? 0 : x;
  int64_t yl = (int64_t)y, xl = (int64_t)x, yh, xh;
  if (yl >= H - 1) yh = yl = H - 1, y = (double)yl;
  else yh = yl + 1;
  if (xl >= W - 1) xh = xl = W - 1, x = (double)xl;
  else xh = xl + 1;
  double ly = y - (double)yl, lx = x - (double)xl, hy = 1 - ly, hx = 1 - lx;
  s.pos[0] = yl * W + xl, s.pos[1] = yl * W + xh, s.pos[2] = yh * W + xl, s.pos[3] = yh * W + xh;
  s.w[0] = hy * hx, s.w[1] = hy * lx, s.w[2] = ly * hx, s.w[3] = ly * lx;
  return s;
}

typedef struct roi_args {
  int64_t H, W, oh, ow, ratio;
  double scale, offset;
  int max, half_pixel;
} roi_args;

/* One roi's [oh, ow] bins of one channel plane. */
static int roi_align_one(ferry_kctx *k, const roi_args *a, const double *plane, const double *box, double *y) {
  double x1 = box[0] * a->scale - a->offset, y1 = box[1] * a->scale - a->offset;
  double rw = box[2] * a->scale - a->offset - x1, rh = box[3] * a->scale - a->offset - y1;
  if (!a->half_pixel) rw = rw > 1 ? rw : 1, rh = rh > 1 ? rh : 1;
  double bh = rh / (double)a->oh, bw = rw / (double)a->ow;
  double gh = a->ratio > 0 ? (double)a->ratio : ceil(bh), gw = a->ratio > 0 ? (double)a->ratio : ceil(bw);
  if (!(gh <= 65536 && gw <= 65536)) return ferry_kernel_fail(k, "roi is too large to sample");
  int64_t nh = gh > 0 ? (int64_t)gh : 0, nw = gw > 0 ? (int64_t)gw : 0, cnt = nh * nw > 1 ? nh * nw : 1;
  for (int64_t ph = 0; ph < a->oh; ph++)
    for (int64_t pw = 0; pw < a->ow; pw++) {
      double acc = 0;
      int first = 1;
      for (int64_t iy = 0; iy < nh; iy++)
        for (int64_t ix = 0; ix < nw; ix++) {
          double yy = y1 + (double)ph * bh + ((double)iy + .5) * bh / (double)nh;
          double xx = x1 + (double)pw * bw + ((double)ix + .5) * bw / (double)nw;
          bsample s = bilinear_at(yy, xx, a->H, a->W);
          if (!a->max) {
            for (int q = 0; q < 4; q++) acc += s.w[q] * plane[s.pos[q]];
            continue;
          }
          double v = s.w[0] * plane[s.pos[0]]; /* onnxruntime's max mode */
          for (int q = 1; q < 4; q++) v = v > s.w[q] * plane[s.pos[q]] ? v : s.w[q] * plane[s.pos[q]];
          acc = first || v > acc ? v : acc;
          first = 0;
        }
      y[ph * a->ow + pw] = a->max ? acc : acc / (double)cnt;
    }
  return FERRY_OK;
}

/* X [N, C, H, W], rois [R, 4], batch_indices [R] -> [R, C, oh, ow]. */
int ferry_kernel_RoiAlign(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0], *ro = &k->in[1], *bi = &k->in[2];
  if (k->n_in < 3 || x->rank != 4 || ro->rank != 2 || ro->dims[1] != 4 || bi->numel != ro->dims[0])
    return ferry_kernel_fail(k, "expects X [N, C, H, W], rois [R, 4] and batch_indices [R]");
  const char *mode = ferry_attr_str(k->sctx, "mode", "avg");
  const char *ctm = ferry_attr_str(k->sctx, "coordinate_transformation_mode", k->opset >= 16 ? "half_pixel" : "output_half_pixel");
  roi_args a = {x->dims[2], x->dims[3], ferry_attr_int(k->sctx, "output_height", 1), ferry_attr_int(k->sctx, "output_width", 1),
                ferry_attr_int(k->sctx, "sampling_ratio", 0), ferry_attr_float(k->sctx, "spatial_scale", 1.0f), 0,
                !strcmp(mode, "max"), !strcmp(ctm, "half_pixel")};
  if (strcmp(mode, "max") && strcmp(mode, "avg")) return ferry_kernel_fail(k, "unknown mode '%s'", mode);
  if (!a.half_pixel && strcmp(ctm, "output_half_pixel")) return ferry_kernel_fail(k, "unknown coordinate_transformation_mode '%s'", ctm);
  if (a.oh < 1 || a.ow < 1) return ferry_kernel_fail(k, "output size must be positive");
  a.offset = a.half_pixel ? 0.5 : 0.0;
  int64_t R = ro->dims[0], C = x->dims[1], od[4] = {R, C, a.oh, a.ow};
  int rc = ferry_nn_out(k, 0, x->dtype, 4, od);
  if (rc || k->out[0].numel == 0) return rc;
  double *xv = ferry_nn_load(k, x), *rv = ferry_nn_load(k, ro), *y = ferry_nn_scratch(k, k->out[0].numel, sizeof(double));
  if (!xv || !rv || !y) return FERRY_E_SYSTEM;
  for (int64_t r = 0; r < R; r++) {
    int64_t n = ferry_load_i64(bi->data, bi->dtype, r);
    if (n < 0 || n >= x->dims[0]) return ferry_kernel_fail(k, "batch index %lld is out of range", (long long)n);
    for (int64_t c = 0; c < C; c++)
      if ((rc = roi_align_one(k, &a, xv + (n * C + c) * a.H * a.W, rv + r * 4, y + (r * C + c) * a.oh * a.ow))) return rc;
  }
  ferry_nn_store(&k->out[0], y, k->out[0].numel);
  return FERRY_OK;
}
