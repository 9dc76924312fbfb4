/*
 * nn_norm.c - normalization kernels and the softmax family:
 * BatchNormalization, InstanceNormalization, LayerNormalization,
 * GroupNormalization, LpNormalization, MeanVarianceNormalization, LRN,
 * Softmax, LogSoftmax, Hardmax.
 *
 * How the parts fit: every op views its input as [outer, n, inner] around
 * the axis (or axes) it works on. float32 inputs take a fast path on
 * simd.h vectors (nn_util.c's row primitives) split across threads with
 * k->parallel; every other dtype loads the tensor as doubles, computes in
 * double and stores back (ferry_nn_load/ferry_nn_store), which is exact for
 * float16/bfloat16 and keeps float64 at full precision.
 */
#include <math.h>
#include <string.h>

#include "nn.h"
#include "simd.h"
#include "util.h"

/* ---- softmax family ---- */

enum smx_mode { SMX_SOFTMAX, SMX_LOG, SMX_HARD };

typedef struct smx {
  int mode;
  int64_t outer, n, inner;
  const float *x;
  float *y, *acc; /* acc: 2 * inner floats per outer index (column case) */
} smx;

/* [outer, n, inner] of the softmax axis: opset < 13 coerces the input to
 * 2-D at `axis` (default 1), later opsets work along one axis (default -1). */
static int smx_geom(ferry_kctx *k, smx *s) {
  const ferry_tview *x = &k->in[0];
  int old = k->opset < 13, r = x->rank;
  int64_t axis = ferry_attr_int(k->sctx, "axis", old ? 1 : -1);
  if (old && r < 2 && !ferry_attr_has(k->sctx, "axis")) axis = 0;
  int a = r == 0 ? 0 : ferry_axis(axis, r);
  if (a < 0) return ferry_kernel_fail(k, "axis %lld is out of range for rank %d", (long long)axis, r);
  s->outer = ferry_nn_prod(x->dims, 0, a);
  s->n = r == 0 ? 1 : old ? ferry_nn_prod(x->dims, a, r) : x->dims[a];
  s->inner = r == 0 || old ? 1 : ferry_nn_prod(x->dims, a + 1, r);
  return FERRY_OK;
}

/* One contiguous row of n floats. */
static void smx_row_f32(int mode, const float *x, float *y, int64_t n) {
  float m = ferry_nn_max_f32(x, n);
  if (mode == SMX_SOFTMAX) {
    float inv = 1.0f / ferry_nn_exp_sum_f32(y, x, n, m);
    ferry_nn_affine_f32(y, y, n, inv, 0.0f);
  } else {
    float lse = logf(ferry_nn_exp_sum_f32(NULL, x, n, m));
    ferry_nn_affine_f32(y, x, n, 1.0f, -m);
    ferry_nn_affine_f32(y, y, n, 1.0f, -lse);
  }
}

/* Lanes of a where mask m is set, else of b (C has no vector ?:). */
static inline f32x4 vsel(i32x4 m, f32x4 a, f32x4 b) { return (f32x4)((m & (i32x4)a) | (~m & (i32x4)b)); }

/* n rows of `inner` floats, reduced column-wise; m and sum hold inner
 * floats each. Vector loops over the columns, NaN propagating in the max. */
static void smx_cols_f32(int mode, const float *x, float *y, int64_t n, int64_t inner, float *m, float *sum) {
  int64_t j;
  for (j = 0; j < inner; j++) m[j] = -INFINITY, sum[j] = 0;
  for (int64_t r = 0; r < n; r++) {
    const float *xr = x + r * inner;
    for (j = 0; j + 4 <= inner; j += 4) {
      f32x4 a = f32x4_load(m + j), v = f32x4_load(xr + j);
      f32x4_store(m + j, vsel((v > a) | (v != v), v, a));
    }
    for (; j < inner; j++) m[j] = xr[j] > m[j] || xr[j] != xr[j] ? xr[j] : m[j];
  }
  for (int64_t r = 0; r < n; r++) {
    const float *xr = x + r * inner;
    float *yr = y + r * inner;
    for (j = 0; j + 4 <= inner; j += 4) f32x4_store(yr + j, f32x4_load(xr + j) - f32x4_load(m + j));
    for (; j < inner; j++) yr[j] = xr[j] - m[j];
    if (mode == SMX_SOFTMAX) {
      ferry_nn_exp_sum_f32(yr, yr, inner, 0.0f);
      for (j = 0; j + 4 <= inner; j += 4) f32x4_store(sum + j, f32x4_load(sum + j) + f32x4_load(yr + j));
      for (; j < inner; j++) sum[j] += yr[j];
    } else {
      for (j = 0; j < inner; j++) sum[j] += expf(yr[j]);
    }
  }
  for (j = 0; j < inner; j++) sum[j] = mode == SMX_SOFTMAX ? 1.0f / sum[j] : logf(sum[j]);
  for (int64_t r = 0; r < n; r++) {
    float *yr = y + r * inner;
    for (j = 0; j + 4 <= inner; j += 4) {
      f32x4 v = f32x4_load(yr + j), s = f32x4_load(sum + j);
      f32x4_store(yr + j, mode == SMX_SOFTMAX ? v * s : v - s);
    }
    for (; j < inner; j++) yr[j] = mode == SMX_SOFTMAX ? yr[j] * sum[j] : yr[j] - sum[j];
  }
}

static void smx_task_f32(void *arg, int64_t b, int64_t e) {
  smx *s = arg;
  for (int64_t o = b; o < e; o++) {
    const float *x = s->x + o * s->n * s->inner;
    float *y = s->y + o * s->n * s->inner;
    if (s->inner == 1)
      smx_row_f32(s->mode, x, y, s->n);
    else
      smx_cols_f32(s->mode, x, y, s->n, s->inner, s->acc + o * 2 * s->inner, s->acc + (o * 2 + 1) * s->inner);
  }
}

/* Generic path: one [n] slice with stride `inner`, in place on doubles. */
static void smx_slice_f64(int mode, double *v, int64_t n, int64_t st) {
  double m = -INFINITY, sum = 0;
  int64_t best = 0;
  for (int64_t r = 0; r < n; r++) {
    double x = v[r * st];
    if (x > m || (x != x && m == m)) m = x, best = r;
  }
  if (mode == SMX_HARD) {
    for (int64_t r = 0; r < n; r++) v[r * st] = r == best;
    return;
  }
  for (int64_t r = 0; r < n; r++) sum += exp(v[r * st] - m);
  for (int64_t r = 0; r < n; r++)
    v[r * st] = mode == SMX_SOFTMAX ? exp(v[r * st] - m) / sum : (v[r * st] - m) - log(sum);
}

static int softmax_family(ferry_kctx *k, int mode) {
  const ferry_tview *x = &k->in[0];
  smx s;
  int rc = smx_geom(k, &s);
  if (rc || (rc = ferry_nn_out(k, 0, x->dtype, x->rank, x->dims))) return rc;
  if (x->numel == 0) return FERRY_OK;
  if (x->dtype == FERRY_F32 && mode != SMX_HARD) {
    s.mode = mode, s.x = x->data, s.y = k->out[0].data, s.acc = NULL;
    if (s.inner > 1 && !(s.acc = ferry_nn_scratch(k, 2 * s.outer * s.inner, sizeof(float))))
      return FERRY_E_SYSTEM;
    k->parallel(k, s.outer, smx_task_f32, &s);
    return FERRY_OK;
  }
  double *v = ferry_nn_load(k, x);
  if (!v) return FERRY_E_SYSTEM;
  for (int64_t o = 0; o < s.outer; o++)
    for (int64_t j = 0; j < s.inner; j++) smx_slice_f64(mode, v + o * s.n * s.inner + j, s.n, s.inner);
  ferry_nn_store(&k->out[0], v, x->numel);
  return FERRY_OK;
}

int ferry_kernel_Softmax(ferry_kctx *k) { return softmax_family(k, SMX_SOFTMAX); }
int ferry_kernel_LogSoftmax(ferry_kctx *k) { return softmax_family(k, SMX_LOG); }
int ferry_kernel_Hardmax(ferry_kctx *k) { return softmax_family(k, SMX_HARD); }

/* ---- per-channel affine: BatchNormalization, Instance/GroupNormalization ---- */

/* y = x * a[c] + b[c] over planes of `plane` elements, channel c = plane
 * index % channels (float32, parallel over planes). */
typedef struct affine {
  const float *x;
  float *y;
  const double *a, *b;
  int64_t plane, channels;
} affine;

static void affine_task(void *arg, int64_t b, int64_t e) {
  affine *t = arg;
  for (int64_t p = b; p < e; p++) {
    int64_t c = p % t->channels;
    ferry_nn_affine_f32(t->y + p * t->plane, t->x + p * t->plane, t->plane, (float)t->a[c], (float)t->b[c]);
  }
}

/* Input i (a per-channel parameter) as `n` doubles, checked. */
static double *param(ferry_kctx *k, int i, int64_t n, const char *name) {
  if (i >= k->n_in || !k->in[i].data) return ferry_kernel_fail(k, "input %s is missing", name), NULL;
  if (k->in[i].numel != n)
    return ferry_kernel_fail(k, "%s has %lld elements, expected %lld", name, (long long)k->in[i].numel, (long long)n),
           NULL;
  return ferry_nn_load(k, &k->in[i]);
}

/* Applies y = x * a[c] + b[c] for planes of `plane` elements. */
static int apply_affine(ferry_kctx *k, const double *a, const double *b, int64_t plane, int64_t channels) {
  const ferry_tview *x = &k->in[0];
  ferry_tview *y = &k->out[0];
  int64_t planes = plane ? x->numel / plane : 0;
  if (x->dtype == FERRY_F32) {
    affine t = {x->data, y->data, a, b, plane, channels};
    k->parallel(k, planes, affine_task, &t);
    return FERRY_OK;
  }
  double *v = ferry_nn_load(k, x);
  if (!v) return FERRY_E_SYSTEM;
  for (int64_t p = 0; p < planes; p++)
    for (int64_t i = 0; i < plane; i++) v[p * plane + i] = v[p * plane + i] * a[p % channels] + b[p % channels];
  ferry_nn_store(y, v, x->numel);
  return FERRY_OK;
}

/* Mean and variance of channel c over N planes of S elements (stride C*S). */
static void channel_moments(const double *v, int64_t N, int64_t C, int64_t S, int64_t c, double *mean, double *var) {
  double s = 0, q = 0, cnt = (double)(N * S);
  for (int64_t n = 0; n < N; n++)
    for (int64_t i = 0; i < S; i++) s += v[(n * C + c) * S + i];
  s /= cnt;
  for (int64_t n = 0; n < N; n++)
    for (int64_t i = 0; i < S; i++) q += (v[(n * C + c) * S + i] - s) * (v[(n * C + c) * S + i] - s);
  *mean = s, *var = q / cnt;
}

/* Writes statistics output i (C values) if the node has it. */
static int bn_stat_out(ferry_kctx *k, int i, const double *v, int64_t C, const ferry_tview *x, int spatial0) {
  if (i >= k->n_out) return FERRY_OK;
  int dt = k->out[i].dtype ? k->out[i].dtype : k->in[3].dtype;
  int rc = spatial0 ? ferry_nn_out(k, i, dt, x->rank - 1, x->dims + 1) : ferry_nn_out(k, i, dt, 1, &C);
  if (rc) return rc;
  if (k->out[i].data) ferry_nn_store(&k->out[i], v, C);
  return FERRY_OK;
}

/* Batch statistics (training mode or statistics outputs): saved mean and
 * var replace mean/var for Y when `use`; running stats go to outputs. */
static int bn_training(ferry_kctx *k, double *mean, double *var, int64_t N, int64_t C, int64_t S, int use,
                       int spatial0) {
  const ferry_tview *x = &k->in[0];
  double *v = ferry_nn_load(k, x), *bm = ferry_nn_scratch(k, 4 * C, sizeof(double));
  if (!v || !bm) return FERRY_E_SYSTEM;
  double *bv = bm + C, *rm = bm + 2 * C, *rv = bm + 3 * C, mom = ferry_attr_float(k->sctx, "momentum", 0.9f);
  for (int64_t c = 0; c < C; c++) {
    channel_moments(v, N, C, S, c, &bm[c], &bv[c]);
    rm[c] = mean[c] * mom + bm[c] * (1 - mom);
    rv[c] = var[c] * mom + bv[c] * (1 - mom);
  }
  int rc;
  if ((rc = bn_stat_out(k, 1, rm, C, x, spatial0)) || (rc = bn_stat_out(k, 2, rv, C, x, spatial0)) ||
      (rc = bn_stat_out(k, 3, bm, C, x, spatial0)) || (rc = bn_stat_out(k, 4, bv, C, x, spatial0)))
    return rc;
  if (use) memcpy(mean, bm, (size_t)C * sizeof *mean), memcpy(var, bv, (size_t)C * sizeof *var);
  return FERRY_OK;
}

/* X, scale, B, mean, var: y = (x - mean) / sqrt(var + eps) * scale + B per
 * channel (opset < 9 with spatial = 0: per element of a sample). Training
 * mode (opset >= 14) normalizes with the batch statistics and outputs the
 * running ones. */
int ferry_kernel_BatchNormalization(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  if (x->rank < 2) return ferry_kernel_fail(k, "input must have rank >= 2, got %d", x->rank);
  int spatial0 = k->opset < 9 && ferry_attr_int(k->sctx, "spatial", 1) == 0;
  int training = k->opset >= 14 && ferry_attr_int(k->sctx, "training_mode", 0) != 0;
  int64_t N = x->dims[0], C = spatial0 ? ferry_nn_prod(x->dims, 1, x->rank) : x->dims[1];
  int64_t S = spatial0 ? 1 : ferry_nn_prod(x->dims, 2, x->rank);
  double eps = ferry_attr_float(k->sctx, "epsilon", 1e-5f);
  double *sc = param(k, 1, C, "scale"), *b = sc ? param(k, 2, C, "B") : NULL;
  double *mean = b ? param(k, 3, C, "mean") : NULL, *var = mean ? param(k, 4, C, "var") : NULL;
  if (!var) return FERRY_E_INPUT;
  int rc = ferry_nn_out(k, 0, x->dtype, x->rank, x->dims);
  if (rc) return rc;
  if ((training || k->n_out > 1) && N * S > 0 && (rc = bn_training(k, mean, var, N, C, S, training, spatial0)))
    return rc;
  for (int64_t c = 0; c < C; c++) {
    double a = sc[c] / sqrt(var[c] + eps);
    sc[c] = a;
    b[c] -= mean[c] * a;
  }
  return apply_affine(k, sc, b, S, C);
}

/* Normalizes groups of `len` contiguous elements (G groups per sample,
 * C/G channels of S elements each) with per-channel scale and bias. */
static int group_norm(ferry_kctx *k, int64_t G, const double *scale, const double *bias, double eps) {
  const ferry_tview *x = &k->in[0];
  int64_t N = x->dims[0], C = x->dims[1], S = ferry_nn_prod(x->dims, 2, x->rank), len = C / G * S;
  double *a = ferry_nn_scratch(k, 2 * N * C, sizeof(double));
  if (!a) return FERRY_E_SYSTEM;
  double *b = a + N * C, *v = x->dtype == FERRY_F32 ? NULL : ferry_nn_load(k, x);
  if (x->dtype != FERRY_F32 && !v) return FERRY_E_SYSTEM;
  for (int64_t ng = 0; ng < N * G; ng++) {
    double mean, var;
    if (v) {
      ferry_nn_moments_f64(v + ng * len, len, &mean, &var);
    } else {
      float fm, fv;
      ferry_nn_moments_f32((const float *)x->data + ng * len, len, &fm, &fv);
      mean = fm, var = fv;
    }
    double inv = 1 / sqrt(var + eps);
    for (int64_t c = ng % G * (C / G); c < (ng % G + 1) * (C / G); c++) {
      int64_t nc = ng / G * C + c;
      a[nc] = scale[c] * inv;
      b[nc] = bias[c] - mean * a[nc];
    }
  }
  return apply_affine(k, a, b, S, N * C);
}

/* X [N, C, ...], scale [C], B [C]: each (n, c) plane normalized. */
int ferry_kernel_InstanceNormalization(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  if (x->rank < 2) return ferry_kernel_fail(k, "input must have rank >= 2, got %d", x->rank);
  double *sc = param(k, 1, x->dims[1], "scale"), *b = sc ? param(k, 2, x->dims[1], "B") : NULL;
  if (!b) return FERRY_E_INPUT;
  int rc = ferry_nn_out(k, 0, x->dtype, x->rank, x->dims);
  if (rc || x->numel == 0) return rc;
  return group_norm(k, x->dims[1], sc, b, ferry_attr_float(k->sctx, "epsilon", 1e-5f));
}

/* X [N, C, ...], scale and bias per group (opset 18) or per channel (21). */
int ferry_kernel_GroupNormalization(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int64_t G = ferry_attr_int(k->sctx, "num_groups", 0);
  if (x->rank < 2) return ferry_kernel_fail(k, "input must have rank >= 2, got %d", x->rank);
  int64_t C = x->dims[1];
  if (G < 1 || C % G) return ferry_kernel_fail(k, "num_groups %lld does not divide %lld channels", (long long)G, (long long)C);
  if (k->n_in < 3 || !k->in[1].data || !k->in[2].data) return ferry_kernel_fail(k, "scale and bias are required");
  int per_channel = k->in[1].numel == C && (k->opset >= 21 || C != G);
  int64_t n = per_channel ? C : G;
  double *sc = param(k, 1, n, "scale"), *b = sc ? param(k, 2, n, "bias") : NULL;
  double *csc = b ? ferry_nn_scratch(k, 2 * C, sizeof(double)) : NULL;
  if (!csc) return k->err[0] ? FERRY_E_INPUT : FERRY_E_SYSTEM;
  for (int64_t c = 0; c < C; c++) {
    csc[c] = sc[per_channel ? c : c / (C / G)];
    csc[C + c] = b[per_channel ? c : c / (C / G)];
  }
  int rc = ferry_nn_out(k, 0, x->dtype, x->rank, x->dims);
  if (rc || x->numel == 0) return rc;
  return group_norm(k, G, csc, csc + C, ferry_attr_float(k->sctx, "epsilon", 1e-5f));
}

/* ---- LayerNormalization ---- */

typedef struct lnorm {
  const float *x;
  float *y, *mean, *inv;
  const float *scale, *bias; /* expanded to d floats */
  int64_t d;
  float eps;
} lnorm;

static void lnorm_task(void *arg, int64_t b, int64_t e) {
  lnorm *t = arg;
  for (int64_t r = b; r < e; r++) {
    const float *x = t->x + r * t->d;
    float *y = t->y + r * t->d, m, var;
    ferry_nn_moments_f32(x, t->d, &m, &var);
    float inv = 1.0f / sqrtf(var + t->eps);
    f32x4 vm = f32x4_splat(m), vi = f32x4_splat(inv);
    int64_t i = 0;
    for (; i + 4 <= t->d; i += 4)
      f32x4_store(y + i, (f32x4_load(x + i) - vm) * vi * f32x4_load(t->scale + i) + f32x4_load(t->bias + i));
    for (; i < t->d; i++) y[i] = (x[i] - m) * inv * t->scale[i] + t->bias[i];
    if (t->mean) t->mean[r] = m;
    if (t->inv) t->inv[r] = inv;
  }
}

/* Input i broadcast (numpy, right-aligned) to dims[0..r) as d doubles;
 * absent: all `dflt`. */
static double *expand_param(ferry_kctx *k, int i, int r, const int64_t *dims, int64_t d, double dflt) {
  double *v = ferry_nn_scratch(k, d, sizeof(double));
  if (!v) return NULL;
  if (i >= k->n_in || !k->in[i].data) {
    for (int64_t j = 0; j < d; j++) v[j] = dflt;
    return v;
  }
  const ferry_tview *p = &k->in[i];
  if (p->rank > r) return ferry_kernel_fail(k, "input %d has rank %d, more than the %d normalized axes", i, p->rank, r), NULL;
  for (int j = 0; j < p->rank; j++)
    if (p->dims[j] != 1 && p->dims[j] != dims[r - p->rank + j])
      return ferry_kernel_fail(k, "input %d does not broadcast to the normalized shape", i), NULL;
  int64_t st[FERRY_MAX_RANK];
  ferry_broadcast_strides(p, r, dims, st);
  for (int64_t j = 0; j < d; j++) v[j] = ferry_load_f64(p->data, p->dtype, ferry_broadcast_offset(j, r, dims, st));
  return v;
}

/* Mean and InvStdDev outputs: X's dims before axis, then 1s. */
static int ln_stat_outs(ferry_kctx *k, int a) {
  const ferry_tview *x = &k->in[0];
  int64_t dims[FERRY_MAX_RANK];
  for (int i = 0; i < x->rank; i++) dims[i] = i < a ? x->dims[i] : 1;
  int st = (int)ferry_attr_int(k->sctx, "stash_type", FERRY_F32), rc = FERRY_OK;
  for (int i = 1; i < 3 && i < k->n_out && !rc; i++)
    rc = ferry_nn_out(k, i, k->out[i].dtype ? k->out[i].dtype : st, x->rank, dims);
  return rc;
}

static int ln_generic(ferry_kctx *k, int64_t rows, int64_t d, const double *sc, const double *bi, double eps) {
  const ferry_tview *x = &k->in[0];
  double *v = ferry_nn_load(k, x), *st = ferry_nn_scratch(k, 2 * rows + 1, sizeof(double));
  if (!v || !st) return FERRY_E_SYSTEM;
  for (int64_t r = 0; r < rows; r++) {
    double m, var, *row = v + r * d;
    ferry_nn_moments_f64(row, d, &m, &var);
    double inv = 1 / sqrt(var + eps);
    for (int64_t i = 0; i < d; i++) row[i] = (row[i] - m) * inv * sc[i] + bi[i];
    st[r] = m, st[rows + r] = inv;
  }
  ferry_nn_store(&k->out[0], v, x->numel);
  for (int i = 1; i < 3 && i < k->n_out; i++)
    if (k->out[i].data) ferry_nn_store(&k->out[i], st + (i - 1) * rows, rows);
  return FERRY_OK;
}

/* X, Scale[, B]: normalized over the axes from `axis` on. */
int ferry_kernel_LayerNormalization(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int64_t axis = ferry_attr_int(k->sctx, "axis", -1);
  int a = ferry_axis(axis, x->rank);
  if (a < 0) return ferry_kernel_fail(k, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  int64_t rows = ferry_nn_prod(x->dims, 0, a), d = ferry_nn_prod(x->dims, a, x->rank);
  double eps = ferry_attr_float(k->sctx, "epsilon", 1e-5f);
  double *sc = expand_param(k, 1, x->rank - a, x->dims + a, d, 1.0);
  double *bi = sc ? expand_param(k, 2, x->rank - a, x->dims + a, d, 0.0) : NULL;
  if (!bi) return k->err[0] ? FERRY_E_INPUT : FERRY_E_SYSTEM;
  int rc = ferry_nn_out(k, 0, x->dtype, x->rank, x->dims);
  if (rc || (rc = ln_stat_outs(k, a))) return rc;
  if (x->numel == 0) return FERRY_OK;
  int f32_stats = 1;
  for (int i = 1; i < 3 && i < k->n_out; i++) f32_stats &= !k->out[i].data || k->out[i].dtype == FERRY_F32;
  if (x->dtype != FERRY_F32 || !f32_stats) return ln_generic(k, rows, d, sc, bi, eps);
  float *fs = ferry_nn_scratch(k, 2 * d, sizeof(float));
  if (!fs) return FERRY_E_SYSTEM;
  for (int64_t i = 0; i < d; i++) fs[i] = (float)sc[i], fs[d + i] = (float)bi[i];
  lnorm t = {x->data, k->out[0].data, NULL, NULL, fs, fs + d, d, (float)eps};
  if (k->n_out > 1) t.mean = k->out[1].data;
  if (k->n_out > 2) t.inv = k->out[2].data;
  k->parallel(k, rows, lnorm_task, &t);
  return FERRY_OK;
}

/* ---- LpNormalization, MeanVarianceNormalization, LRN (generic paths) ---- */

/* x / ||x||_p along `axis` (p 1 or 2); a zero norm gives zeros. */
int ferry_kernel_LpNormalization(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int64_t axis = ferry_attr_int(k->sctx, "axis", -1), p = ferry_attr_int(k->sctx, "p", 2);
  int a = ferry_axis(axis, x->rank);
  if (a < 0) return ferry_kernel_fail(k, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  if (p != 1 && p != 2) return ferry_kernel_fail(k, "p must be 1 or 2, got %lld", (long long)p);
  int rc = ferry_nn_out(k, 0, x->dtype, x->rank, x->dims);
  if (rc || x->numel == 0) return rc;
  double *v = ferry_nn_load(k, x);
  if (!v) return FERRY_E_SYSTEM;
  int64_t outer = ferry_nn_prod(x->dims, 0, a), n = x->dims[a], inner = ferry_nn_prod(x->dims, a + 1, x->rank);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < inner; j++) {
      double *s = v + o * n * inner + j, norm = 0;
      for (int64_t r = 0; r < n; r++) norm += p == 1 ? fabs(s[r * inner]) : s[r * inner] * s[r * inner];
      norm = p == 2 ? sqrt(norm) : norm;
      for (int64_t r = 0; r < n; r++) s[r * inner] = norm != 0 ? s[r * inner] / norm : 0;
    }
  ferry_nn_store(&k->out[0], v, x->numel);
  return FERRY_OK;
}

/* (x - mean) / (sqrt(var) + 1e-9) over `axes` (default 0, 2, 3). */
int ferry_kernel_MeanVarianceNormalization(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  const int64_t *ax, dflt[3] = {0, 2, 3};
  int n = ferry_attr_ints(k->sctx, "axes", &ax), mark[FERRY_MAX_RANK] = {0};
  if (!n) ax = dflt, n = 3;
  for (int i = 0; i < n; i++) {
    int a = ferry_axis(ax[i], x->rank);
    if (a < 0) return ferry_kernel_fail(k, "axis %lld is out of range for rank %d", (long long)ax[i], x->rank);
    mark[a] = 1;
  }
  int rc = ferry_nn_out(k, 0, x->dtype, x->rank, x->dims);
  if (rc || x->numel == 0) return rc;
  /* stats index of each element: strides over the kept axes, 0 on reduced */
  int64_t sd[FERRY_MAX_RANK], ss[FERRY_MAX_RANK], groups = 1, cnt = 1;
  for (int i = 0; i < x->rank; i++) sd[i] = mark[i] ? 1 : x->dims[i], groups *= sd[i], cnt *= mark[i] ? x->dims[i] : 1;
  ferry_strides(x->rank, sd, ss);
  for (int i = 0; i < x->rank; i++) ss[i] = mark[i] ? 0 : ss[i];
  double *v = ferry_nn_load(k, x), *st = ferry_nn_scratch(k, 3 * groups, sizeof(double));
  if (!v || !st) return FERRY_E_SYSTEM;
  double *sq = st + groups, *cn = st + 2 * groups;
  memset(st, 0, (size_t)(3 * groups) * sizeof(double));
  for (int64_t i = 0; i < x->numel; i++) st[ferry_broadcast_offset(i, x->rank, x->dims, ss)] += v[i];
  for (int64_t g = 0; g < groups; g++) st[g] /= (double)cnt;
  for (int64_t i = 0; i < x->numel; i++) {
    int64_t g = ferry_broadcast_offset(i, x->rank, x->dims, ss);
    sq[g] += (v[i] - st[g]) * (v[i] - st[g]);
  }
  for (int64_t g = 0; g < groups; g++) cn[g] = sqrt(sq[g] / (double)cnt) + 1e-9;
  for (int64_t i = 0; i < x->numel; i++) {
    int64_t g = ferry_broadcast_offset(i, x->rank, x->dims, ss);
    v[i] = (v[i] - st[g]) / cn[g];
  }
  ferry_nn_store(&k->out[0], v, x->numel);
  return FERRY_OK;
}

/* Local response normalization across channels:
 * y = x / (bias + alpha / size * sum of x^2 over nearby channels)^beta. */
int ferry_kernel_LRN(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  int64_t size = ferry_attr_int(k->sctx, "size", 0);
  double alpha = ferry_attr_float(k->sctx, "alpha", 1e-4f), beta = ferry_attr_float(k->sctx, "beta", 0.75f);
  double bias = ferry_attr_float(k->sctx, "bias", 1.0f);
  if (x->rank < 2) return ferry_kernel_fail(k, "input must have rank >= 2, got %d", x->rank);
  if (size < 1) return ferry_kernel_fail(k, "size must be >= 1, got %lld", (long long)size);
  int rc = ferry_nn_out(k, 0, x->dtype, x->rank, x->dims);
  if (rc || x->numel == 0) return rc;
  int64_t N = x->dims[0], C = x->dims[1], S = ferry_nn_prod(x->dims, 2, x->rank);
  int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
  double *v = ferry_nn_load(k, x), *y = ferry_nn_scratch(k, x->numel, sizeof(double));
  if (!v || !y) return FERRY_E_SYSTEM;
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t i = 0; i < S; i++) {
        double sum = 0;
        for (int64_t cc = c - lo < 0 ? 0 : c - lo; cc <= c + hi && cc < C; cc++) {
          double e = v[(n * C + cc) * S + i];
          sum += e * e;
        }
        int64_t at = (n * C + c) * S + i;
        y[at] = v[at] / pow(bias + alpha / (double)size * sum, beta);
      }
  ferry_nn_store(&k->out[0], y, x->numel);
  return FERRY_OK;
}
