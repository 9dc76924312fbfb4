/*
 * nn_reduce.c - reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin,
 * ReduceProd, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp,
 * ReduceSumSquare, and the index reductions ArgMax, ArgMin, TopK.
 *
 * How the parts fit:
 *   - reduce_plan() reads the axes (attribute, or input 1 from opset 18 -
 *     13 for ReduceSum), applies noop_with_empty_axes and keepdims, shapes
 *     the output, and collapses the input's dims into alternating blocks of
 *     kept and reduced dims (size-1 dims dropped);
 *   - every Reduce* op is a first pass, a later pass and a finish (ReduceL2
 *     = sum of squares, then sums, then sqrt): run_passes() reduces the
 *     innermost reduced block as [outer, rn, inner] into a temporary, drops
 *     the block and repeats, so any set of axes becomes a few single-block
 *     reductions (log-sum-exp composes too);
 *   - a pass runs on float32 with simd.h vectors across threads, on doubles
 *     (float64, float16, bfloat16; and the log/sqrt ops of integer inputs),
 *     or on int64 with wrapping arithmetic (integer inputs);
 *   - ArgMax/ArgMin/TopK compare order-preserving 64-bit keys of any dtype
 *     (NaN counts as the largest value for ArgMax and TopK, the smallest
 *     for ArgMin, so a NaN is selected as numpy does); TopK keeps the k best
 *     in a heap, ties broken by the lower index as ONNX requires.
 */
#include <math.h>
#include <string.h>

#include "nn.h"
#include "simd.h"
#include "util.h"

/* ---- the ops as passes ---- */

enum pass { P_SUM, P_SUMSQ, P_ABS, P_MAX, P_MIN, P_PROD, P_LSE };
enum finish { F_NONE, F_MEAN, F_SQRT, F_LOG };
enum rop { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LOGSUM, R_LSE, R_SUMSQ };

static const struct {
  int first, later, finish, axes_input_opset;
} rops[] = {
    [R_SUM] = {P_SUM, P_SUM, F_NONE, 13},     [R_MEAN] = {P_SUM, P_SUM, F_MEAN, 18},
    [R_MAX] = {P_MAX, P_MAX, F_NONE, 18},     [R_MIN] = {P_MIN, P_MIN, F_NONE, 18},
    [R_PROD] = {P_PROD, P_PROD, F_NONE, 18},  [R_L1] = {P_ABS, P_SUM, F_NONE, 18},
    [R_L2] = {P_SUMSQ, P_SUM, F_SQRT, 18},    [R_LOGSUM] = {P_SUM, P_SUM, F_LOG, 18},
    [R_LSE] = {P_LSE, P_LSE, F_NONE, 18},     [R_SUMSQ] = {P_SUMSQ, P_SUM, F_NONE, 18},
};

enum path { PATH_F32, PATH_F64, PATH_I64 };

/* Lanes of a where mask m is set, else of b (C has no vector ?:). */
static inline f32x4 vsel(i32x4 m, f32x4 a, f32x4 b) { return (f32x4)((m & (i32x4)a) | (~m & (i32x4)b)); }

/* ---- float32 passes ---- */

static float ident_f(int op) {
  return op == P_PROD ? 1.0f : op == P_MAX || op == P_LSE ? -INFINITY : op == P_MIN ? INFINITY : 0.0f;
}

static float row_f32(int op, const float *x, int64_t n) {
  switch (op) {
  case P_SUM: return ferry_nn_sum_f32(x, n);
  case P_SUMSQ: return ferry_nn_sumsq_f32(x, n);
  case P_ABS: return ferry_nn_sumabs_f32(x, n);
  case P_MAX: return ferry_nn_max_f32(x, n);
  case P_MIN: return ferry_nn_min_f32(x, n);
  case P_PROD: return ferry_nn_prod_f32(x, n);
  default: {
    float m = ferry_nn_max_f32(x, n);
    return isfinite(m) ? m + logf(ferry_nn_exp_sum_f32(NULL, x, n, m)) : m;
  }
  }
}

/* y[0..w) = y op x[0..w), vectorized (LSE combines as max here). */
static void combine_f32(int op, float *y, const float *x, int64_t w) {
  int64_t i = 0;
  switch (op) {
  case P_SUM:
    for (; i + 4 <= w; i += 4) f32x4_store(y + i, f32x4_load(y + i) + f32x4_load(x + i));
    for (; i < w; i++) y[i] += x[i];
    break;
  case P_SUMSQ:
    for (; i + 4 <= w; i += 4) {
      f32x4 v = f32x4_load(x + i);
      f32x4_store(y + i, f32x4_load(y + i) + v * v);
    }
    for (; i < w; i++) y[i] += x[i] * x[i];
    break;
  case P_ABS:
    for (; i + 4 <= w; i += 4) {
      f32x4 v = f32x4_load(x + i);
      f32x4_store(y + i, f32x4_load(y + i) + vsel(v < 0, -v, v));
    }
    for (; i < w; i++) y[i] += fabsf(x[i]);
    break;
  case P_PROD:
    for (; i + 4 <= w; i += 4) f32x4_store(y + i, f32x4_load(y + i) * f32x4_load(x + i));
    for (; i < w; i++) y[i] *= x[i];
    break;
  case P_MIN:
    for (; i + 4 <= w; i += 4) {
      f32x4 a = f32x4_load(y + i), v = f32x4_load(x + i);
      f32x4_store(y + i, vsel((v < a) | (v != v), v, a));
    }
    for (; i < w; i++) y[i] = x[i] < y[i] || x[i] != x[i] ? x[i] : y[i];
    break;
  default: /* P_MAX, P_LSE */
    for (; i + 4 <= w; i += 4) {
      f32x4 a = f32x4_load(y + i), v = f32x4_load(x + i);
      f32x4_store(y + i, vsel((v > a) | (v != v), v, a));
    }
    for (; i < w; i++) y[i] = x[i] > y[i] || x[i] != x[i] ? x[i] : y[i];
    break;
  }
}

/* w columns of rn rows (row stride `st`) into y[0..w); aux: w floats. */
static void cols_f32(int op, const float *x, float *y, int64_t rn, int64_t st, int64_t w, float *aux) {
  for (int64_t j = 0; j < w; j++) y[j] = ident_f(op);
  for (int64_t r = 0; r < rn; r++) combine_f32(op, y, x + r * st, w);
  if (op != P_LSE) return;
  for (int64_t j = 0; j < w; j++) aux[j] = 0;
  for (int64_t r = 0; r < rn; r++)
    for (int64_t j = 0; j < w; j++) aux[j] += expf(x[r * st + j] - y[j]);
  for (int64_t j = 0; j < w; j++) y[j] = isfinite(y[j]) ? y[j] + logf(aux[j]) : y[j];
}

#define RCHUNK 512 /* columns per task */

typedef struct rpass {
  int op;
  const void *x;
  void *y;
  float *aux;
  int64_t outer, rn, inner, nch;
} rpass;

static void pass_f32_task(void *arg, int64_t b, int64_t e) {
  rpass *p = arg;
  for (int64_t t = b; t < e; t++) {
    int64_t o = t / p->nch, j0 = t % p->nch * RCHUNK, j1 = j0 + RCHUNK < p->inner ? j0 + RCHUNK : p->inner;
    const float *x = (const float *)p->x + o * p->rn * p->inner;
    float *y = (float *)p->y + o * p->inner;
    if (p->inner == 1)
      y[0] = row_f32(p->op, x, p->rn);
    else
      cols_f32(p->op, x + j0, y + j0, p->rn, p->inner, j1 - j0, p->aux ? p->aux + o * p->inner + j0 : NULL);
  }
}

/* ---- float64 and int64 passes (scalar) ---- */

static double ident_d(int op) {
  return op == P_PROD ? 1.0 : op == P_MAX || op == P_LSE ? -INFINITY : op == P_MIN ? INFINITY : 0.0;
}

static double comb_d(int op, double a, double v) {
  switch (op) {
  case P_SUM: return a + v;
  case P_SUMSQ: return a + v * v;
  case P_ABS: return a + fabs(v);
  case P_PROD: return a * v;
  case P_MIN: return v < a || v != v ? v : a;
  default: return v > a || v != v ? v : a;
  }
}

static void pass_f64(const rpass *p) {
  const double *x = p->x;
  double *y = p->y;
  for (int64_t o = 0; o < p->outer; o++)
    for (int64_t j = 0; j < p->inner; j++) {
      const double *s = x + o * p->rn * p->inner + j;
      double a = ident_d(p->op), sum = 0;
      for (int64_t r = 0; r < p->rn; r++) a = comb_d(p->op, a, s[r * p->inner]);
      if (p->op == P_LSE && isfinite(a)) {
        for (int64_t r = 0; r < p->rn; r++) sum += exp(s[r * p->inner] - a);
        a += log(sum);
      }
      y[o * p->inner + j] = a;
    }
}

/* Integer accumulation wraps (uint64 arithmetic), as integer tensors do. */
static int64_t comb_i(int op, int64_t a, int64_t v) {
  uint64_t ua = (uint64_t)a, uv = (uint64_t)v;
  switch (op) {
  case P_SUM: return (int64_t)(ua + uv);
  case P_SUMSQ: return (int64_t)(ua + uv * uv);
  case P_ABS: return (int64_t)(ua + (v < 0 ? 0 - uv : uv));
  case P_PROD: return (int64_t)(ua * uv);
  case P_MIN: return v < a ? v : a;
  default: return v > a ? v : a;
  }
}

/* The range of integer dtype dt as int64 keys (uint64 is stored flipped:
 * x ^ INT64_MIN orders like the unsigned value). */
static void key_range(int dt, int64_t *lo, int64_t *hi) {
  switch (dt) {
  case FERRY_I8: *lo = INT8_MIN, *hi = INT8_MAX; break;
  case FERRY_U8: *lo = 0, *hi = UINT8_MAX; break;
  case FERRY_I16: *lo = INT16_MIN, *hi = INT16_MAX; break;
  case FERRY_U16: *lo = 0, *hi = UINT16_MAX; break;
  case FERRY_I32: *lo = INT32_MIN, *hi = INT32_MAX; break;
  case FERRY_U32: *lo = 0, *hi = UINT32_MAX; break;
  case FERRY_BOOL: *lo = 0, *hi = 1; break;
  default: *lo = INT64_MIN, *hi = INT64_MAX; break;
  }
}

static int64_t ident_i(int op, int dt) {
  int64_t lo, hi;
  key_range(dt, &lo, &hi);
  return op == P_PROD ? 1 : op == P_MAX ? lo : op == P_MIN ? hi : 0;
}

static void pass_i64(const rpass *p, int dt) {
  const int64_t *x = p->x;
  int64_t *y = p->y;
  for (int64_t o = 0; o < p->outer; o++)
    for (int64_t j = 0; j < p->inner; j++) {
      const int64_t *s = x + o * p->rn * p->inner + j;
      int64_t a = ident_i(p->op, dt);
      for (int64_t r = 0; r < p->rn; r++) a = comb_i(p->op, a, s[r * p->inner]);
      y[o * p->inner + j] = a;
    }
}

/* ---- the plan: axes, output, blocks ---- */

typedef struct rplan {
  int op, path, dt, nb;
  int64_t size[FERRY_MAX_RANK];
  int red[FERRY_MAX_RANK];
  int64_t count; /* elements reduced into each output element */
} rplan;

/* The axes to reduce into mark[]; 0, or 1 when the op is a no-op copy. */
static int read_axes(ferry_kctx *k, int op, int *mark, int *noop) {
  const ferry_tview *x = &k->in[0];
  int64_t ax[FERRY_MAX_RANK * 4];
  const int64_t *a;
  int n = 0;
  if (k->opset >= rops[op].axes_input_opset) {
    const ferry_tview *t = k->n_in > 1 && k->in[1].data ? &k->in[1] : NULL;
    if (t && t->numel > (int64_t)(sizeof ax / sizeof *ax)) return ferry_kernel_fail(k, "too many axes (%lld)", (long long)t->numel);
    for (n = 0; t && n < t->numel; n++) ax[n] = ferry_load_i64(t->data, t->dtype, n);
  } else {
    n = ferry_attr_ints(k->sctx, "axes", &a);
    if (n > (int)(sizeof ax / sizeof *ax)) return ferry_kernel_fail(k, "too many axes (%d)", n);
    if (n) memcpy(ax, a, (size_t)n * sizeof *ax);
  }
  *noop = n == 0 && ferry_attr_int(k->sctx, "noop_with_empty_axes", 0) != 0;
  for (int i = 0; i < x->rank; i++) mark[i] = n == 0;
  for (int i = 0; i < n; i++) {
    int d = ferry_axis(ax[i], x->rank);
    if (d < 0) return ferry_kernel_fail(k, "axis %lld is out of range for rank %d", (long long)ax[i], x->rank);
    mark[d] = 1;
  }
  return FERRY_OK;
}

static int reduce_plan(ferry_kctx *k, int op, rplan *p, int *noop) {
  const ferry_tview *x = &k->in[0];
  int mark[FERRY_MAX_RANK], rc = read_axes(k, op, mark, noop), keep = ferry_attr_int(k->sctx, "keepdims", 1) != 0;
  if (rc) return rc;
  if (*noop) return ferry_nn_out(k, 0, x->dtype, x->rank, x->dims);
  int64_t od[FERRY_MAX_RANK];
  int orank = 0;
  p->op = op, p->dt = x->dtype, p->nb = 0, p->count = 1;
  for (int i = 0; i < x->rank; i++) {
    if (!mark[i] || keep) od[orank++] = mark[i] ? 1 : x->dims[i];
    if (mark[i]) p->count *= x->dims[i];
    if (x->dims[i] == 1) continue;
    if (p->nb && p->red[p->nb - 1] == mark[i]) {
      p->size[p->nb - 1] *= x->dims[i];
    } else {
      p->size[p->nb] = x->dims[i];
      p->red[p->nb++] = mark[i];
    }
  }
  int fin = rops[op].finish, fl = ferry_dtype_is_float(x->dtype);
  p->path = x->dtype == FERRY_F32 ? PATH_F32 : fl || fin == F_SQRT || fin == F_LOG || op == R_LSE ? PATH_F64 : PATH_I64;
  return ferry_nn_out(k, 0, x->dtype, orank, od);
}

/* ---- running the passes ---- */

static size_t elem_size(int path) { return path == PATH_F32 ? sizeof(float) : sizeof(double); }

/* The input converted for the path: floats as they are, doubles, or
 * int64 keys (uint64 flipped for max/min). */
static const void *path_input(ferry_kctx *k, const rplan *p) {
  const ferry_tview *x = &k->in[0];
  if (p->path == PATH_F32) return x->data;
  if (p->path == PATH_F64) return ferry_nn_load(k, x);
  int64_t *v = ferry_nn_scratch(k, x->numel, sizeof(int64_t));
  if (!v) return NULL;
  int flip = x->dtype == FERRY_U64 && (p->op == R_MAX || p->op == R_MIN);
  for (int64_t i = 0; i < x->numel; i++) v[i] = ferry_load_i64(x->data, x->dtype, i) ^ (flip ? INT64_MIN : 0);
  return v;
}

/* One pass of `op` over [outer, rn, inner] from src into a new buffer. */
static void *run_pass(ferry_kctx *k, const rplan *p, int op, const void *src, int64_t outer, int64_t rn, int64_t inner) {
  rpass t = {op, src, NULL, NULL, outer, rn, inner, (inner + RCHUNK - 1) / RCHUNK};
  if (!(t.y = ferry_nn_scratch(k, outer * inner, elem_size(p->path)))) return NULL;
  if (p->path == PATH_F32) {
    if (op == P_LSE && inner > 1 && !(t.aux = ferry_nn_scratch(k, outer * inner, sizeof(float)))) return NULL;
    k->parallel(k, outer * t.nch, pass_f32_task, &t);
  } else if (p->path == PATH_F64) {
    pass_f64(&t);
  } else {
    pass_i64(&t, p->dt == FERRY_U64 ? FERRY_I64 : p->dt);
  }
  return t.y;
}

/* Reduces the innermost reduced block until none is left. */
static const void *run_passes(ferry_kctx *k, rplan *p, const void *src) {
  int op = rops[p->op].first, did = 0;
  for (;;) {
    int j = p->nb - 1;
    while (j >= 0 && !p->red[j]) j--;
    if (j < 0) break;
    int64_t outer = ferry_nn_prod(p->size, 0, j), inner = ferry_nn_prod(p->size, j + 1, p->nb);
    if (!(src = run_pass(k, p, op, src, outer, p->size[j], inner))) return NULL;
    op = rops[p->op].later, did = 1;
    if (j > 0 && j + 1 < p->nb) { /* merge the kept neighbours */
      p->size[j - 1] *= p->size[j + 1];
      memmove(p->size + j, p->size + j + 2, (size_t)(p->nb - j - 2) * sizeof *p->size);
      memmove(p->red + j, p->red + j + 2, (size_t)(p->nb - j - 2) * sizeof *p->red);
      p->nb -= 2;
    } else {
      memmove(p->size + j, p->size + j + 1, (size_t)(p->nb - j - 1) * sizeof *p->size);
      memmove(p->red + j, p->red + j + 1, (size_t)(p->nb - j - 1) * sizeof *p->red);
      p->nb -= 1;
    }
  }
  if (!did) src = run_pass(k, p, op, src, ferry_nn_prod(p->size, 0, p->nb), 1, 1); /* x^2, |x|... */
  return src;
}

/* Identity values for an empty reduction (count 0). */
static void *empty_result(ferry_kctx *k, const rplan *p, int64_t n) {
  void *v = ferry_nn_scratch(k, n, elem_size(p->path));
  int op = rops[p->op].first;
  for (int64_t i = 0; v && i < n; i++) {
    if (p->path == PATH_F32) ((float *)v)[i] = ident_f(op);
    else if (p->path == PATH_F64) ((double *)v)[i] = ident_d(op);
    else ((int64_t *)v)[i] = ident_i(op, p->dt);
  }
  return v;
}

static double finish_d(int fin, double v, int64_t count) {
  if (fin == F_MEAN) return count ? v / (double)count : NAN; /* the mean of nothing */
  return fin == F_SQRT ? sqrt(v) : fin == F_LOG ? log(v) : v;
}

static void store_result(ferry_kctx *k, const rplan *p, const void *v) {
  ferry_tview *y = &k->out[0];
  int fin = rops[p->op].finish;
  if (p->path == PATH_F32) {
    const float *s = v;
    float *d = y->data;
    float cnt = (float)p->count;
    for (int64_t i = 0; i < y->numel; i++)
      d[i] = fin == F_NONE ? s[i] : fin == F_MEAN ? (cnt ? s[i] / cnt : NAN) : fin == F_SQRT ? sqrtf(s[i]) : logf(s[i]);
  } else if (p->path == PATH_F64) {
    double *s = (double *)v;
    for (int64_t i = 0; i < y->numel; i++) s[i] = finish_d(fin, s[i], p->count);
    ferry_nn_store(y, s, y->numel);
  } else {
    const int64_t *s = v;
    int flip = p->dt == FERRY_U64 && (p->op == R_MAX || p->op == R_MIN);
    for (int64_t i = 0; i < y->numel; i++) {
      int64_t r = fin == F_MEAN ? (p->count ? s[i] / p->count : 0) : s[i];
      ferry_store_i64(y->data, y->dtype, i, r ^ (flip ? INT64_MIN : 0));
    }
  }
}

static int reduce(ferry_kctx *k, int op) {
  const ferry_tview *x = &k->in[0];
  rplan p;
  int noop = 0, rc = reduce_plan(k, op, &p, &noop);
  if (rc) return rc;
  if (noop) {
    if (x->numel) memcpy(k->out[0].data, x->data, (size_t)x->numel * (size_t)ferry_dtype_size(x->dtype));
    return FERRY_OK;
  }
  if (k->out[0].numel == 0) return FERRY_OK;
  const void *v;
  if (x->numel == 0) {
    p.count = 0;
    v = empty_result(k, &p, k->out[0].numel);
  } else {
    v = path_input(k, &p);
    if (v) v = run_passes(k, &p, v);
  }
  if (!v) return FERRY_E_SYSTEM;
  store_result(k, &p, v);
  return FERRY_OK;
}

int ferry_kernel_ReduceSum(ferry_kctx *k) { return reduce(k, R_SUM); }
int ferry_kernel_ReduceMean(ferry_kctx *k) { return reduce(k, R_MEAN); }
int ferry_kernel_ReduceMax(ferry_kctx *k) { return reduce(k, R_MAX); }
int ferry_kernel_ReduceMin(ferry_kctx *k) { return reduce(k, R_MIN); }
int ferry_kernel_ReduceProd(ferry_kctx *k) { return reduce(k, R_PROD); }
int ferry_kernel_ReduceL1(ferry_kctx *k) { return reduce(k, R_L1); }
int ferry_kernel_ReduceL2(ferry_kctx *k) { return reduce(k, R_L2); }
int ferry_kernel_ReduceLogSum(ferry_kctx *k) { return reduce(k, R_LOGSUM); }
int ferry_kernel_ReduceLogSumExp(ferry_kctx *k) { return reduce(k, R_LSE); }
int ferry_kernel_ReduceSumSquare(ferry_kctx *k) { return reduce(k, R_SUMSQ); }

/* ---- ordered keys: ArgMax, ArgMin, TopK ---- */

/* Element i of t as a uint64 whose unsigned order is the value order;
 * NaN maps to nan_key, -0.0 equals 0.0. */
static uint64_t order_key(const ferry_tview *t, int64_t i, uint64_t nan_key) {
  if (ferry_dtype_is_float(t->dtype)) {
    double v = ferry_load_f64(t->data, t->dtype, i);
    uint64_t b;
    if (v != v) return nan_key;
    if (v == 0) v = 0;
    memcpy(&b, &v, sizeof b);
    return b >> 63 ? ~b : b | (UINT64_C(1) << 63);
  }
  if (t->dtype == FERRY_U64) return ((const uint64_t *)t->data)[i];
  return (uint64_t)ferry_load_i64(t->data, t->dtype, i) ^ (UINT64_C(1) << 63);
}

/* [outer, n, inner] of `axis` in t (axis already checked). */
static void axis_geom(const ferry_tview *t, int a, int64_t *outer, int64_t *n, int64_t *inner) {
  *outer = ferry_nn_prod(t->dims, 0, a);
  *n = t->dims[a];
  *inner = ferry_nn_prod(t->dims, a + 1, t->rank);
}

/* ArgMax/ArgMin of a contiguous float32 row: the same order as
 * order_key() (NaN wins, -0.0 == 0.0) without converting every element. */
static int64_t arg_row_f32(const float *x, int64_t n, int want_max, int last) {
  int64_t best = 0;
  float b = x[0];
  for (int64_t r = 1; r < n; r++) {
    float v = x[r];
    if (b != b && !last) break; /* the first NaN wins */
    int better = v != v ? b == b || last : b != b ? 0 : want_max ? v > b : v < b;
    if (better || (last && v == b)) best = r, b = v;
  }
  return best;
}

static int arg_reduce(ferry_kctx *k, int want_max) {
  const ferry_tview *x = &k->in[0];
  int64_t axis = ferry_attr_int(k->sctx, "axis", 0), outer, n, inner, od[FERRY_MAX_RANK];
  int keep = ferry_attr_int(k->sctx, "keepdims", 1) != 0, last = ferry_attr_int(k->sctx, "select_last_index", 0) != 0;
  int a = ferry_axis(axis, x->rank), orank = 0;
  if (a < 0) return ferry_kernel_fail(k, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  for (int i = 0; i < x->rank; i++)
    if (i != a || keep) od[orank++] = i == a ? 1 : x->dims[i];
  int rc = ferry_nn_out(k, 0, FERRY_I64, orank, od);
  if (rc) return rc;
  axis_geom(x, a, &outer, &n, &inner);
  if (n == 0 && outer * inner > 0) return ferry_kernel_fail(k, "cannot take %s over an empty axis", want_max ? "ArgMax" : "ArgMin");
  int64_t *y = k->out[0].data;
  uint64_t nan_key = want_max ? UINT64_MAX : 0;
  if (x->dtype == FERRY_F32 && inner == 1) {
    for (int64_t o = 0; o < outer; o++) y[o] = arg_row_f32((const float *)x->data + o * n, n, want_max, last);
    return FERRY_OK;
  }
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < inner; j++) {
      int64_t base = o * n * inner + j, best = 0;
      uint64_t bk = order_key(x, base, nan_key);
      for (int64_t r = 1; r < n; r++) {
        uint64_t kr = order_key(x, base + r * inner, nan_key);
        int better = want_max ? kr > bk : kr < bk;
        if (better || (last && kr == bk)) best = r, bk = kr;
      }
      y[o * inner + j] = best;
    }
  return FERRY_OK;
}

int ferry_kernel_ArgMax(ferry_kctx *k) { return arg_reduce(k, 1); }
int ferry_kernel_ArgMin(ferry_kctx *k) { return arg_reduce(k, 0); }

typedef struct kent {
  uint64_t key;
  int64_t idx;
} kent;

/* 1 when a ranks before b: the better key, then the lower index. */
static int before(const kent *a, const kent *b, int largest) {
  if (a->key != b->key) return largest ? a->key > b->key : a->key < b->key;
  return a->idx < b->idx;
}

/* Restores the heap (worst entry at the root) below position i. */
static void sift_down(kent *h, int64_t n, int64_t i, int largest) {
  for (;;) {
    int64_t w = i, l = 2 * i + 1, r = l + 1;
    if (l < n && before(&h[w], &h[l], largest)) w = l;
    if (r < n && before(&h[w], &h[r], largest)) w = r;
    if (w == i) return;
    kent t = h[i];
    h[i] = h[w], h[w] = t;
    i = w;
  }
}

/* The best kk entries of one slice, best first, into h. */
static void top_slice(const ferry_tview *x, int64_t base, int64_t n, int64_t st, int64_t kk, int largest, kent *h) {
  int64_t m = 0;
  for (int64_t r = 0; r < n; r++) {
    kent e = {order_key(x, base + r * st, UINT64_MAX), r};
    if (m < kk) {
      h[m++] = e;
      for (int64_t i = m - 1; i > 0 && before(&h[(i - 1) / 2], &h[i], largest); i = (i - 1) / 2) {
        kent t = h[i];
        h[i] = h[(i - 1) / 2], h[(i - 1) / 2] = t;
      }
    } else if (kk > 0 && before(&e, &h[0], largest)) {
      h[0] = e;
      sift_down(h, m, 0, largest);
    }
  }
  for (int64_t end = m - 1; end > 0; end--) { /* heap sort: worst to the back */
    kent t = h[0];
    h[0] = h[end], h[end] = t;
    sift_down(h, end, 0, largest);
  }
}

/* X, K -> the k largest (or smallest) values along axis and their indices. */
int ferry_kernel_TopK(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int64_t axis = ferry_attr_int(k->sctx, "axis", -1), outer, n, inner, kk;
  int largest = ferry_attr_int(k->sctx, "largest", 1) != 0, a = ferry_axis(axis, x->rank);
  if (a < 0) return ferry_kernel_fail(k, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  if (k->opset < 10)
    kk = ferry_attr_int(k->sctx, "k", -1);
  else if (k->n_in < 2 || !k->in[1].data || k->in[1].numel != 1)
    return ferry_kernel_fail(k, "K must be a tensor of one value");
  else
    kk = ferry_load_i64(k->in[1].data, k->in[1].dtype, 0);
  axis_geom(x, a, &outer, &n, &inner);
  if (kk < 0 || kk > n) return ferry_kernel_fail(k, "k %lld is out of range for an axis of %lld", (long long)kk, (long long)n);
  int64_t od[FERRY_MAX_RANK];
  memcpy(od, x->dims, (size_t)x->rank * sizeof *od);
  od[a] = kk;
  int rc = ferry_nn_out(k, 0, x->dtype, x->rank, od);
  if (rc || (rc = ferry_nn_out(k, 1, FERRY_I64, x->rank, od))) return rc;
  kent *h = ferry_nn_scratch(k, kk ? kk : 1, sizeof *h);
  if (!h) return FERRY_E_SYSTEM;
  size_t es = (size_t)ferry_dtype_size(x->dtype);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < inner; j++) {
      int64_t base = o * n * inner + j, obase = o * kk * inner + j;
      top_slice(x, base, n, inner, kk, largest, h);
      for (int64_t r = 0; r < kk; r++) {
        int64_t at = obase + r * inner;
        memcpy((char *)k->out[0].data + (size_t)at * es, (const char *)x->data + (size_t)(base + h[r].idx * inner) * es, es);
        if (k->n_out > 1) ((int64_t *)k->out[1].data)[at] = h[r].idx;
      }
    }
  return FERRY_OK;
}
