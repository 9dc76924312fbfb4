/*
 * tensor.c - shape rules of data-movement ops: Constant, Shape, Size,
 * Gather*, Scatter*, (Un)Squeeze, Concat, Split, Reshape, Expand, Flatten,
 * Transpose, Slice, Range, ConstantOfShape, Tile, OneHot, Compress,
 * NonZero, Unique, EyeLike.
 *
 * Shape-carrying tensors: these ops move the *content* of small integer
 * tensors along with their elements (Shape makes it from dims, Gather,
 * Slice, Concat... move it), and the ops that take a target shape
 * (Reshape, Expand, ConstantOfShape, Range, Slice, Tile) read it as dims.
 * So a target built from Shape(x) stays symbolic: Reshape's -1 becomes
 * numel / product of the other dims through the dimops' division.
 *
 * Symbolic slice bounds and ranges are assumed to lie inside the dim they
 * index (dims and the values computed from them are never negative), as
 * onnxruntime's symbolic shape inference does; concrete bounds are clamped
 * exactly as ONNX specifies.
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define BIG_INDEX ((int64_t)1 << 40) /* a bound this large means "to the end" */

static int has_in(ferry_shape_ctx *c, int i) { return i < c->n_in && c->in[i].present; }

static void copy_content(ferry_sval *out, const ferry_sval *in) {
  out->n_content = in->n_content;
  if (in->n_content > 0) memcpy(out->content, in->content, (size_t)in->n_content * sizeof *in->content);
}

/* Dims of a rank-n output nothing more is known about. */
static void fresh_dims(ferry_shape_ctx *c, ferry_sval *o, int n) {
  o->rank = n;
  for (int i = 0; i < n; i++) o->dims[i] = c->D->fresh(c->D->ctx);
}

/* The length of 1-D input i when known (how many axes, how many dims). */
static int known_len(ferry_shape_ctx *c, int i, int64_t *n) {
  const ferry_sval *s = &c->in[i];
  if (!has_in(c, i)) return 0;
  if (s->rank == 0) return *n = 1, 1;
  return s->rank == 1 && c->D->is_const(c->D->ctx, s->dims[0], n);
}

/* Integer list from attribute `name` (opset < from) or input i (from on). */
static int ints_arg(ferry_shape_ctx *c, const char *name, int i, int from, int64_t *v, int cap) {
  if (c->opset < from) {
    const int64_t *a;
    int n = ferry_attr_ints(c, name, &a);
    if (n > cap) return -1;
    if (n) memcpy(v, a, (size_t)n * sizeof *v);
    return ferry_attr_has(c, name) ? n : -2; /* -2: absent */
  }
  if (!has_in(c, i)) return -2;
  return ferry_const_ints(c, i, v, cap);
}

/* ---- constants ---- */

static void content_of_data(ferry_shape_ctx *c, ferry_sval *o) {
  o->n_content = -1;
  ferry_content_from_data(c, o);
}

int ferry_shape_Constant(ferry_shape_ctx *c) {
  ferry_sval *o = &c->out[0];
  ferry_attrv a;
  static const char *names[] = {"value", "sparse_value", "value_int", "value_ints",
                                "value_float", "value_floats", "value_string", "value_strings"};
  for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
    if (!ferry_attr_get(c, names[k], &a)) continue;
    if (k < 2 && (a.trank < 0 || a.trank > FERRY_MAX_RANK))
      return ferry_shape_fail(c, "rank %d is over %d", a.trank, FERRY_MAX_RANK);
    if (k < 2) {
      o->dtype = a.tdtype;
      o->rank = a.trank;
      for (int i = 0; i < a.trank; i++) o->dims[i] = ferry_k(c, a.tdims[i]);
      o->data = a.tdata;
      o->numel_data = 1;
      for (int i = 0; i < a.trank; i++) o->numel_data *= a.tdims[i];
    } else {
      static const int dt[] = {FERRY_I64, FERRY_I64, FERRY_F32, FERRY_F32, FERRY_STRING, FERRY_STRING};
      o->dtype = dt[k - 2];
      o->rank = (k - 2) % 2;
      if (o->rank) o->dims[0] = ferry_k(c, a.n);
      if (k == 2) o->content[0] = ferry_k(c, a.i), o->n_content = 1;
      if (k == 3) o->data = a.ints, o->numel_data = a.n;
    }
    if (o->data) content_of_data(c, o);
    return FERRY_OK;
  }
  return ferry_shape_fail(c, "has no value attribute");
}

/* Dims from a 1-D shape input: its content, or fresh dims when only its
 * length is known; -1 when not even that. */
static int target_dims(ferry_shape_ctx *c, int i, ferry_sdim *dims) {
  int n = ferry_shape_from_content(c, &c->in[i], dims);
  int64_t len;
  if (n >= 0) return n;
  if (!known_len(c, i, &len) || len > FERRY_MAX_RANK) return -1;
  for (int k = 0; k < len; k++) dims[k] = c->D->fresh(c->D->ctx);
  return (int)len;
}

int ferry_shape_ConstantOfShape(ferry_shape_ctx *c) {
  ferry_sval *o = &c->out[0];
  ferry_attrv a;
  int has_value = ferry_attr_get(c, "value", &a) && a.tdata;
  if (has_value) {
    int64_t one = 1;
    for (int i = 0; i < a.trank; i++) one *= a.tdims[i];
    if (a.trank < 0 || one != 1) return ferry_shape_fail(c, "value must have one element");
  }
  o->dtype = has_value ? a.tdtype : FERRY_F32;
  o->rank = target_dims(c, 0, o->dims);
  int64_t n, v[1];
  if (o->rank < 0 || !ferry_content_dtype(o->dtype) || !ferry_known_numel(c, o, &n) ||
      n > FERRY_MAX_CONTENT)
    return FERRY_OK;
  v[0] = 0;
  if (has_value && ferry_data_content(a.tdtype, a.tdata, 1, v, 1) < 0) return FERRY_OK;
  for (int64_t i = 0; i < n; i++) o->content[i] = ferry_k(c, v[0]);
  o->n_content = (int)n;
  return FERRY_OK;
}

/* ---- shape of a tensor as a tensor ---- */

static int64_t clamp(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

int ferry_shape_Shape(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  o->dtype = FERRY_I64;
  o->rank = 1;
  if (x->rank < 0) {
    o->dims[0] = c->D->fresh(c->D->ctx);
    return FERRY_OK;
  }
  int64_t r = x->rank, s = ferry_attr_int(c, "start", 0), e = ferry_attr_int(c, "end", r);
  s = clamp(s < 0 ? s + r : s, 0, r);
  e = clamp(e < 0 ? e + r : e, 0, r);
  int64_t n = e > s ? e - s : 0;
  o->dims[0] = ferry_k(c, n);
  memcpy(o->content, x->dims + s, (size_t)n * sizeof *o->content);
  o->n_content = (int)n;
  return FERRY_OK;
}

int ferry_shape_Size(ferry_shape_ctx *c) {
  ferry_sval *o = &c->out[0];
  o->dtype = FERRY_I64;
  o->rank = 0;
  if (c->in[0].rank >= 0) {
    o->content[0] = ferry_numel(c, &c->in[0], 0, c->in[0].rank);
    o->n_content = 1;
  }
  return FERRY_OK;
}

/* ---- gathers and scatters ---- */

/* Gather's content: out[o][j][i] = data[o][idx[j]][i]. */
static void gather_content(ferry_shape_ctx *c, int axis, ferry_sval *o) {
  const ferry_sval *x = &c->in[0];
  int64_t d[FERRY_MAX_RANK], idx[FERRY_MAX_CONTENT], outer = 1, inner = 1;
  int ni = ferry_const_ints(c, 1, idx, FERRY_MAX_CONTENT);
  if (x->n_content < 0 || ni < 0 || !ferry_const_dims(c, x, d)) return;
  for (int i = 0; i < axis; i++) outer *= d[i];
  for (int i = axis + 1; i < x->rank; i++) inner *= d[i];
  if (outer * ni * inner > FERRY_MAX_CONTENT) return;
  for (int j = 0; j < ni; j++) {
    if (idx[j] < 0) idx[j] += d[axis];
    if (idx[j] < 0 || idx[j] >= d[axis]) return;
  }
  int n = 0;
  for (int64_t a = 0; a < outer; a++)
    for (int j = 0; j < ni; j++)
      for (int64_t i = 0; i < inner; i++)
        o->content[n++] = x->content[(a * d[axis] + idx[j]) * inner + i];
  o->n_content = n;
}

int ferry_shape_Gather(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0], *ix = &c->in[1];
  ferry_sval *o = &c->out[0];
  o->dtype = x->dtype;
  if (x->rank < 0 || ix->rank < 0) return FERRY_OK;
  int axis = ferry_axis(ferry_attr_int(c, "axis", 0), x->rank);
  if (axis < 0) return ferry_shape_fail(c, "axis out of range for rank %d", x->rank);
  if (x->rank - 1 + ix->rank > FERRY_MAX_RANK) return ferry_shape_fail(c, "output rank over %d", FERRY_MAX_RANK);
  int r = 0;
  for (int i = 0; i < axis; i++) o->dims[r++] = x->dims[i];
  for (int i = 0; i < ix->rank; i++) o->dims[r++] = ix->dims[i];
  for (int i = axis + 1; i < x->rank; i++) o->dims[r++] = x->dims[i];
  o->rank = r;
  gather_content(c, axis, o);
  return FERRY_OK;
}

int ferry_shape_GatherElements(ferry_shape_ctx *c) {
  ferry_same_shape(&c->out[0], &c->in[1], c->in[0].dtype);
  return FERRY_OK;
}

int ferry_shape_GatherND(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0], *ix = &c->in[1];
  ferry_sval *o = &c->out[0];
  int64_t k, b = ferry_attr_int(c, "batch_dims", 0);
  o->dtype = x->dtype;
  if (x->rank < 0 || ix->rank < 1 || !c->D->is_const(c->D->ctx, ix->dims[ix->rank - 1], &k))
    return FERRY_OK;
  if (b < 0 || b + k > x->rank) return ferry_shape_fail(c, "indices reach past the data's rank");
  if (ix->rank - 1 + x->rank - b - k > FERRY_MAX_RANK) return ferry_shape_fail(c, "output rank over %d", FERRY_MAX_RANK);
  int r = 0;
  for (int i = 0; i < ix->rank - 1; i++) o->dims[r++] = ix->dims[i];
  for (int64_t i = b + k; i < x->rank; i++) o->dims[r++] = x->dims[i];
  o->rank = r;
  return FERRY_OK;
}

int ferry_shape_scatter(ferry_shape_ctx *c) {
  ferry_same_shape(&c->out[0], &c->in[0], c->in[0].dtype);
  return FERRY_OK;
}

/* ---- adding and removing axes ---- */

int ferry_shape_Unsqueeze(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  int64_t axes[FERRY_MAX_RANK], len;
  int n = ints_arg(c, "axes", 1, 13, axes, FERRY_MAX_RANK);
  o->dtype = x->dtype;
  if (x->rank < 0) return FERRY_OK;
  if (n < 0) {
    if (n == -1 && known_len(c, 1, &len) && x->rank + len <= FERRY_MAX_RANK) fresh_dims(c, o, x->rank + (int)len);
    return FERRY_OK;
  }
  int r = x->rank + n, at[FERRY_MAX_RANK] = {0};
  if (r > FERRY_MAX_RANK) return ferry_shape_fail(c, "output rank over %d", FERRY_MAX_RANK);
  for (int i = 0; i < n; i++) {
    int a = ferry_axis(axes[i], r);
    if (a < 0 || at[a]) return ferry_shape_fail(c, "bad or repeated axis %lld", (long long)axes[i]);
    at[a] = 1;
  }
  for (int i = 0, k = 0; i < r; i++) o->dims[i] = at[i] ? ferry_k(c, 1) : x->dims[k++];
  o->rank = r;
  copy_content(o, x);
  return FERRY_OK;
}

int ferry_shape_Squeeze(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  int64_t axes[FERRY_MAX_RANK];
  int n = ints_arg(c, "axes", 1, 13, axes, FERRY_MAX_RANK), drop[FERRY_MAX_RANK] = {0};
  o->dtype = x->dtype;
  if (x->rank < 0 || n == -1) return FERRY_OK;
  for (int i = 0; i < n; i++) {
    int a = ferry_axis(axes[i], x->rank);
    if (a < 0) return ferry_shape_fail(c, "axis %lld out of range", (long long)axes[i]);
    drop[a] = 1;
  }
  for (int i = 0; n < 0 && i < x->rank; i++) drop[i] = ferry_dim_is(c, x->dims[i], 1);
  int r = 0;
  for (int i = 0; i < x->rank; i++)
    if (!drop[i]) o->dims[r++] = x->dims[i];
  o->rank = r;
  copy_content(o, x);
  return FERRY_OK;
}

/* ---- joining and splitting ---- */

/* One dim where inputs should agree: a known integer wins over a symbol. */
static ferry_sdim agree(ferry_shape_ctx *c, ferry_sdim a, ferry_sdim b) {
  int64_t v;
  return c->D->is_const(c->D->ctx, a, &v) ? a : b;
}

static void concat_content(ferry_shape_ctx *c, ferry_sval *o) {
  int n = 0;
  if (o->rank != 1) return;
  for (int i = 0; i < c->n_in; i++) {
    const ferry_sval *s = &c->in[i];
    if (!s->present) continue;
    if (s->n_content < 0 || n + s->n_content > FERRY_MAX_CONTENT) return;
    memcpy(o->content + n, s->content, (size_t)s->n_content * sizeof *s->content);
    n += s->n_content;
  }
  o->n_content = n;
}

int ferry_shape_Concat(ferry_shape_ctx *c) {
  ferry_sval *o = &c->out[0];
  int r = -1, all = 1;
  for (int i = 0; i < c->n_in; i++) {
    if (!c->in[i].present) continue;
    if (!o->dtype) o->dtype = c->in[i].dtype;
    if (c->in[i].rank < 0) all = 0;
    else if (r < 0) r = c->in[i].rank;
    else if (r != c->in[i].rank) return ferry_shape_fail(c, "inputs of rank %d and %d", r, c->in[i].rank);
  }
  if (r < 0) return FERRY_OK;
  int axis = ferry_axis(ferry_attr_int(c, "axis", 0), r);
  if (axis < 0) return ferry_shape_fail(c, "axis out of range for rank %d", r);
  ferry_sdim sum = ferry_k(c, 0);
  int first = 1;
  for (int i = 0; i < c->n_in; i++) {
    const ferry_sval *s = &c->in[i];
    if (!s->present || s->rank < 0) continue;
    sum = c->D->add(c->D->ctx, sum, s->dims[axis]);
    for (int k = 0; k < r; k++)
      if (k != axis) o->dims[k] = first ? s->dims[k] : agree(c, o->dims[k], s->dims[k]);
    first = 0;
  }
  o->dims[axis] = all ? sum : c->D->fresh(c->D->ctx);
  o->rank = r;
  if (all) concat_content(c, o);
  return FERRY_OK;
}

/* Split sizes: from the attribute or input, or equal parts of d. */
static int split_sizes(ferry_shape_ctx *c, ferry_sdim d, ferry_sdim *sz) {
  int64_t v[FERRY_MAX_CONTENT], dv;
  int n = c->n_out, k = ints_arg(c, "split", 1, 13, v, FERRY_MAX_CONTENT);
  if (k == -1) {
    for (int i = 0; i < n; i++) sz[i] = c->D->fresh(c->D->ctx);
    return 0;
  }
  if (k >= 0) {
    if (k != n) return ferry_shape_fail(c, "split has %d sizes for %d outputs", k, n);
    for (int i = 0; i < n; i++) sz[i] = ferry_k(c, v[i]);
    return 0;
  }
  if (c->D->is_const(c->D->ctx, d, &dv)) { /* opset 18: the last part may be smaller */
    int64_t part = (dv + n - 1) / n;
    for (int i = 0; i < n; i++) sz[i] = ferry_k(c, i < n - 1 ? part : dv - part * (n - 1));
    return 0;
  }
  for (int i = 0; i < n; i++) sz[i] = c->D->div(c->D->ctx, d, ferry_k(c, n));
  return 0;
}

int ferry_shape_Split(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  ferry_sdim sz[FERRY_MAX_CONTENT];
  for (int i = 0; i < c->n_out; i++) c->out[i].dtype = x->dtype;
  if (x->rank < 0) return FERRY_OK;
  if (c->n_out > FERRY_MAX_CONTENT) return ferry_shape_fail(c, "more than %d outputs", FERRY_MAX_CONTENT);
  int axis = ferry_axis(ferry_attr_int(c, "axis", 0), x->rank);
  if (axis < 0) return ferry_shape_fail(c, "axis out of range for rank %d", x->rank);
  if (split_sizes(c, x->dims[axis], sz)) return FERRY_E_INPUT;
  int64_t off = 0, len;
  for (int i = 0; i < c->n_out; i++) {
    ferry_sval *o = &c->out[i];
    ferry_same_shape(o, x, x->dtype);
    o->dims[axis] = sz[i];
    if (x->rank != 1 || x->n_content < 0 || !c->D->is_const(c->D->ctx, sz[i], &len) || off + len > x->n_content)
      continue;
    memcpy(o->content, x->content + off, (size_t)len * sizeof *o->content);
    o->n_content = (int)len;
    off += len;
  }
  return FERRY_OK;
}

/* ---- reshaping ---- */

/* Reshape's target with 0 and -1 resolved against x's dims. */
static int reshape_dims(ferry_shape_ctx *c, const ferry_sval *x, ferry_sdim *t, int n) {
  int allowzero = c->opset >= 14 && ferry_attr_int(c, "allowzero", 0), infer = -1;
  int64_t v;
  ferry_sdim known = ferry_k(c, 1);
  for (int i = 0; i < n; i++) {
    if (c->D->is_const(c->D->ctx, t[i], &v) && v == 0 && !allowzero)
      t[i] = i < x->rank ? x->dims[i] : c->D->fresh(c->D->ctx);
    else if (c->D->is_const(c->D->ctx, t[i], &v) && v == -1) {
      if (infer >= 0) return ferry_shape_fail(c, "two -1 in the target shape");
      infer = i;
      continue;
    } else if (c->D->is_const(c->D->ctx, t[i], &v) && v < -1)
      return ferry_shape_fail(c, "target dim %lld", (long long)v);
    known = c->D->mul(c->D->ctx, known, t[i]);
  }
  if (infer >= 0)
    t[infer] = x->rank < 0 ? c->D->fresh(c->D->ctx)
                           : c->D->div(c->D->ctx, ferry_numel(c, x, 0, x->rank), known);
  return FERRY_OK;
}

int ferry_shape_Reshape(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  int n;
  o->dtype = x->dtype;
  if (c->opset < 5) {
    const int64_t *a;
    n = ferry_attr_ints(c, "shape", &a);
    if (n > FERRY_MAX_RANK) return ferry_shape_fail(c, "target rank %d", n);
    for (int i = 0; i < n; i++) o->dims[i] = ferry_k(c, a[i]);
  } else {
    n = target_dims(c, 1, o->dims);
  }
  if (n < 0) return FERRY_OK;
  int rc = reshape_dims(c, x, o->dims, n);
  if (rc) return rc;
  o->rank = n;
  copy_content(o, x);
  return FERRY_OK;
}

int ferry_shape_Expand(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0], t = *o;
  o->dtype = x->dtype;
  t.rank = target_dims(c, 1, t.dims);
  if (t.rank < 0 || x->rank < 0) return FERRY_OK;
  int rc = ferry_broadcast(c, x, &t, o);
  if (rc) return rc;
  int64_t od[FERRY_MAX_RANK], xd[FERRY_MAX_RANK], n;
  if (x->n_content < 0 || !ferry_const_dims(c, o, od) || !ferry_const_dims(c, x, xd) ||
      !ferry_known_numel(c, o, &n) || n > FERRY_MAX_CONTENT)
    return FERRY_OK;
  for (int64_t i = 0; i < n; i++) o->content[i] = x->content[ferry_bcast_index(od, o->rank, xd, x->rank, i)];
  o->n_content = (int)n;
  return FERRY_OK;
}

int ferry_shape_Flatten(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  o->dtype = x->dtype;
  if (x->rank < 0) return FERRY_OK;
  int64_t axis = ferry_attr_int(c, "axis", 1);
  if (axis < 0) axis += x->rank;
  if (axis < 0 || axis > x->rank) return ferry_shape_fail(c, "axis out of range for rank %d", x->rank);
  o->rank = 2;
  o->dims[0] = ferry_numel(c, x, 0, (int)axis);
  o->dims[1] = ferry_numel(c, x, (int)axis, x->rank);
  copy_content(o, x);
  return FERRY_OK;
}

static void transpose_content(ferry_shape_ctx *c, const int *perm, ferry_sval *o) {
  const ferry_sval *x = &c->in[0];
  int64_t d[FERRY_MAX_RANK], od[FERRY_MAX_RANK], stride[FERRY_MAX_RANK];
  if (x->n_content < 0 || !ferry_const_dims(c, x, d)) return;
  for (int i = x->rank - 1, s = 1; i >= 0; s *= (int)d[i], i--) stride[i] = s;
  for (int i = 0; i < x->rank; i++) od[i] = d[perm[i]];
  for (int f = 0; f < x->n_content; f++) {
    int64_t rest = f, src = 0;
    for (int i = x->rank - 1; i >= 0; i--) {
      src += (rest % od[i]) * stride[perm[i]];
      rest /= od[i];
    }
    o->content[f] = x->content[src];
  }
  o->n_content = x->n_content;
}

int ferry_shape_Transpose(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  const int64_t *p;
  int perm[FERRY_MAX_RANK], seen[FERRY_MAX_RANK] = {0};
  int n = ferry_attr_ints(c, "perm", &p);
  o->dtype = x->dtype;
  if (x->rank < 0) {
    if (n > 0 && n <= FERRY_MAX_RANK) fresh_dims(c, o, n);
    return FERRY_OK;
  }
  if (n && n != x->rank) return ferry_shape_fail(c, "perm has %d entries for rank %d", n, x->rank);
  for (int i = 0; i < x->rank; i++) {
    perm[i] = n ? ferry_axis(p[i], x->rank) : x->rank - 1 - i;
    if (perm[i] < 0 || seen[perm[i]]++) return ferry_shape_fail(c, "perm is not a permutation");
    o->dims[i] = x->dims[perm[i]];
  }
  o->rank = x->rank;
  transpose_content(c, perm, o);
  return FERRY_OK;
}

/* ---- slicing ---- */

typedef struct slice_arg {
  int n;                         /* entries, -1 unknown */
  ferry_sdim h[FERRY_MAX_RANK];  /* as handles */
} slice_arg;

/* Starts, ends, axes or steps: attribute before opset 10, input after. */
static void slice_arg_read(ferry_shape_ctx *c, const char *name, int i, slice_arg *a) {
  a->n = -1;
  if (c->opset < 10) {
    const int64_t *v;
    int n = ferry_attr_ints(c, name, &v);
    if (!ferry_attr_has(c, name) || n > FERRY_MAX_RANK) return;
    for (int k = 0; k < n; k++) a->h[k] = ferry_k(c, v[k]);
    a->n = n;
    return;
  }
  if (!has_in(c, i)) return;
  const ferry_sval *s = &c->in[i];
  if (s->n_content >= 0 && s->n_content <= FERRY_MAX_RANK) {
    memcpy(a->h, s->content, (size_t)s->n_content * sizeof *a->h);
    a->n = s->n_content;
  }
}

/* A bound as an index in [0, d] (or [-1, d-1] for negative steps), exact
 * for integers, assumed in range for symbols. */
static ferry_sdim slice_bound(ferry_shape_ctx *c, ferry_sdim b, ferry_sdim d, int64_t step) {
  int64_t v, dv;
  int kd = c->D->is_const(c->D->ctx, d, &dv);
  if (!c->D->is_const(c->D->ctx, b, &v)) return b;
  if (v >= BIG_INDEX) return step > 0 ? d : c->D->sub(c->D->ctx, d, ferry_k(c, 1));
  if (v <= -BIG_INDEX) return ferry_k(c, step > 0 ? 0 : -1);
  if (!kd) return v < 0 ? c->D->add(c->D->ctx, d, ferry_k(c, v)) : b;
  if (v < 0) v += dv;
  return ferry_k(c, step > 0 ? clamp(v, 0, dv) : clamp(v, -1, dv - 1));
}

/* Elements from start to end by step: ceil((end - start) / step), >= 0. */
static ferry_sdim slice_len(ferry_shape_ctx *c, ferry_sdim s, ferry_sdim e, int64_t step) {
  const ferry_dimops *D = c->D;
  ferry_sdim span = step > 0 ? D->sub(D->ctx, e, s) : D->sub(D->ctx, s, e);
  int64_t k = step > 0 ? step : -step, v;
  ferry_sdim n = D->div(D->ctx, D->add(D->ctx, span, ferry_k(c, k - 1)), ferry_k(c, k));
  if (D->is_const(D->ctx, n, &v) && v < 0) return ferry_k(c, 0);
  return n;
}

static void slice_content(ferry_shape_ctx *c, int64_t s, int64_t step, ferry_sval *o) {
  const ferry_sval *x = &c->in[0];
  int64_t n;
  if (x->rank != 1 || x->n_content < 0 || !c->D->is_const(c->D->ctx, o->dims[0], &n)) return;
  for (int64_t i = 0; i < n; i++) {
    int64_t k = s + i * step;
    if (k < 0 || k >= x->n_content) return;
    o->content[i] = x->content[k];
  }
  o->n_content = (int)n;
}

int ferry_shape_Slice(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  slice_arg st, en, ax, sp;
  o->dtype = x->dtype;
  if (x->rank < 0) return FERRY_OK;
  slice_arg_read(c, "starts", 1, &st);
  slice_arg_read(c, "ends", 2, &en);
  slice_arg_read(c, "axes", 3, &ax);
  slice_arg_read(c, "steps", 4, &sp);
  ferry_same_shape(o, x, x->dtype);
  int axes_given = c->opset < 10 ? ferry_attr_has(c, "axes") : has_in(c, 3);
  int steps_given = c->opset >= 10 && has_in(c, 4);
  if (st.n < 0 || en.n < 0 || (ax.n < 0 && axes_given) || (sp.n < 0 && steps_given)) {
    /* unknown bounds: the sliced axes (all, when unknown too) are unknown */
    int64_t a;
    for (int i = 0; i < x->rank && ax.n < 0; i++) o->dims[i] = c->D->fresh(c->D->ctx);
    for (int i = 0; i < ax.n; i++)
      if (c->D->is_const(c->D->ctx, ax.h[i], &a) && ferry_axis(a, x->rank) >= 0)
        o->dims[ferry_axis(a, x->rank)] = c->D->fresh(c->D->ctx);
    return FERRY_OK;
  }
  if (st.n != en.n || (ax.n >= 0 && ax.n != st.n) || (sp.n >= 0 && sp.n != st.n))
    return ferry_shape_fail(c, "%d starts, %d ends, %d axes, %d steps", st.n, en.n, ax.n, sp.n);
  int64_t s1 = 0, step1 = 1;
  for (int i = 0; i < st.n; i++) {
    int64_t a = i, step = 1;
    if (ax.n >= 0 && !c->D->is_const(c->D->ctx, ax.h[i], &a)) return ferry_shape_fail(c, "axis %d is not a constant", i);
    int k = ferry_axis(a, x->rank);
    if (k < 0) return ferry_shape_fail(c, "axis %lld out of range for rank %d", (long long)a, x->rank);
    if (sp.n >= 0 && !c->D->is_const(c->D->ctx, sp.h[i], &step)) {
      o->dims[k] = c->D->fresh(c->D->ctx); /* unknown step */
      s1 = -1;
      continue;
    }
    if (step == 0) return ferry_shape_fail(c, "step is 0");
    ferry_sdim s = slice_bound(c, st.h[i], x->dims[k], step), e = slice_bound(c, en.h[i], x->dims[k], step);
    o->dims[k] = slice_len(c, s, e, step);
    if (!c->D->is_const(c->D->ctx, s, &s1)) s1 = -1;
    step1 = step;
  }
  if (st.n == 1 && s1 >= 0) slice_content(c, s1, step1, o);
  return FERRY_OK;
}

/* ---- generating ---- */

/* Range's scalar input i as a handle (integers) or a double (floats). */
static int range_arg(ferry_shape_ctx *c, int i, ferry_sdim *h, double *f, int *is_const) {
  const ferry_sval *s = &c->in[i];
  int64_t v;
  *is_const = 0;
  if (s->n_content >= 1) {
    *h = s->content[0];
    if (c->D->is_const(c->D->ctx, *h, &v)) *f = (double)v, *is_const = 1;
    return 1;
  }
  if (s->data && s->numel_data >= 1) {
    *f = ferry_data_float(s->dtype, s->data, 0);
    *is_const = 1;
    *h = 0;
    return 1;
  }
  return 0;
}

int ferry_shape_Range(ferry_shape_ctx *c) {
  ferry_sval *o = &c->out[0];
  ferry_sdim h[3];
  double f[3];
  int k[3], known = 1;
  o->dtype = c->in[0].dtype;
  o->rank = 1;
  for (int i = 0; i < 3; i++) known &= range_arg(c, i, &h[i], &f[i], &k[i]);
  if (known && k[0] && k[1] && k[2]) {
    if (f[2] == 0) return ferry_shape_fail(c, "delta is 0");
    double n = (f[1] - f[0]) / f[2];
    int64_t len = n <= 0 ? 0 : (int64_t)n + ((double)(int64_t)n < n);
    o->dims[0] = ferry_k(c, len);
    if (ferry_content_dtype(o->dtype) && len <= FERRY_MAX_CONTENT) {
      for (int64_t i = 0; i < len; i++) o->content[i] = ferry_k(c, (int64_t)f[0] + i * (int64_t)f[2]);
      o->n_content = (int)len;
    }
    return FERRY_OK;
  }
  if (known && k[2] && h[0] && h[1] && h[2]) {
    o->dims[0] = slice_len(c, h[0], h[1], (int64_t)f[2]);
    return FERRY_OK;
  }
  o->dims[0] = c->D->fresh(c->D->ctx);
  return FERRY_OK;
}

int ferry_shape_Tile(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  ferry_sdim rep[FERRY_MAX_RANK];
  o->dtype = x->dtype;
  if (x->rank < 0) return FERRY_OK;
  int n = ferry_shape_from_content(c, &c->in[1], rep);
  if (n >= 0 && n != x->rank) return ferry_shape_fail(c, "%d repeats for rank %d", n, x->rank);
  o->rank = x->rank;
  for (int i = 0; i < x->rank; i++)
    o->dims[i] = n < 0 ? c->D->fresh(c->D->ctx) : c->D->mul(c->D->ctx, x->dims[i], rep[i]);
  return FERRY_OK;
}

int ferry_shape_OneHot(ferry_shape_ctx *c) {
  const ferry_sval *ix = &c->in[0], *depth = &c->in[1];
  ferry_sval *o = &c->out[0];
  o->dtype = c->in[2].dtype;
  if (ix->rank < 0) return FERRY_OK;
  int r = ix->rank + 1, axis = ferry_axis(ferry_attr_int(c, "axis", -1), r);
  if (axis < 0 || r > FERRY_MAX_RANK) return ferry_shape_fail(c, "axis out of range");
  ferry_sdim d;
  if (depth->n_content >= 1) d = depth->content[0];
  else if (depth->data && depth->numel_data >= 1) d = ferry_k(c, (int64_t)ferry_data_float(depth->dtype, depth->data, 0));
  else d = c->D->fresh(c->D->ctx);
  for (int i = 0, k = 0; i < r; i++) o->dims[i] = i == axis ? d : ix->dims[k++];
  o->rank = r;
  return FERRY_OK;
}

/* ---- data-dependent sizes: exact when the data is known ---- */

static int nonzero_at(const ferry_sval *s, int64_t i) { return ferry_data_float(s->dtype, s->data, i) != 0; }

int ferry_shape_Compress(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0], *cond = &c->in[1];
  ferry_sval *o = &c->out[0];
  o->dtype = x->dtype;
  if (x->rank < 0) return FERRY_OK;
  int has_axis = ferry_attr_has(c, "axis");
  int axis = has_axis ? ferry_axis(ferry_attr_int(c, "axis", 0), x->rank) : 0;
  if (axis < 0) return ferry_shape_fail(c, "axis out of range");
  int64_t limit = -1, n = 0;
  if (has_axis) c->D->is_const(c->D->ctx, x->dims[axis], &limit);
  else ferry_known_numel(c, x, &limit);
  ferry_sdim cnt = c->D->fresh(c->D->ctx);
  if (cond->data && limit >= 0) {
    for (int64_t i = 0; i < cond->numel_data && i < limit; i++) n += nonzero_at(cond, i);
    cnt = ferry_k(c, n);
  }
  if (!has_axis) {
    o->rank = 1;
    o->dims[0] = cnt;
    return FERRY_OK;
  }
  ferry_same_shape(o, x, x->dtype);
  o->dims[axis] = cnt;
  return FERRY_OK;
}

int ferry_shape_NonZero(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  int64_t n = 0;
  o->dtype = FERRY_I64;
  o->rank = 2;
  /* a scalar counts as one axis, as numpy and onnxruntime do */
  o->dims[0] = x->rank >= 0 ? ferry_k(c, x->rank ? x->rank : 1) : c->D->fresh(c->D->ctx);
  if (!x->data || x->dtype == FERRY_STRING) {
    o->dims[1] = c->D->fresh(c->D->ctx);
    return FERRY_OK;
  }
  for (int64_t i = 0; i < x->numel_data; i++) n += nonzero_at(x, i);
  o->dims[1] = ferry_k(c, n);
  return FERRY_OK;
}

/* 1 when slices j1 and j2 along the middle axis of data viewed as
 * [outer, n, inner] (elements of `size` bytes) are equal. */
static int same_slice(const char *p, int size, int64_t outer, int64_t n, int64_t inner, int64_t j1, int64_t j2) {
  for (int64_t o = 0; o < outer; o++)
    if (memcmp(p + ((o * n + j1) * inner) * size, p + ((o * n + j2) * inner) * size, (size_t)(inner * size)))
      return 0;
  return 1;
}

/* How many distinct slices there are along the middle axis. */
static int64_t count_distinct(const char *p, int size, int64_t outer, int64_t n, int64_t inner) {
  int64_t u = 0;
  for (int64_t j = 0; j < n; j++) {
    int seen = 0;
    for (int64_t k = 0; k < j && !seen; k++) seen = same_slice(p, size, outer, n, inner, j, k);
    u += !seen;
  }
  return u;
}

/* Unique: Y, indices, inverse_indices, counts. */
int ferry_shape_Unique(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  int has_axis = ferry_attr_has(c, "axis"), size = ferry_dtype_size(x->dtype);
  int axis = has_axis && x->rank >= 0 ? ferry_axis(ferry_attr_int(c, "axis", 0), x->rank) : 0;
  int64_t d[FERRY_MAX_RANK], outer = 1, inner = 1;
  if (x->rank >= 0 && axis < 0) return ferry_shape_fail(c, "axis out of range");
  ferry_sdim u = c->D->fresh(c->D->ctx);
  if (x->data && size > 0 && ferry_const_dims(c, x, d)) {
    if (!has_axis) u = ferry_k(c, count_distinct(x->data, size, 1, x->numel_data, 1));
    else {
      for (int i = 0; i < axis; i++) outer *= d[i];
      for (int i = axis + 1; i < x->rank; i++) inner *= d[i];
      u = ferry_k(c, count_distinct(x->data, size, outer, d[axis], inner));
    }
  }
  for (int i = 0; i < c->n_out; i++) {
    c->out[i].dtype = i ? FERRY_I64 : x->dtype;
    c->out[i].rank = 1;
    c->out[i].dims[0] = u;
  }
  if (has_axis && x->rank >= 0) {
    ferry_same_shape(&c->out[0], x, x->dtype);
    c->out[0].dims[axis] = u;
  }
  if (c->n_out > 2) c->out[2].dims[0] = has_axis ? (x->rank >= 0 ? x->dims[axis] : c->D->fresh(c->D->ctx))
                                                 : (x->rank >= 0 ? ferry_numel(c, x, 0, x->rank) : c->D->fresh(c->D->ctx));
  return FERRY_OK;
}

int ferry_shape_EyeLike(ferry_shape_ctx *c) {
  ferry_same_shape(&c->out[0], &c->in[0], (int)ferry_attr_int(c, "dtype", c->in[0].dtype));
  return FERRY_OK;
}
