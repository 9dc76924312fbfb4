/*
 * nn.c - shape rules of the image-style neural-network ops: convolution,
 * pooling, normalization, resampling, padding and layout ops (declared in
 * rules.h; the contract is in ../shape.h).
 *
 * How the parts fit:
 *   - shared helpers (ferry_rule_*) used by reduce.c and rnn.c too: input
 *     presence, an input's value as dims, string attributes;
 *   - a sliding-window description (`win`: kernel, strides, dilations,
 *     pads, auto_pad, ceil_mode) read once from the attributes and turned
 *     into one output dim by win_out(); Conv*, the pools and MaxUnpool use
 *     it, so the ONNX formulas live in one place;
 *   - the rules themselves, grouped as in rules.h.
 * All dim arithmetic goes through c->D (the macros below), so a rule works
 * on symbolic dims in the converter and on integers in the runtime. Floating
 * point appears only in Resize, on scale factors, and uses no libm.
 */
#include <float.h>
#include <string.h>

#include "rules.h"

/* ---- dim arithmetic through the dimops (needs `c` in scope) ---- */

#define K(v) c->D->konst(c->D->ctx, (v))
#define ADD(a, b) c->D->add(c->D->ctx, (a), (b))
#define SUB(a, b) c->D->sub(c->D->ctx, (a), (b))
#define MUL(a, b) c->D->mul(c->D->ctx, (a), (b))
#define DIV(a, b) c->D->div(c->D->ctx, (a), (b))
#define MIN(a, b) c->D->min(c->D->ctx, (a), (b))
#define FRESH() c->D->fresh(c->D->ctx)
#define ISK(a, p) c->D->is_const(c->D->ctx, (a), (p))

#define ATTR_STRING 3 /* ONNX AttributeProto.STRING */
#define ATTR_FLOATS 6

/* ---- shared helpers ---- */

int ferry_rule_has(const ferry_shape_ctx *c, int i) { return i >= 0 && i < c->n_in && c->in[i].present; }

int ferry_rule_need(ferry_shape_ctx *c, int n) {
  if (c->n_in < n) return ferry_shape_fail(c, "expects %d inputs, got %d", n, c->n_in);
  for (int i = 0; i < n; i++)
    if (!c->in[i].present) return ferry_shape_fail(c, "input %d is missing", i);
  if (c->n_out < 1) return ferry_shape_fail(c, "has no outputs");
  return FERRY_OK;
}

int ferry_rule_const_ints(ferry_shape_ctx *c, int i, int64_t *v, int cap) {
  int64_t d;
  if (!ferry_rule_has(c, i)) return -1;
  const ferry_sval *s = &c->in[i];
  if (s->n_content >= 0 || s->data) return ferry_const_ints(c, i, v, cap);
  for (int k = 0; k < s->rank; k++)
    if (ISK(s->dims[k], &d) && d == 0) return 0; /* empty: nothing to know */
  return -1;
}

int ferry_rule_content_dims(ferry_shape_ctx *c, int i, ferry_sdim *v, int cap) {
  if (!ferry_rule_has(c, i)) return -1;
  const ferry_sval *s = &c->in[i];
  if (s->n_content >= 0) {
    if (s->n_content > cap) return -1;
    memcpy(v, s->content, (size_t)s->n_content * sizeof *v);
    return s->n_content;
  }
  int64_t tmp[FERRY_MAX_CONTENT];
  int n = ferry_rule_const_ints(c, i, tmp, cap < FERRY_MAX_CONTENT ? cap : FERRY_MAX_CONTENT);
  for (int k = 0; k < n; k++) v[k] = K(tmp[k]);
  return n;
}

int ferry_rule_conflict(const ferry_shape_ctx *c, ferry_sdim a, ferry_sdim b) {
  int64_t x, y;
  return ISK(a, &x) && ISK(b, &y) && x != y;
}

int ferry_rule_attr_str(ferry_shape_ctx *c, const char *name, char *buf, size_t n) {
  ferry_attrv a;
  buf[0] = 0;
  memset(&a, 0, sizeof a);
  if (!c->attr || !c->attr(c->node, name, &a) || a.type != ATTR_STRING || !a.s) return 0;
  size_t len = a.slen > 0 ? (size_t)a.slen : 0;
  if (len >= n) return -1;
  memcpy(buf, a.s, len);
  buf[len] = 0;
  return 0;
}

void ferry_rule_copy_shape(ferry_sval *o, const ferry_sval *x) {
  o->dtype = x->dtype;
  o->rank = x->rank;
  if (x->rank > 0) memcpy(o->dims, x->dims, (size_t)x->rank * sizeof x->dims[0]);
}

#define has(i) ferry_rule_has(c, (i))

/* Out[i] when the node has that output, else NULL. */
static ferry_sval *opt_out(ferry_shape_ctx *c, int i) { return i < c->n_out ? &c->out[i] : NULL; }

/* Output 0 gets input 0's dtype and shape. */
static int same_shape(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 1);
  if (rc) return rc;
  ferry_rule_copy_shape(&c->out[0], &c->in[0]);
  return FERRY_OK;
}

/* Reads an INTS attribute of exactly n values, each >= min (all dflt when
 * the attribute is absent). */
static int ints_n(ferry_shape_ctx *c, const char *name, int n, int64_t dflt, int64_t *v, int min) {
  const int64_t *a;
  int m = ferry_attr_ints(c, name, &a);
  if (m == 0) {
    for (int i = 0; i < n; i++) v[i] = dflt;
    return FERRY_OK;
  }
  if (m != n) return ferry_shape_fail(c, "%s has %d values, expected %d", name, m, n);
  for (int i = 0; i < n; i++) {
    if (a[i] < min) return ferry_shape_fail(c, "%s must be >= %d, got %lld", name, min, (long long)a[i]);
    v[i] = a[i];
  }
  return FERRY_OK;
}

/* ---- sliding windows: Conv*, pools, MaxUnpool ---- */

enum { WIN_NOTSET, WIN_VALID, WIN_SAME };

typedef struct win {
  int n;      /* spatial rank */
  int have_k; /* kernel known (attribute or constant W dims) */
  int pad;    /* WIN_* from auto_pad */
  int ceil;   /* ceil_mode */
  int64_t k[FERRY_MAX_RANK], s[FERRY_MAX_RANK], d[FERRY_MAX_RANK];
  int64_t pb[FERRY_MAX_RANK], pe[FERRY_MAX_RANK];
} win;

static int read_auto_pad(ferry_shape_ctx *c, int *mode) {
  char s[32];
  if (ferry_rule_attr_str(c, "auto_pad", s, sizeof s) < 0) return ferry_shape_fail(c, "auto_pad is too long");
  if (!*s || !strcmp(s, "NOTSET"))
    *mode = WIN_NOTSET;
  else if (!strcmp(s, "VALID"))
    *mode = WIN_VALID;
  else if (!strcmp(s, "SAME_UPPER") || !strcmp(s, "SAME_LOWER"))
    *mode = WIN_SAME;
  else
    return ferry_shape_fail(c, "unknown auto_pad '%s'", s);
  return FERRY_OK;
}

/* The kernel: kernel_shape, else W's spatial dims when all are constants. */
static int read_kernel(ferry_shape_ctx *c, win *w, const ferry_sval *wt) {
  const int64_t *a;
  int m = ferry_attr_ints(c, "kernel_shape", &a);
  if (m) {
    int rc = ints_n(c, "kernel_shape", w->n, 1, w->k, 1);
    w->have_k = rc == FERRY_OK;
    return rc;
  }
  w->have_k = 0;
  if (!wt || wt->rank < 0) return FERRY_OK;
  if (wt->rank != w->n + 2) return ferry_shape_fail(c, "W has rank %d, expected %d", wt->rank, w->n + 2);
  for (int i = 0; i < w->n; i++)
    if (!ISK(wt->dims[i + 2], &w->k[i])) return FERRY_OK;
  w->have_k = 1;
  return FERRY_OK;
}

static int read_pads(ferry_shape_ctx *c, win *w) {
  int64_t p[2 * FERRY_MAX_RANK];
  int rc = ints_n(c, "pads", 2 * w->n, 0, p, 0);
  if (rc) return rc;
  for (int i = 0; i < w->n; i++) {
    w->pb[i] = w->pad == WIN_NOTSET ? p[i] : 0;
    w->pe[i] = w->pad == WIN_NOTSET ? p[i + w->n] : 0;
  }
  return FERRY_OK;
}

/* Reads the window of an op with n spatial dims; wt (or NULL) is the
 * weight whose dims give the kernel when kernel_shape is absent. */
static int read_win(ferry_shape_ctx *c, win *w, int n, const ferry_sval *wt) {
  int rc;
  memset(w, 0, sizeof *w);
  w->n = n;
  if ((rc = read_auto_pad(c, &w->pad)) || (rc = read_kernel(c, w, wt)) ||
      (rc = ints_n(c, "strides", n, 1, w->s, 1)) || (rc = ints_n(c, "dilations", n, 1, w->d, 1)) ||
      (rc = read_pads(c, w)))
    return rc;
  w->ceil = ferry_attr_int(c, "ceil_mode", 0) != 0;
  return FERRY_OK;
}

/* Output size of spatial dim i over input size `in` (ONNX conv/pool
 * formulas; ceil_mode drops a last window starting in the end padding). */
static ferry_sdim win_out(ferry_shape_ctx *c, const win *w, int i, ferry_sdim in) {
  int64_t s = w->s[i], ek = (w->k[i] - 1) * w->d[i] + 1, pb = w->pb[i], pe = w->pe[i];
  if (w->pad == WIN_SAME) return DIV(ADD(in, K(s - 1)), K(s));
  ferry_sdim out = ADD(DIV(ADD(in, K(pb + pe - ek + (w->ceil ? s - 1 : 0))), K(s)), K(1));
  if (w->ceil && s > ek - pe) out = MIN(out, ADD(DIV(ADD(in, K(pb - 1)), K(s)), K(1)));
  return out;
}

/* Spatial dims 2.. of o from x through the window (fresh without kernel). */
static int win_dims(ferry_shape_ctx *c, const win *w, const ferry_sval *x, ferry_sval *o) {
  for (int i = 0; i < w->n; i++) {
    int64_t v;
    o->dims[i + 2] = w->have_k ? win_out(c, w, i, x->dims[i + 2]) : FRESH();
    if (ISK(o->dims[i + 2], &v) && v < 0)
      return ferry_shape_fail(c, "spatial dim %d: input is smaller than the kernel", i);
  }
  return FERRY_OK;
}

/* X's rank when known and >= 3 (spatial ops), 0 when unknown, -1 (with
 * c->err set) when too small. */
static int spatial_rank(ferry_shape_ctx *c, const ferry_sval *x) {
  if (x->rank < 0) return 0;
  if (x->rank < 3) {
    ferry_shape_fail(c, "input must have rank >= 3 (N, C, spatial...), got %d", x->rank);
    return -1;
  }
  return x->rank;
}

/* ---- convolution ---- */

static int check_channels(ferry_shape_ctx *c, const ferry_sval *x, const ferry_sval *wt, int64_t group) {
  int64_t xc, wc;
  if (group < 1) return ferry_shape_fail(c, "group must be >= 1, got %lld", (long long)group);
  if (wt->rank < 2 || !ISK(x->dims[1], &xc) || !ISK(wt->dims[1], &wc)) return FERRY_OK;
  if (xc != wc * group)
    return ferry_shape_fail(c, "X has %lld channels, W expects %lld x group %lld", (long long)xc,
                            (long long)wc, (long long)group);
  return FERRY_OK;
}

/* Conv-shaped ops: X = in[xi], W = in[wi], output dtype `dtype`. */
static int conv_like(ferry_shape_ctx *c, int xi, int wi, int dtype) {
  int rc = ferry_rule_need(c, (xi > wi ? xi : wi) + 1);
  if (rc) return rc;
  const ferry_sval *x = &c->in[xi], *wt = &c->in[wi];
  ferry_sval *o = &c->out[0];
  o->dtype = dtype;
  int r = spatial_rank(c, x);
  if (r <= 0) return r < 0 ? FERRY_E_INPUT : FERRY_OK;
  if (wt->rank >= 0 && wt->rank != r) return ferry_shape_fail(c, "W has rank %d, X has rank %d", wt->rank, r);
  win w;
  if ((rc = read_win(c, &w, r - 2, wt)) || (rc = check_channels(c, x, wt, ferry_attr_int(c, "group", 1))))
    return rc;
  o->rank = r;
  o->dims[0] = x->dims[0];
  o->dims[1] = wt->rank >= 0 ? wt->dims[0] : FRESH();
  return win_dims(c, &w, x, o);
}

int ferry_shape_Conv(ferry_shape_ctx *c) { return conv_like(c, 0, 1, c->n_in > 0 ? c->in[0].dtype : 0); }

int ferry_shape_ConvInteger(ferry_shape_ctx *c) { return conv_like(c, 0, 1, FERRY_I32); }

/* x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point[, B] */
int ferry_shape_QLinearConv(ferry_shape_ctx *c) {
  int dtype = has(7) && c->in[7].dtype ? c->in[7].dtype : (c->n_in > 0 ? c->in[0].dtype : 0);
  return conv_like(c, 0, 3, dtype);
}

/* One ConvTranspose output dim without output_shape. */
static ferry_sdim convt_dim(ferry_shape_ctx *c, const win *w, int i, ferry_sdim in, int64_t op) {
  int64_t s = w->s[i], ek = (w->k[i] - 1) * w->d[i] + 1;
  ferry_sdim base = ADD(MUL(SUB(in, K(1)), K(s)), K(op + ek)); /* s*(in-1) + op + ek */
  if (w->pad == WIN_SAME) return ek + op >= s ? MUL(in, K(s)) : base;
  return SUB(base, K(w->pb[i] + w->pe[i]));
}

/* output_shape: n spatial values (or n + 2 with N and C, which are skipped). */
static int convt_output_shape(ferry_shape_ctx *c, int n, const int64_t **os) {
  int m = ferry_attr_ints(c, "output_shape", os);
  if (m == n + 2)
    *os += 2;
  else if (m && m != n)
    return ferry_shape_fail(c, "output_shape has %d values, expected %d", m, n), -1;
  return m ? 1 : 0;
}

int ferry_shape_ConvTranspose(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 2);
  if (rc) return rc;
  const ferry_sval *x = &c->in[0], *wt = &c->in[1];
  ferry_sval *o = &c->out[0];
  o->dtype = x->dtype;
  int r = spatial_rank(c, x);
  if (r <= 0) return r < 0 ? FERRY_E_INPUT : FERRY_OK;
  win w;
  int64_t op[FERRY_MAX_RANK], group = ferry_attr_int(c, "group", 1);
  const int64_t *os;
  if ((rc = read_win(c, &w, r - 2, wt)) || (rc = ints_n(c, "output_padding", r - 2, 0, op, 0))) return rc;
  if (group < 1) return ferry_shape_fail(c, "group must be >= 1, got %lld", (long long)group);
  if (wt->rank >= 0 && ferry_rule_conflict(c, x->dims[1], wt->dims[0]))
    return ferry_shape_fail(c, "X's channels differ from W's first dim");
  int given = convt_output_shape(c, r - 2, &os);
  if (given < 0) return FERRY_E_INPUT;
  o->rank = r;
  o->dims[0] = x->dims[0];
  o->dims[1] = wt->rank >= 2 ? MUL(wt->dims[1], K(group)) : FRESH();
  for (int i = 0; i < r - 2; i++)
    o->dims[i + 2] = given ? K(os[i]) : w.have_k ? convt_dim(c, &w, i, x->dims[i + 2], op[i]) : FRESH();
  return FERRY_OK;
}

/* ---- pooling ---- */

static int pool(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 1);
  if (rc) return rc;
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0], *idx = opt_out(c, 1);
  o->dtype = x->dtype;
  if (idx) idx->dtype = FERRY_I64;
  int r = spatial_rank(c, x);
  if (r <= 0) return r < 0 ? FERRY_E_INPUT : FERRY_OK;
  win w;
  if ((rc = read_win(c, &w, r - 2, NULL))) return rc;
  if (!w.have_k) return ferry_shape_fail(c, "kernel_shape is required");
  o->rank = r;
  o->dims[0] = x->dims[0];
  o->dims[1] = x->dims[1];
  if ((rc = win_dims(c, &w, x, o))) return rc;
  if (idx) {
    idx->rank = r;
    memcpy(idx->dims, o->dims, (size_t)r * sizeof o->dims[0]);
  }
  return FERRY_OK;
}

int ferry_shape_MaxPool(ferry_shape_ctx *c) { return pool(c); }
int ferry_shape_AveragePool(ferry_shape_ctx *c) { return pool(c); }
int ferry_shape_LpPool(ferry_shape_ctx *c) { return pool(c); }

static int global_pool(ferry_shape_ctx *c) {
  int rc = same_shape(c);
  if (rc) return rc;
  ferry_sval *o = &c->out[0];
  if (o->rank >= 0 && o->rank < 2) return ferry_shape_fail(c, "input must have rank >= 2, got %d", o->rank);
  for (int i = 2; i < o->rank; i++) o->dims[i] = K(1);
  return FERRY_OK;
}

int ferry_shape_GlobalAveragePool(ferry_shape_ctx *c) { return global_pool(c); }
int ferry_shape_GlobalMaxPool(ferry_shape_ctx *c) { return global_pool(c); }
int ferry_shape_GlobalLpPool(ferry_shape_ctx *c) { return global_pool(c); }

/* [num_rois, C, h, w] from X = in[0] (rank 4) and rois = in[1] (rank 2). */
static int roi_out(ferry_shape_ctx *c, int64_t h, int64_t w) {
  const ferry_sval *x = &c->in[0], *rois = &c->in[1];
  ferry_sval *o = &c->out[0];
  o->dtype = x->dtype;
  if (x->rank >= 0 && x->rank != 4) return ferry_shape_fail(c, "X must have rank 4, got %d", x->rank);
  if (rois->rank >= 0 && rois->rank != 2)
    return ferry_shape_fail(c, "rois must have rank 2, got %d", rois->rank);
  if (h < 1 || w < 1) return ferry_shape_fail(c, "output size must be positive");
  o->rank = 4;
  o->dims[0] = rois->rank == 2 ? rois->dims[0] : FRESH();
  o->dims[1] = x->rank == 4 ? x->dims[1] : FRESH();
  o->dims[2] = K(h);
  o->dims[3] = K(w);
  return FERRY_OK;
}

int ferry_shape_MaxRoiPool(ferry_shape_ctx *c) {
  int64_t ps[2];
  const int64_t *a;
  int rc = ferry_rule_need(c, 2);
  if (rc) return rc;
  if (!ferry_attr_ints(c, "pooled_shape", &a)) return ferry_shape_fail(c, "pooled_shape is required");
  if ((rc = ints_n(c, "pooled_shape", 2, 1, ps, 1))) return rc;
  return roi_out(c, ps[0], ps[1]);
}

int ferry_shape_RoiAlign(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 3);
  if (rc) return rc;
  return roi_out(c, ferry_attr_int(c, "output_height", 1), ferry_attr_int(c, "output_width", 1));
}

/* X, I[, output_shape]: output_shape's value, else (in-1)*s + k - pads. */
int ferry_shape_MaxUnpool(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 2);
  if (rc) return rc;
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  o->dtype = x->dtype;
  int r = spatial_rank(c, x);
  if (r <= 0) return r < 0 ? FERRY_E_INPUT : FERRY_OK;
  o->rank = r;
  if (has(2)) {
    int n = ferry_rule_content_dims(c, 2, o->dims, FERRY_MAX_RANK);
    if (n >= 0 && n != r) return ferry_shape_fail(c, "output_shape has %d values, X has rank %d", n, r);
    for (int i = 0; n < 0 && i < r; i++) o->dims[i] = i < 2 ? x->dims[i] : FRESH();
    return FERRY_OK;
  }
  win w;
  if ((rc = read_win(c, &w, r - 2, NULL))) return rc;
  if (!w.have_k) return ferry_shape_fail(c, "kernel_shape is required");
  o->dims[0] = x->dims[0];
  o->dims[1] = x->dims[1];
  for (int i = 0; i < r - 2; i++)
    o->dims[i + 2] = ADD(MUL(SUB(x->dims[i + 2], K(1)), K(w.s[i])), K(w.k[i] - w.pb[i] - w.pe[i]));
  return FERRY_OK;
}

/* ---- normalization ---- */

/* Statistics outputs 1.. of BatchNormalization: [C] (or X's dims after N
 * for opset < 9 with spatial = 0). */
static void bn_stats(ferry_shape_ctx *c, ferry_sval *s, int dtype) {
  const ferry_sval *x = &c->in[0];
  s->dtype = dtype;
  if (x->rank < 0) return;
  if (c->opset < 9 && ferry_attr_int(c, "spatial", 1) == 0 && x->rank >= 2) {
    s->rank = x->rank - 1;
    memcpy(s->dims, x->dims + 1, (size_t)s->rank * sizeof s->dims[0]);
    return;
  }
  s->rank = 1;
  s->dims[0] = x->rank >= 2 ? x->dims[1] : has(1) && c->in[1].rank == 1 ? c->in[1].dims[0] : FRESH();
}

/* X, scale, B, mean, var -> Y[, running_mean, running_var] (opset >= 14)
 * or Y[, mean, var, saved_mean, saved_var] (older). */
int ferry_shape_BatchNormalization(ferry_shape_ctx *c) {
  int rc = same_shape(c);
  if (rc) return rc;
  int xt = c->in[0].dtype;
  int mt = has(3) && c->in[3].dtype ? c->in[3].dtype : xt;
  for (int i = 1; i < c->n_out && i < 5; i++) bn_stats(c, &c->out[i], i < 3 ? mt : xt);
  return FERRY_OK;
}

int ferry_shape_InstanceNormalization(ferry_shape_ctx *c) { return same_shape(c); }
int ferry_shape_GroupNormalization(ferry_shape_ctx *c) { return same_shape(c); }
int ferry_shape_LpNormalization(ferry_shape_ctx *c) { return same_shape(c); }
int ferry_shape_MeanVarianceNormalization(ferry_shape_ctx *c) { return same_shape(c); }
int ferry_shape_LRN(ferry_shape_ctx *c) { return same_shape(c); }

/* X, Scale[, B] -> Y, Mean, InvStdDev; the statistics keep X's dims
 * before `axis`, then 1s, in stash_type. */
int ferry_shape_LayerNormalization(ferry_shape_ctx *c) {
  int rc = same_shape(c);
  if (rc) return rc;
  const ferry_sval *x = &c->in[0];
  int64_t axis = ferry_attr_int(c, "axis", -1);
  int a = x->rank >= 0 ? ferry_axis(axis, x->rank) : 0;
  if (a < 0) return ferry_shape_fail(c, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  int st = (int)ferry_attr_int(c, "stash_type", FERRY_F32);
  for (int i = 1; i < c->n_out && i < 3; i++) {
    ferry_sval *s = &c->out[i];
    s->dtype = st;
    s->rank = x->rank;
    for (int k = 0; k < x->rank; k++) s->dims[k] = k < a ? x->dims[k] : K(1);
  }
  return FERRY_OK;
}

/* ---- resampling: Resize, Upsample ---- */

/* floor(x) for doubles that fit int64. */
static int64_t floor_i64(double x) {
  int64_t t = (int64_t)x;
  return (double)t > x ? t - 1 : t;
}

/* Scale factor f as p/q: a small denominator when f is within float
 * precision of one, else its exact binary fraction; 0 when neither fits. */
static int as_ratio(double f, int64_t *p, int64_t *q) {
  for (int64_t d = 1; d <= 1000; d++) {
    int64_t n = floor_i64(f * (double)d + 0.5);
    double e = (double)n / (double)d - f;
    if ((e < 0 ? -e : e) <= 1e-7 * (f < 0 ? -f : f)) {
      *p = n, *q = d;
      return 1;
    }
  }
  double m = f;
  int64_t d = 1;
  for (int i = 0; i < 60 && m != (double)floor_i64(m); i++) m *= 2, d *= 2;
  if (m != (double)floor_i64(m) || m > 9e15 || m < -9e15) return 0;
  *p = (int64_t)m, *q = d;
  return 1;
}

/* floor(in * f) as ONNX and onnxruntime compute it (float32) for a known
 * dim; a rational expression for a symbolic one. */
static ferry_sdim scale_dim(ferry_shape_ctx *c, ferry_sdim in, double f) {
  int64_t v, p, q;
  if (ISK(in, &v)) return K(floor_i64((double)((float)v * (float)f)));
  if (!as_ratio((double)(float)f, &p, &q)) return FRESH();
  return DIV(MUL(in, K(p)), K(q));
}

static float half_to_float(uint16_t h) {
  int e = (h >> 10) & 31, m = h & 1023;
  float v = e == 0 ? (float)m / 16777216.0f : (float)(1024 + m) / 1024.0f;
  for (int i = 15; e && i < e; i++) v *= 2;
  for (int i = e; e && i < 15; i++) v /= 2;
  return (h & 0x8000) ? -v : v;
}

/* in[i]'s constant float data (f16/f32/f64), or its tracked content when
 * shape math made it (integral values); count, or -1 when unknown. */
static int float_data(ferry_shape_ctx *c, int i, double *v, int cap) {
  int64_t iv[FERRY_MAX_CONTENT];
  if (!has(i)) return -1;
  const ferry_sval *s = &c->in[i];
  if (!s->data && s->n_content >= 0 && s->n_content <= cap) {
    int n = ferry_const_ints(c, i, iv, cap);
    for (int k = 0; k < n; k++) v[k] = (double)iv[k];
    return n;
  }
  if (!s->data || s->numel_data > cap) return -1;
  int n = (int)s->numel_data;
  for (int k = 0; k < n; k++) {
    if (s->dtype == FERRY_F32)
      v[k] = ((const float *)s->data)[k];
    else if (s->dtype == FERRY_F64)
      v[k] = ((const double *)s->data)[k];
    else if (s->dtype == FERRY_F16)
      v[k] = half_to_float(((const uint16_t *)s->data)[k]);
    else
      return -1;
  }
  return n;
}

/* 1 when optional input i is given and not an empty tensor. */
static int nonempty(ferry_shape_ctx *c, int i) {
  int64_t n;
  if (!has(i)) return 0;
  const ferry_sval *s = &c->in[i];
  if (s->rank == 1 && ISK(s->dims[0], &n) && n == 0) return 0;
  return !(s->data && s->numel_data == 0) && s->n_content != 0;
}

/* Normalizes the n axes a[] for `rank` into axes[]; all axes when n is 0.
 * Returns the count, or -1 (c->err set) when one is out of range. */
static int norm_axes(ferry_shape_ctx *c, const int64_t *a, int n, int rank, int *axes) {
  if (n > rank) return ferry_shape_fail(c, "axes has %d values for rank %d", n, rank), -1;
  for (int i = 0; i < n; i++)
    if ((axes[i] = ferry_axis(a[i], rank)) < 0)
      return ferry_shape_fail(c, "axis %lld is out of range for rank %d", (long long)a[i], rank), -1;
  for (int i = 0; n == 0 && i < rank; i++) axes[i] = i;
  return n ? n : rank;
}

/* The resized axes: attribute `axes` (opset >= 18), else all. */
static int resize_axes(ferry_shape_ctx *c, int rank, int *axes) {
  const int64_t *a = NULL;
  int n = c->opset >= 18 ? ferry_attr_ints(c, "axes", &a) : 0;
  return norm_axes(c, a, n, rank, axes);
}

/* keep_aspect_ratio_policy not_larger / not_smaller on known sizes. */
static void keep_aspect(ferry_shape_ctx *c, ferry_sval *o, const int *axes, int n, const ferry_sdim *sz,
                        int larger) {
  const ferry_sval *x = &c->in[0];
  float scale = larger ? FLT_MAX : FLT_MIN;
  int64_t in[FERRY_MAX_RANK], s[FERRY_MAX_RANK];
  for (int i = 0; i < n; i++) {
    if (!ISK(x->dims[axes[i]], &in[i]) || !ISK(sz[i], &s[i]) || in[i] == 0) {
      for (int k = 0; k < n; k++) o->dims[axes[k]] = FRESH();
      return;
    }
    float f = (float)s[i] / (float)in[i];
    scale = larger ? (f < scale ? f : scale) : (f > scale ? f : scale);
  }
  for (int i = 0; i < n; i++) o->dims[axes[i]] = K(floor_i64((double)(scale * (float)in[i]) + 0.5));
}

static int resize_sizes(ferry_shape_ctx *c, ferry_sval *o, int si, const int *axes, int n) {
  ferry_sdim sz[FERRY_MAX_RANK];
  char pol[32];
  int m = ferry_rule_content_dims(c, si, sz, FERRY_MAX_RANK);
  if (m >= 0 && m != n) return ferry_shape_fail(c, "sizes has %d values, expected %d", m, n);
  if (ferry_rule_attr_str(c, "keep_aspect_ratio_policy", pol, sizeof pol) < 0) strcpy(pol, "?");
  int keep = c->opset >= 18 && *pol && strcmp(pol, "stretch");
  if (keep && strcmp(pol, "not_larger") && strcmp(pol, "not_smaller"))
    return ferry_shape_fail(c, "unknown keep_aspect_ratio_policy '%s'", pol);
  if (m < 0) {
    for (int i = 0; i < n; i++) o->dims[axes[i]] = FRESH();
  } else if (keep) {
    keep_aspect(c, o, axes, n, sz, !strcmp(pol, "not_larger"));
  } else {
    for (int i = 0; i < n; i++) o->dims[axes[i]] = sz[i];
  }
  return FERRY_OK;
}

/* tf_crop_and_resize scales by the roi's extent (roi = in[ri]). */
static int roi_extent(ferry_shape_ctx *c, int ri, int n, double *ext) {
  char mode[64];
  double roi[2 * FERRY_MAX_RANK];
  for (int i = 0; i < n; i++) ext[i] = 1;
  ferry_rule_attr_str(c, "coordinate_transformation_mode", mode, sizeof mode);
  if (ri < 0 || strcmp(mode, "tf_crop_and_resize")) return 1;
  if (float_data(c, ri, roi, 2 * FERRY_MAX_RANK) != 2 * n) return 0;
  for (int i = 0; i < n; i++) ext[i] = roi[n + i] - roi[i];
  return 1;
}

/* Output dims from scale factors f (n of them, or NULL when unknown). */
static int apply_scales(ferry_shape_ctx *c, ferry_sval *o, const double *f, int m, const int *axes, int n) {
  if (f && m != n) return ferry_shape_fail(c, "scales has %d values, expected %d", m, n);
  for (int i = 0; i < n; i++) {
    if (f && f[i] <= 0) return ferry_shape_fail(c, "scales must be positive");
    o->dims[axes[i]] = f ? scale_dim(c, c->in[0].dims[axes[i]], f[i]) : FRESH();
  }
  return FERRY_OK;
}

static int resize_scales(ferry_shape_ctx *c, ferry_sval *o, int fi, int ri, const int *axes, int n) {
  double f[FERRY_MAX_RANK], ext[FERRY_MAX_RANK];
  int m = float_data(c, fi, f, FERRY_MAX_RANK);
  if (m == n && roi_extent(c, ri, n, ext))
    for (int i = 0; i < n; i++) f[i] *= ext[i];
  else if (m == n)
    m = -1; /* roi unknown: sizes unknown */
  return apply_scales(c, o, m >= 0 ? f : NULL, m, axes, n);
}

/* X with roi = in[ri], scales = in[fi], sizes = in[si] (-1: no such input). */
static int resize(ferry_shape_ctx *c, int ri, int fi, int si) {
  int rc = ferry_rule_need(c, 1), axes[FERRY_MAX_RANK];
  if (rc) return rc;
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  ferry_rule_copy_shape(o, x);
  if (x->rank < 0) return FERRY_OK;
  int n = resize_axes(c, x->rank, axes);
  if (n < 0) return FERRY_E_INPUT;
  if (si >= 0 && nonempty(c, si)) return resize_sizes(c, o, si, axes, n);
  if (nonempty(c, fi)) return resize_scales(c, o, fi, ri, axes, n);
  return ferry_shape_fail(c, "needs scales or sizes");
}

int ferry_shape_Resize(ferry_shape_ctx *c) {
  return c->opset < 11 ? resize(c, -1, 1, -1) : resize(c, 1, 2, 3);
}

/* Upsample: scales input (opset >= 9), `scales` floats (7, 8), or
 * height_scale / width_scale on NCHW (1..6). */
int ferry_shape_Upsample(ferry_shape_ctx *c) {
  if (c->opset >= 9) return resize(c, -1, 1, -1);
  int rc = ferry_rule_need(c, 1), axes[FERRY_MAX_RANK];
  if (rc) return rc;
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  ferry_rule_copy_shape(o, x);
  if (x->rank < 0) return FERRY_OK;
  double f[FERRY_MAX_RANK];
  int m = 4;
  ferry_attrv a;
  memset(&a, 0, sizeof a);
  for (int i = 0; i < x->rank; i++) axes[i] = i;
  if (c->opset >= 7) {
    if (!c->attr || !c->attr(c->node, "scales", &a) || a.type != ATTR_FLOATS || a.n > FERRY_MAX_RANK)
      return ferry_shape_fail(c, "scales is required");
    m = a.n;
    for (int i = 0; i < m; i++) f[i] = a.floats[i];
  } else {
    f[0] = f[1] = 1, f[2] = ferry_attr_float(c, "height_scale", 1),
    f[3] = ferry_attr_float(c, "width_scale", 1);
  }
  return apply_scales(c, o, f, m, axes, x->rank);
}

/* ---- padding and cropping ---- */

/* Pads (2n begin..., end... values) for the axes, as dims; n_pads or -1. */
static int pad_values(ferry_shape_ctx *c, ferry_sdim *p, int cap) {
  const int64_t *a;
  if (c->opset >= 11) return ferry_rule_content_dims(c, 1, p, cap);
  int m = ferry_attr_ints(c, c->opset < 2 ? "paddings" : "pads", &a);
  if (m > cap) return -1;
  for (int i = 0; i < m; i++) p[i] = K(a[i]);
  return m;
}

/* The padded axes: input 3 (opset >= 18) or all. Returns the count, -1
 * when the axes input is not constant, -2 (c->err set) on a bad axis. */
static int pad_axes(ferry_shape_ctx *c, int rank, int *axes) {
  int64_t a[FERRY_MAX_RANK];
  int n = 0;
  if (c->opset >= 18 && has(3) && (n = ferry_rule_const_ints(c, 3, a, FERRY_MAX_RANK)) < 0) return -1;
  if (has(3) && c->opset >= 18 && n == 0) return 0;
  n = norm_axes(c, a, n, rank, axes);
  return n < 0 ? -2 : n;
}

int ferry_shape_Pad(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 1), axes[FERRY_MAX_RANK];
  if (rc) return rc;
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  ferry_rule_copy_shape(o, x);
  if (x->rank < 0) return FERRY_OK;
  ferry_sdim p[2 * FERRY_MAX_RANK];
  int n = pad_axes(c, x->rank, axes), m = n >= 0 ? pad_values(c, p, 2 * FERRY_MAX_RANK) : -1;
  if (n == -2) return FERRY_E_INPUT;
  if (m >= 0 && m != 2 * n) return ferry_shape_fail(c, "pads has %d values, expected %d", m, 2 * n);
  for (int i = 0; i < (n >= 0 ? n : x->rank); i++) {
    int a = n >= 0 ? axes[i] : i;
    int64_t v;
    o->dims[a] = m >= 0 ? ADD(x->dims[a], ADD(p[i], p[i + n])) : FRESH();
    if (ISK(o->dims[a], &v) && v < 0) return ferry_shape_fail(c, "pads make axis %d negative", a);
  }
  return FERRY_OK;
}

/* input_data, shape: the axes (attribute, default all) get shape's values. */
int ferry_shape_CenterCropPad(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 2), axes[FERRY_MAX_RANK];
  if (rc) return rc;
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  ferry_rule_copy_shape(o, x);
  if (x->rank < 0) return FERRY_OK;
  const int64_t *a = NULL;
  int m = ferry_attr_ints(c, "axes", &a);
  int n = norm_axes(c, a, m, x->rank, axes);
  if (n < 0) return FERRY_E_INPUT;
  ferry_sdim s[FERRY_MAX_RANK];
  m = ferry_rule_content_dims(c, 1, s, FERRY_MAX_RANK);
  if (m >= 0 && m != n) return ferry_shape_fail(c, "shape has %d values, expected %d", m, n);
  for (int i = 0; i < n; i++) o->dims[axes[i]] = m >= 0 ? s[i] : FRESH();
  return FERRY_OK;
}

/* input [N, C * prod(block_shape), L], image_shape, block_shape ->
 * [N, C, image_shape...]. */
int ferry_shape_Col2Im(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 3);
  if (rc) return rc;
  const ferry_sval *x = &c->in[0], *is = &c->in[1];
  ferry_sval *o = &c->out[0];
  o->dtype = x->dtype;
  if (x->rank >= 0 && x->rank != 3) return ferry_shape_fail(c, "input must have rank 3, got %d", x->rank);
  ferry_sdim img[FERRY_MAX_RANK], blk[FERRY_MAX_RANK];
  int64_t len;
  int n = ferry_rule_content_dims(c, 1, img, FERRY_MAX_RANK - 2);
  int nb = ferry_rule_content_dims(c, 2, blk, FERRY_MAX_RANK - 2);
  if (n < 0 && is->rank == 1 && ISK(is->dims[0], &len) && len <= FERRY_MAX_RANK - 2)
    for (n = 0; n < len; n++) img[n] = FRESH();
  if (n < 0) return FERRY_OK;
  if (nb >= 0 && nb != n) return ferry_shape_fail(c, "block_shape has %d values, image_shape %d", nb, n);
  ferry_sdim prod = K(1);
  for (int i = 0; i < nb; i++) prod = MUL(prod, blk[i]);
  o->rank = n + 2;
  o->dims[0] = x->rank == 3 ? x->dims[0] : FRESH();
  o->dims[1] = x->rank == 3 && nb >= 0 ? DIV(x->dims[1], prod) : FRESH();
  memcpy(o->dims + 2, img, (size_t)n * sizeof img[0]);
  return FERRY_OK;
}

/* ---- layout and other ops ---- */

/* X [N, C, D...], grid [N, D_out..., r-2] -> [N, C, D_out...]. */
int ferry_shape_GridSample(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 2);
  if (rc) return rc;
  const ferry_sval *x = &c->in[0], *g = &c->in[1];
  ferry_sval *o = &c->out[0];
  o->dtype = x->dtype;
  int r = x->rank >= 0 ? x->rank : g->rank;
  if (r < 0) return FERRY_OK;
  if (r < 3) return ferry_shape_fail(c, "X must have rank >= 3, got %d", r);
  if (x->rank >= 0 && g->rank >= 0 && g->rank != r)
    return ferry_shape_fail(c, "grid has rank %d, X has rank %d", g->rank, r);
  o->rank = r;
  for (int i = 0; i < r; i++)
    o->dims[i] = i < 2 ? (x->rank >= 0 ? x->dims[i] : FRESH()) : g->rank >= 0 ? g->dims[i - 1] : FRESH();
  return FERRY_OK;
}

/* blocksize b: DepthToSpace [N, C/(b*b), H*b, W*b], SpaceToDepth the inverse. */
static int block_op(ferry_shape_ctx *c, int to_space) {
  int rc = same_shape(c);
  if (rc) return rc;
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  int64_t b = ferry_attr_int(c, "blocksize", 0), v;
  if (b < 1) return ferry_shape_fail(c, "blocksize must be >= 1");
  if (x->rank < 0) return FERRY_OK;
  if (x->rank != 4) return ferry_shape_fail(c, "input must have rank 4, got %d", x->rank);
  for (int i = to_space ? 1 : 2; i < (to_space ? 2 : 4); i++) {
    int64_t by = to_space ? b * b : b;
    if (ISK(x->dims[i], &v) && v % by)
      return ferry_shape_fail(c, "dim %d (%lld) is not divisible by %lld", i, (long long)v, (long long)by);
  }
  o->dims[1] = to_space ? DIV(x->dims[1], K(b * b)) : MUL(x->dims[1], K(b * b));
  for (int i = 2; i < 4; i++) o->dims[i] = to_space ? MUL(x->dims[i], K(b)) : DIV(x->dims[i], K(b));
  return FERRY_OK;
}

int ferry_shape_DepthToSpace(ferry_shape_ctx *c) { return block_op(c, 1); }
int ferry_shape_SpaceToDepth(ferry_shape_ctx *c) { return block_op(c, 0); }

/* output like data; mask like data, bool from opset 10 (before: data's dtype). */
int ferry_shape_Dropout(ferry_shape_ctx *c) {
  int rc = same_shape(c);
  if (rc) return rc;
  ferry_sval *m = opt_out(c, 1);
  if (m) {
    ferry_rule_copy_shape(m, &c->in[0]);
    m->dtype = c->opset >= 10 ? FERRY_BOOL : c->in[0].dtype;
  }
  return FERRY_OK;
}

/* selected_indices [num_selected, 3] int64; num_selected depends on data. */
int ferry_shape_NonMaxSuppression(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 2);
  if (rc) return rc;
  ferry_sval *o = &c->out[0];
  o->dtype = FERRY_I64;
  o->rank = 2;
  o->dims[0] = FRESH();
  o->dims[1] = K(3);
  return FERRY_OK;
}
