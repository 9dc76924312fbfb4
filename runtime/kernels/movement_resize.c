/*
 * movement_resize.c - resampling: Resize (every opset: 10, 11, 13, 18,
 * 19), Upsample (its predecessor), and Col2Im (the inverse of im2col).
 *
 * Resize works one axis at a time. A plan holds, per axis, the input and
 * output lengths, the scale and the region of interest; from them each
 * output coordinate maps to a coordinate in the input
 * (coordinate_transformation_mode) and then to taps - input indices and
 * weights - for its mode:
 *   nearest  one tap, rounded by nearest_mode; the output is a gather of
 *            whole elements (any dtype, bit-exact);
 *   linear   two taps, cubic four (Keys kernel with cubic_coeff_a); with
 *            antialias the kernel stretches by 1/scale when downscaling;
 *            exclude_outside drops taps outside the input and renormalizes.
 * Linear and cubic are separable, so the kernel runs one pass per resized
 * axis over a float (double for float64) buffer, each pass a weighted sum
 * of rows that vectorizes over the contiguous inner elements. Coordinates
 * follow ONNX's reference implementation (onnx/reference/ops/op_resize.py,
 * which the node tests come from): e.g. align_corners with scales divides
 * by scale * length - 1, not by the rounded output length - 1.
 * tf_crop_and_resize sets an output to extrapolation_value when any of
 * its axes samples outside the input.
 */
#include <math.h>
#include <string.h>

#include "movement.h"
#include "simd.h"
#include "util.h"

enum { M_NEAREST, M_LINEAR, M_CUBIC };
enum { C_HALF_PIXEL, C_HALF_PIXEL_SYM, C_PYTORCH, C_ALIGN_CORNERS, C_ASYMMETRIC, C_TF_NN, C_TF_CROP };
enum { N_PREFER_FLOOR, N_PREFER_CEIL, N_FLOOR, N_CEIL, N_SIMPLE };

typedef struct rs_axis {
  int64_t in, out;
  double scale, outw; /* scale; the output length before rounding (scale * in, or the size given) */
  double roi0, roi1;
} rs_axis;

typedef struct rs_plan {
  int mode, ctm, nearest, exclude, antialias, rank;
  double a, extrap;
  rs_axis ax[FERRY_MAX_RANK];
} rs_plan;

static int lookup(const char *s, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (!strcmp(s, names[i])) return i;
  return -1;
}

/* ---- coordinates and taps ---- */

/* Input coordinate of output coordinate x on axis a; *outside set for
 * tf_crop_and_resize outside the input. */
static double source_coord(const rs_plan *p, const rs_axis *a, int64_t x, int *outside) {
  double s = a->scale, in = (double)a->in, xr = (double)x, v;
  *outside = 0;
  switch (p->ctm) {
  case C_HALF_PIXEL: return (xr + 0.5) / s - 0.5;
  case C_HALF_PIXEL_SYM: return (in / 2) * (1 - (double)a->out / a->outw) + (xr + 0.5) / s - 0.5;
  case C_PYTORCH: return a->out > 1 ? (xr + 0.5) / s - 0.5 : 0;
  case C_ALIGN_CORNERS: return a->out == 1 ? 0 : xr * (in - 1) / (a->outw - 1);
  case C_ASYMMETRIC: return xr / s;
  case C_TF_NN: return (xr + 0.5) / s;
  default: /* tf_crop_and_resize */
    v = a->out == 1 ? (a->roi1 - a->roi0) * (in - 1) / 2 : xr * (a->roi1 - a->roi0) * (in - 1) / (a->outw - 1);
    v += a->roi0 * (in - 1);
    *outside = !(v >= 0 && v <= in - 1);
    return v;
  }
}

/* Input index of output coordinate x for nearest mode; -1 outside. */
static int64_t nearest_index(const rs_plan *p, const rs_axis *a, int64_t x) {
  int outside;
  double v = source_coord(p, a, x, &outside), in = (double)a->in;
  if (outside) return -1;
  v = v < -4 ? -4 : v > in + 4 ? in + 4 : v; /* beyond the edges all clamp alike */
  double f = floor(v), r = v - f, i;
  if (p->nearest == N_SIMPLE) i = a->scale < 1 ? ceil(v) : f;
  else if (r == 0) i = v;
  else if (p->nearest == N_PREFER_FLOOR) i = r <= 0.5 ? f : f + 1;
  else if (p->nearest == N_PREFER_CEIL) i = r < 0.5 ? f : f + 1;
  else i = p->nearest == N_FLOOR ? f : f + 1;
  return i < 0 ? 0 : i > in - 1 ? a->in - 1 : (int64_t)i;
}

static double cubic_weight(double x, double A) {
  x = fabs(x);
  if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
  if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return 0;
}

/* Taps per output coordinate: first tap offset from `left` and count. */
static void tap_window(const rs_plan *p, const rs_axis *a, int64_t *start, int64_t *n) {
  double s = p->antialias && a->scale < 1 ? a->scale : 1;
  if (p->mode == M_LINEAR) *start = (int64_t)floor(-1 / s) + 1;
  else *start = (int64_t)floor(-2 / s) + 1;
  *n = 2 - 2 * *start;
}

typedef struct rs_taps {
  int64_t maxn;
  int64_t *n, *idx; /* per output coordinate: tap count (-1: outside), indices */
  double *w;
  int identity;
} rs_taps;

/* Weights of the taps left+start .. left+start+n-1 for fraction r. */
static void tap_weights(const rs_plan *p, const rs_axis *a, double r, int64_t start, int64_t n, double *w) {
  double s = p->antialias && a->scale < 1 ? a->scale : 1, sum = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = ((double)(start + i) - r) * s;
    if (p->mode == M_LINEAR) w[i] = 1 - fabs(d) > 0 ? 1 - fabs(d) : 0;
    else w[i] = cubic_weight(d, p->a);
    sum += w[i];
  }
  if (p->antialias && sum != 0)
    for (int64_t i = 0; i < n; i++) w[i] /= sum;
}

static int build_taps(ferry_kctx *k, const rs_plan *p, const rs_axis *a, rs_taps *t) {
  int64_t start, n;
  tap_window(p, a, &start, &n);
  if (n > ((int64_t)1 << 20) || a->out > ((int64_t)1 << 40) / n)
    return ferry_kernel_fail(k, "resize filter of %lld taps is too wide", (long long)n);
  t->maxn = n;
  t->n = k->scratch(k, (size_t)(a->out * (2 * n + 1) + 1) * sizeof(int64_t));
  t->w = k->scratch(k, (size_t)(a->out * n + 1) * sizeof(double));
  if (!t->n || !t->w) return ferry_kernel_fail(k, "out of memory"), FERRY_E_SYSTEM;
  t->idx = t->n + a->out;
  t->identity = a->out == a->in;
  for (int64_t x = 0; x < a->out; x++) {
    int outside;
    double v = source_coord(p, a, x, &outside), lim = (double)(a->in + n + 4);
    int64_t *ix = t->idx + x * n, m = 0;
    double *w = t->w + x * n, sum = 0;
    if (outside) {
      t->n[x] = -1, t->identity = 0;
      continue;
    }
    v = v < -lim ? -lim : v > lim ? lim : v;
    double f = floor(v), r = v == f ? 1 : v - f;
    int64_t left = (int64_t)(v == f ? f - 1 : f);
    tap_weights(p, a, r, start, n, w);
    for (int64_t i = 0; i < n; i++) {
      int64_t j = left + start + i;
      if (p->exclude && (j < 0 || j >= a->in)) w[i] = 0;
      sum += w[i];
    }
    for (int64_t i = 0; i < n; i++) { /* keep the nonzero taps, indices clamped to the edges */
      int64_t j = left + start + i;
      double wi = p->exclude && sum != 0 ? w[i] / sum : w[i];
      if (wi == 0) continue;
      ix[m] = j < 0 ? 0 : j >= a->in ? a->in - 1 : j;
      w[m++] = wi;
    }
    t->n[x] = m;
    if (!(m == 1 && ix[0] == x && w[0] == 1)) t->identity = 0;
  }
  return FERRY_OK;
}

/* ---- separable passes (linear, cubic) ---- */

typedef struct rs_pass {
  const void *src;
  void *dst;
  const rs_taps *t;
  const void *w;      /* the taps' weights in the pass' type */
  int64_t inA, outA, inner;
  double extrap;
} rs_pass;

#define PASS(NAME, W)                                                              \
  static void NAME(void *arg, int64_t begin, int64_t end) {                        \
    const rs_pass *p = arg;                                                        \
    const W *src = p->src, *wt = p->w;                                             \
    W *dst = p->dst;                                                               \
    int64_t inner = p->inner, maxn = p->t->maxn;                                   \
    for (int64_t u = begin; u < end; u++) {                                        \
      int64_t o = u / p->outA, x = u - o * p->outA, n = p->t->n[x];                \
      W *d = dst + u * inner;                                                      \
      const W *s = src + o * p->inA * inner, *w = wt + x * maxn;                   \
      const int64_t *ix = p->t->idx + x * maxn;                                    \
      if (n < 0) {                                                                 \
        for (int64_t i = 0; i < inner; i++) d[i] = (W)p->extrap;                   \
      } else if (inner == 1) {                                                     \
        W acc = 0;                                                                 \
        for (int64_t j = 0; j < n; j++) acc += w[j] * s[ix[j]];                    \
        d[0] = acc;                                                                \
      } else if (n == 2) {                                                         \
        const W *r0 = s + ix[0] * inner, *r1 = s + ix[1] * inner, w0 = w[0], w1 = w[1]; \
        for (int64_t i = 0; i < inner; i++) d[i] = w0 * r0[i] + w1 * r1[i];        \
      } else {                                                                     \
        for (int64_t i = 0; i < inner; i++) d[i] = 0;                              \
        for (int64_t j = 0; j < n; j++) {                                          \
          const W *r = s + ix[j] * inner, wj = w[j];                               \
          for (int64_t i = 0; i < inner; i++) d[i] += wj * r[i];                   \
        }                                                                          \
      }                                                                            \
    }                                                                              \
  }
PASS(pass_f32, float)
PASS(pass_f64, double)

/* Runs the linear/cubic passes; out[0] is shaped. */
static int resize_interp(ferry_kctx *k, const rs_plan *p) {
  const ferry_tview *x = &k->in[0];
  int dt = x->dtype, wide = dt == FERRY_F64, ws = wide ? 8 : 4, r = p->rank, order[FERRY_MAX_RANK], m = 0, rc;
  rs_taps taps[FERRY_MAX_RANK];
  int64_t cur[FERRY_MAX_RANK], biggest = x->numel;
  if (!ferry_dtype_is_float(dt) && !(dt >= FERRY_U8 && dt <= FERRY_I64) && dt != FERRY_U32 && dt != FERRY_U64)
    return ferry_kernel_fail(k, "dtype %s is not supported", ferry_dtype_name(dt));
  for (int a = 0; a < r; a++) {
    cur[a] = p->ax[a].in;
    if ((rc = build_taps(k, p, &p->ax[a], &taps[a]))) return rc;
    if (!taps[a].identity) order[m++] = a;
  }
  /* Shrinking axes first, so later passes do less work; among equal
   * ratios, the last axis (whose pass cannot vectorize) runs where the
   * tensor is smallest: first when growing, last when shrinking. */
  for (int i = 1; i < m; i++)
    for (int j = i; j > 0; j--) {
      const rs_axis *u = &p->ax[order[j]], *v = &p->ax[order[j - 1]];
      double ru = (double)u->out / (double)u->in, rv = (double)v->out / (double)v->in;
      if (ru > rv || (ru == rv && (ru < 1) == (order[j] > order[j - 1]))) break;
      int t = order[j];
      order[j] = order[j - 1], order[j - 1] = t;
    }
  for (int i = 0; i < m; i++) {
    int64_t n = 1;
    cur[order[i]] = p->ax[order[i]].out;
    for (int a = 0; a < r; a++) n *= cur[a];
    if (n > biggest) biggest = n;
  }
  void *buf[2] = {k->scratch(k, (size_t)(biggest + 1) * (size_t)ws), k->scratch(k, (size_t)(biggest + 1) * (size_t)ws)};
  if (!buf[0] || !buf[1]) return ferry_kernel_fail(k, "out of memory"), FERRY_E_SYSTEM;
  const void *src = x->data;
  if (dt != (wide ? FERRY_F64 : FERRY_F32)) {
    for (int64_t i = 0; i < x->numel; i++) {
      if (wide) ((double *)buf[0])[i] = ferry_load_f64(x->data, dt, i);
      else ((float *)buf[0])[i] = (float)ferry_load_f64(x->data, dt, i);
    }
    src = buf[0];
  }
  for (int a = 0; a < r; a++) cur[a] = p->ax[a].in;
  int which = src == buf[0];
  for (int i = 0; i < m; i++) {
    int a = order[i];
    int64_t outer = 1, inner = 1;
    for (int b = 0; b < a; b++) outer *= cur[b];
    for (int b = a + 1; b < r; b++) inner *= cur[b];
    void *dst = i == m - 1 && dt == (wide ? FERRY_F64 : FERRY_F32) ? k->out[0].data : buf[which];
    int64_t nw = p->ax[a].out * taps[a].maxn;
    void *w = k->scratch(k, (size_t)(nw + 1) * (size_t)ws);
    if (!w) return ferry_kernel_fail(k, "out of memory"), FERRY_E_SYSTEM;
    for (int64_t j = 0; j < nw; j++) {
      if (wide) ((double *)w)[j] = taps[a].w[j];
      else ((float *)w)[j] = (float)taps[a].w[j];
    }
    rs_pass ps = {src, dst, &taps[a], w, cur[a], p->ax[a].out, inner, p->extrap};
    ferry_mv_parallel(k, outer * p->ax[a].out, inner * taps[a].maxn, wide ? pass_f64 : pass_f32, &ps);
    cur[a] = p->ax[a].out;
    src = dst;
    which = !which;
  }
  if (src == k->out[0].data) return FERRY_OK;
  for (int64_t i = 0; i < k->out[0].numel; i++) {
    double v = wide ? ((const double *)src)[i] : ((const float *)src)[i];
    ferry_mv_store(k->out[0].data, dt, i, v, 1);
  }
  return FERRY_OK;
}

/* ---- nearest: a gather of whole elements ----
 * Output rows (all axes but the last) gather along the last axis from one
 * input row; consecutive output rows from the same input row (every
 * second one of a 2x upsampling) copy the row before instead. A 4-byte
 * element with the last axis doubled (map j -> j / 2: FPN necks) goes
 * four inputs to eight outputs in vectors. */

typedef struct rs_near {
  const char *x;
  char *o;
  const unsigned char *extrap;
  int size, rank;
  int doubled; /* size 4, last axis map j -> j / 2 */
  int64_t *map[FERRY_MAX_RANK];
  int64_t od[FERRY_MAX_RANK], is[FERRY_MAX_RANK];
} rs_near;

/* d[0..n) = each of s[0..n/2) twice (n even), 4-byte elements. */
static void double_row(const char *s, char *d, int64_t n) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    f32x4 v = f32x4_load((const float *)(const void *)(s + j * 2));
    f32x4_store((float *)(void *)(d + j * 4), __builtin_shufflevector(v, v, 0, 0, 1, 1));
    f32x4_store((float *)(void *)(d + j * 4 + 16), __builtin_shufflevector(v, v, 2, 2, 3, 3));
  }
  for (; j < n; j++) memcpy(d + j * 4, s + (j / 2) * 4, 4);
}

static void near_rows(void *arg, int64_t begin, int64_t end) {
  const rs_near *p = arg;
  int r = p->rank, size = p->size;
  int64_t last = p->od[r - 1], prev_off = -1;
  const int64_t *lm = p->map[r - 1];
  int prev_out = -1;
  for (int64_t u = begin; u < end; u++) {
    int64_t rest = u, off = 0;
    int out = 0;
    for (int a = r - 2; a >= 0; a--) {
      int64_t q = rest / p->od[a], i = rest - q * p->od[a], s = p->map[a][i];
      rest = q;
      if (s < 0) out = 1;
      off += s * p->is[a];
    }
    char *d = p->o + u * last * size;
    if (u > begin && off == prev_off && out == prev_out) { /* the same source row as the row before */
      memcpy(d, d - last * size, (size_t)(last * size));
      continue;
    }
    prev_off = off, prev_out = out;
    if (!out && p->doubled) {
      double_row(p->x + off * 4, d, last);
      continue;
    }
    for (int64_t j = 0; j < last; j++) {
      int64_t s = out ? -1 : lm[j];
      const void *e = s < 0 ? (const void *)p->extrap : (const void *)(p->x + (off + s) * size);
      if (size == 4) memcpy(d + j * 4, e, 4);
      else memcpy(d + j * size, e, (size_t)size);
    }
  }
}

static int resize_nearest(ferry_kctx *k, const rs_plan *p) {
  const ferry_tview *x = &k->in[0];
  rs_near nr;
  unsigned char ex[16] = {0};
  int size, rc, r = p->rank;
  if ((rc = ferry_mv_esize(k, x->dtype, &size))) return rc;
  if (size > 16) return ferry_kernel_fail(k, "dtype is not supported");
  ferry_mv_store(ex, x->dtype, 0, p->extrap, 0);
  memset(&nr, 0, sizeof nr);
  nr.x = x->data, nr.o = k->out[0].data, nr.extrap = ex, nr.size = size, nr.rank = r;
  ferry_strides(r, x->dims, nr.is);
  for (int a = 0; a < r; a++) {
    nr.od[a] = p->ax[a].out;
    if (!(nr.map[a] = k->scratch(k, (size_t)(p->ax[a].out + 1) * sizeof(int64_t))))
      return ferry_kernel_fail(k, "out of memory"), FERRY_E_SYSTEM;
    for (int64_t i = 0; i < p->ax[a].out; i++) nr.map[a][i] = nearest_index(p, &p->ax[a], i);
  }
  const int64_t *lm = nr.map[r - 1], n = nr.od[r - 1];
  nr.doubled = size == 4 && n % 2 == 0;
  for (int64_t j = 0; nr.doubled && j < n; j++) nr.doubled = lm[j] == j / 2;
  ferry_mv_parallel(k, k->out[0].numel / nr.od[r - 1], nr.od[r - 1], near_rows, &nr);
  return FERRY_OK;
}

/* Shapes the output from the plan (or adopts the executor's lengths for
 * resized axes) and runs the mode. */
static int resize_run(ferry_kctx *k, rs_plan *p) {
  const ferry_tview *x = &k->in[0];
  ferry_tview *o = &k->out[0];
  int64_t d[FERRY_MAX_RANK];
  int rc;
  if (x->rank < 1) return ferry_kernel_fail(k, "input must have rank >= 1");
  for (int a = 0; a < p->rank; a++) d[a] = p->ax[a].out;
  if (o->data && o->rank == x->rank && o->dtype == x->dtype) { /* the shape rule's rounding wins */
    for (int a = 0; a < p->rank; a++) {
      if (o->dims[a] != d[a] && p->ax[a].in == d[a] && p->ax[a].scale == 1)
        return ferry_kernel_fail(k, "output dim %d is %lld, want %lld", a, (long long)o->dims[a], (long long)d[a]);
      p->ax[a].out = d[a] = o->dims[a];
    }
  }
  if ((rc = ferry_mv_output(k, 0, x->dtype, x->rank, d))) return rc;
  for (int a = 0; a < p->rank; a++)
    if (p->ax[a].in == 0 && p->ax[a].out > 0) return ferry_kernel_fail(k, "cannot resize an empty axis");
  if (o->numel == 0) return FERRY_OK;
  return p->mode == M_NEAREST ? resize_nearest(k, p) : resize_interp(k, p);
}

/* floor(in * scale) as the shape rule computes it (float32). */
static int64_t scaled_len(int64_t in, double scale) {
  double v = floor((double)((float)in * (float)scale));
  return v < 0 ? 0 : v > 9e15 ? (int64_t)9e15 : (int64_t)v;
}

/* Scales or sizes (n values for axes[]) into the plan. */
static int plan_lengths(ferry_kctx *k, rs_plan *p, const ferry_tview *scales, const ferry_tview *sizes,
                        const int *axes, int n, int policy) {
  const ferry_tview *x = &k->in[0];
  for (int a = 0; a < p->rank; a++) {
    rs_axis *ax = &p->ax[a];
    ax->in = ax->out = x->dims[a], ax->scale = 1, ax->outw = (double)x->dims[a];
  }
  if (sizes) {
    if (sizes->numel != n) return ferry_kernel_fail(k, "sizes has %lld values, expected %d", (long long)sizes->numel, n);
    float keep = policy == 1 ? 3.4e38f : 0;
    for (int i = 0; i < n; i++) {
      rs_axis *ax = &p->ax[axes[i]];
      int64_t s = ferry_mv_int(sizes, i);
      if (s < 0 || s > ((int64_t)1 << 40)) return ferry_kernel_fail(k, "bad size %lld", (long long)s);
      ax->out = s, ax->outw = (double)s;
      ax->scale = ax->in ? (double)s / (double)ax->in : 1;
      float f = ax->in ? (float)s / (float)ax->in : 1;
      if (policy == 1 && f < keep) keep = f;
      if (policy == 2 && f > keep) keep = f;
    }
    for (int i = 0; i < n && policy; i++) { /* keep_aspect_ratio_policy: one scale for all axes */
      rs_axis *ax = &p->ax[axes[i]];
      ax->scale = keep;
      ax->out = (int64_t)floor((double)(keep * (float)ax->in) + 0.5);
      ax->outw = keep * (double)ax->in;
    }
    return FERRY_OK;
  }
  if (!scales || scales->numel != n) return ferry_kernel_fail(k, "scales must have %d values", n);
  for (int i = 0; i < n; i++) {
    rs_axis *ax = &p->ax[axes[i]];
    double s = ferry_load_f64(scales->data, scales->dtype, i);
    if (!(s > 0 && s < 1e12)) return ferry_kernel_fail(k, "scale %g is not positive", s);
    double ext = p->ctm == C_TF_CROP ? ax->roi1 - ax->roi0 : 1; /* lengths scale with the roi (spec, shape rule) */
    ax->scale = s, ax->outw = s * ext * (double)ax->in;
    ax->out = scaled_len(ax->in, s * ext);
  }
  return FERRY_OK;
}

static const char *const mode_names[] = {"nearest", "linear", "cubic"};
static const char *const ctm_names[] = {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                                        "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize"};
static const char *const nearest_names[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};

int ferry_kernel_Resize(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  rs_plan p;
  int axes[FERRY_MAX_RANK], n = x->rank;
  memset(&p, 0, sizeof p);
  p.rank = x->rank;
  const char *ms = ferry_attr_str(k->sctx, "mode", "nearest");
  if ((p.mode = lookup(ms, mode_names, 3)) < 0 || (k->opset < 11 && p.mode == M_CUBIC))
    return ferry_kernel_fail(k, "unknown mode '%s'", ms);
  int si = k->opset < 11 ? 1 : 2, zi = k->opset < 11 ? -1 : 3, ri = k->opset < 11 ? -1 : 1, policy = 0;
  if (k->opset < 11) {
    p.ctm = C_ASYMMETRIC, p.nearest = N_SIMPLE, p.a = -0.75;
  } else {
    const char *cs = ferry_attr_str(k->sctx, "coordinate_transformation_mode", "half_pixel");
    const char *ns = ferry_attr_str(k->sctx, "nearest_mode", "round_prefer_floor");
    if ((p.ctm = lookup(cs, ctm_names, 7)) < 0 || (p.ctm == C_HALF_PIXEL_SYM && k->opset < 19))
      return ferry_kernel_fail(k, "unknown coordinate_transformation_mode '%s'", cs);
    if ((p.nearest = lookup(ns, nearest_names, 4)) < 0) return ferry_kernel_fail(k, "unknown nearest_mode '%s'", ns);
    p.a = ferry_attr_float(k->sctx, "cubic_coeff_a", -0.75f);
    p.exclude = ferry_attr_int(k->sctx, "exclude_outside", 0) != 0;
    p.extrap = ferry_attr_float(k->sctx, "extrapolation_value", 0);
  }
  if (k->opset >= 18) {
    const int64_t *a;
    int m = ferry_attr_ints(k->sctx, "axes", &a);
    if (m > x->rank) return ferry_kernel_fail(k, "axes has %d values for rank %d", m, x->rank);
    for (int i = 0; i < m; i++)
      if ((axes[i] = ferry_axis(a[i], x->rank)) < 0) return ferry_kernel_fail(k, "axis %lld out of range", (long long)a[i]);
    if (m) n = m;
    const char *ps = ferry_attr_str(k->sctx, "keep_aspect_ratio_policy", "stretch");
    if ((policy = lookup(ps, (const char *const[]){"stretch", "not_larger", "not_smaller"}, 3)) < 0)
      return ferry_kernel_fail(k, "unknown keep_aspect_ratio_policy '%s'", ps);
    p.antialias = ferry_attr_int(k->sctx, "antialias", 0) != 0 && p.mode != M_NEAREST;
    if (!m)
      for (int i = 0; i < n; i++) axes[i] = i;
  } else {
    for (int i = 0; i < n; i++) axes[i] = i;
  }
  const ferry_tview *sizes = zi >= 0 && ferry_mv_has(k, zi) && k->in[zi].numel ? &k->in[zi] : NULL;
  const ferry_tview *scales = ferry_mv_has(k, si) && k->in[si].numel ? &k->in[si] : NULL;
  if (!sizes && !scales) return ferry_kernel_fail(k, "needs scales or sizes");
  if (sizes && scales) return ferry_kernel_fail(k, "takes scales or sizes, not both");
  for (int a = 0; a < x->rank; a++) p.ax[a].roi0 = 0, p.ax[a].roi1 = 1;
  if (p.ctm == C_TF_CROP) {
    const ferry_tview *roi = ri >= 0 && ferry_mv_has(k, ri) ? &k->in[ri] : NULL;
    if (!roi || roi->numel != 2 * n) return ferry_kernel_fail(k, "tf_crop_and_resize needs a roi of %d values", 2 * n);
    for (int i = 0; i < n; i++) {
      p.ax[axes[i]].roi0 = ferry_load_f64(roi->data, roi->dtype, i);
      p.ax[axes[i]].roi1 = ferry_load_f64(roi->data, roi->dtype, i + n);
    }
  }
  int rc = plan_lengths(k, &p, scales, sizes, axes, n, sizes ? policy : 0);
  return rc ? rc : resize_run(k, &p);
}

int ferry_kernel_Upsample(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0];
  rs_plan p;
  int axes[FERRY_MAX_RANK];
  float f[FERRY_MAX_RANK];
  ferry_tview sv;
  memset(&p, 0, sizeof p);
  p.rank = x->rank, p.ctm = C_ASYMMETRIC, p.nearest = N_SIMPLE, p.a = -0.75;
  for (int a = 0; a < x->rank; a++) p.ax[a].roi1 = 1;
  const char *ms = ferry_attr_str(k->sctx, "mode", "nearest");
  p.mode = !strcmp(ms, "nearest") ? M_NEAREST : !strcmp(ms, "linear") || !strcmp(ms, "bilinear") ? M_LINEAR : -1;
  if (p.mode < 0) return ferry_kernel_fail(k, "unknown mode '%s'", ms);
  for (int i = 0; i < x->rank; i++) axes[i] = i;
  const ferry_tview *scales = &k->in[1];
  if (k->opset < 9) {
    memset(&sv, 0, sizeof sv);
    sv.dtype = FERRY_F32, sv.rank = 1, sv.data = f, scales = &sv;
    if (k->opset >= 7) {
      ferry_attrv a;
      if (!ferry_attr_get(k->sctx, "scales", &a) || a.n > FERRY_MAX_RANK) return ferry_kernel_fail(k, "scales is required");
      sv.numel = a.n;
      for (int i = 0; i < a.n; i++) f[i] = a.floats[i];
    } else {
      if (x->rank != 4) return ferry_kernel_fail(k, "input must have rank 4");
      sv.numel = 4, f[0] = f[1] = 1;
      f[2] = ferry_attr_float(k->sctx, "height_scale", 1), f[3] = ferry_attr_float(k->sctx, "width_scale", 1);
    }
  } else if (!ferry_mv_has(k, 1)) {
    return ferry_kernel_fail(k, "scales is required");
  }
  int rc = plan_lengths(k, &p, scales, NULL, axes, x->rank, 0);
  return rc ? rc : resize_run(k, &p);
}

/* ---- Col2Im ---- */

int ferry_kernel_Col2Im(ferry_kctx *k) {
  const ferry_tview *x = &k->in[0], *is = &k->in[1], *bs = &k->in[2];
  int64_t img[FERRY_MAX_RANK], blk[FERRY_MAX_RANK], dil[FERRY_MAX_RANK], str[FERRY_MAX_RANK];
  int64_t pb[FERRY_MAX_RANK], nb[FERRY_MAX_RANK], od[FERRY_MAX_RANK], K, L, P;
  const int64_t *a;
  int rc;
  if (x->rank != 3 || k->n_in < 3 || !ferry_mv_has(k, 1) || !ferry_mv_has(k, 2))
    return ferry_kernel_fail(k, "needs input [N, C*prod(block), L], image_shape and block_shape");
  int n = (int)is->numel;
  if (n < 1 || n > FERRY_MAX_RANK - 2 || bs->numel != n) return ferry_kernel_fail(k, "image_shape and block_shape differ in length");
  if (!ferry_dtype_is_float(x->dtype)) return ferry_kernel_fail(k, "dtype %s is not supported", ferry_dtype_name(x->dtype));
  int nd = ferry_attr_ints(k->sctx, "dilations", &a);
  for (int i = 0; i < n; i++) dil[i] = nd == n ? a[i] : 1;
  int ns = ferry_attr_ints(k->sctx, "strides", &a);
  for (int i = 0; i < n; i++) str[i] = ns == n ? a[i] : 1;
  int np = ferry_attr_ints(k->sctx, "pads", &a);
  if ((nd && nd != n) || (ns && ns != n) || (np && np != 2 * n)) return ferry_kernel_fail(k, "attribute lengths differ from image_shape's");
  for (int i = 0; i < n; i++) {
    int64_t pe = np ? a[i + n] : 0;
    pb[i] = np ? a[i] : 0;
    img[i] = ferry_mv_int(is, i), blk[i] = ferry_mv_int(bs, i);
    int64_t lim = (int64_t)1 << 30;
    if (img[i] < 0 || img[i] > lim || blk[i] < 1 || blk[i] > lim || dil[i] < 1 || dil[i] > lim || str[i] < 1 ||
        str[i] > lim || pb[i] < 0 || pb[i] > lim || pe < 0 || pe > lim)
      return ferry_kernel_fail(k, "bad image, block, dilation, stride or pad");
    int64_t span = img[i] + pb[i] + pe - (dil[i] * (blk[i] - 1) + 1);
    if (span < 0) return ferry_kernel_fail(k, "block larger than the padded image");
    nb[i] = span / str[i] + 1;
  }
  if (!ferry_mv_numel(n, blk, &K) || !ferry_mv_numel(n, nb, &L) || !ferry_mv_numel(n, img, &P))
    return ferry_kernel_fail(k, "image or block is too large");
  if (x->dims[1] % K || x->dims[2] != L)
    return ferry_kernel_fail(k, "input is [%lld, %lld, %lld], want [N, C*%lld, %lld]", (long long)x->dims[0],
                             (long long)x->dims[1], (long long)x->dims[2], (long long)K, (long long)L);
  int64_t C = x->dims[1] / K;
  od[0] = x->dims[0], od[1] = C;
  memcpy(od + 2, img, (size_t)n * sizeof *img);
  if ((rc = ferry_mv_output(k, 0, x->dtype, n + 2, od))) return rc;
  double *acc = k->scratch(k, (size_t)(P + 1) * sizeof(double));
  if (!acc) return ferry_kernel_fail(k, "out of memory"), FERRY_E_SYSTEM;
  for (int64_t img_i = 0; img_i < x->dims[0] * C; img_i++) {
    memset(acc, 0, (size_t)P * sizeof *acc);
    for (int64_t kk = 0; kk < K; kk++) {
      int64_t ko[FERRY_MAX_RANK], rest = kk;
      for (int i = n - 1; i >= 0; i--) ko[i] = rest % blk[i], rest /= blk[i];
      for (int64_t l = 0; l < L; l++) {
        int64_t pos = 0, r2 = l;
        int inside = 1;
        int64_t m = 1;
        for (int i = n - 1; i >= 0; i--) {
          int64_t li = r2 % nb[i], c = li * str[i] - pb[i] + ko[i] * dil[i];
          r2 /= nb[i];
          if (c < 0 || c >= img[i]) inside = 0;
          pos += c * m;
          m *= img[i];
        }
        if (inside) acc[pos] += ferry_load_f64(x->data, x->dtype, (img_i * K + kk) * L + l);
      }
    }
    for (int64_t i = 0; i < P; i++) ferry_store_f64(k->out[0].data, x->dtype, img_i * P + i, acc[i]);
  }
  return FERRY_OK;
}
