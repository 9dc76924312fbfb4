/*
 * reduce.c - shape rules of the reductions (Reduce*, ArgMax/ArgMin, TopK),
 * the same-shape ops along an axis (Softmax family, CumSum) and the
 * contractions (MatMul family, Gemm, Einsum, Det); declared in rules.h,
 * contract in ../shape.h.
 *
 * How the parts fit:
 *   - reduce() serves every Reduce* op: it finds the axes (attribute before
 *     opset 18, 13 for ReduceSum; input after), applies keepdims and
 *     noop_with_empty_axes, and for Sum/Prod/Max/Min folds a tracked
 *     content when everything is reduced (shape math such as
 *     ReduceProd(Shape(x)) = numel);
 *   - matmul() is numpy matmul (1-D operands, batch broadcasting through
 *     ferry_broadcast) for MatMul, MatMulInteger and QLinearMatMul;
 *   - Einsum parses its equation into terms of labels and an ellipsis,
 *     binds each label to a dim, broadcasts the ellipsis dims, and builds
 *     the explicit or implicit (alphabetical) output.
 * All dim arithmetic goes through c->D.
 */
#include <string.h>

#include "rules.h"

#define K(v) c->D->konst(c->D->ctx, (v))
#define ADD(a, b) c->D->add(c->D->ctx, (a), (b))
#define MUL(a, b) c->D->mul(c->D->ctx, (a), (b))
#define MAX(a, b) c->D->max(c->D->ctx, (a), (b))
#define MIN(a, b) c->D->min(c->D->ctx, (a), (b))
#define FRESH() c->D->fresh(c->D->ctx)
#define ISK(a, p) c->D->is_const(c->D->ctx, (a), (p))
#define has(i) ferry_rule_has(c, (i))

#define ATTR_STRING 3 /* ONNX AttributeProto.STRING */

static int same_shape(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 1);
  if (rc) return rc;
  ferry_rule_copy_shape(&c->out[0], &c->in[0]);
  return FERRY_OK;
}

/* Normalized `axis` of in[0] (attribute, default dflt); -1 when the rank
 * is unknown, -2 (c->err set) when out of range. */
static int axis_of(ferry_shape_ctx *c, int64_t dflt) {
  int rank = c->in[0].rank;
  int64_t axis = ferry_attr_int(c, "axis", dflt);
  if (rank < 0) return -1;
  int a = ferry_axis(axis, rank);
  if (a < 0) return ferry_shape_fail(c, "axis %lld is out of range for rank %d", (long long)axis, rank), -2;
  return a;
}

/* ---- reductions ---- */

enum fold { FOLD_NONE, FOLD_SUM, FOLD_PROD, FOLD_MAX, FOLD_MIN };

/* Folds x's content into one value (x is reduced over every axis). */
static void fold_content(ferry_shape_ctx *c, const ferry_sval *x, ferry_sval *o, enum fold f) {
  if (f == FOLD_NONE || x->n_content < 0 || (x->n_content == 0 && (f == FOLD_MAX || f == FOLD_MIN))) return;
  ferry_sdim v = K(f == FOLD_PROD ? 1 : 0);
  for (int i = 0; i < x->n_content; i++) {
    ferry_sdim e = x->content[i];
    if (i == 0 && (f == FOLD_MAX || f == FOLD_MIN))
      v = e;
    else if (f == FOLD_SUM)
      v = ADD(v, e);
    else if (f == FOLD_PROD)
      v = MUL(v, e);
    else
      v = f == FOLD_MAX ? MAX(v, e) : MIN(v, e);
  }
  o->n_content = 1;
  o->content[0] = v;
}

/* Axes with unknown values: keepdims keeps the rank (dims that are 1 stay
 * 1, others become unknown); otherwise the rank drops by the axes count
 * when that is known. */
static int reduce_unknown_axes(ferry_shape_ctx *c, const ferry_sval *x, ferry_sval *o, int keep) {
  int64_t one, n;
  if (keep) {
    o->rank = x->rank;
    for (int i = 0; i < x->rank; i++) o->dims[i] = ISK(x->dims[i], &one) && one == 1 ? x->dims[i] : FRESH();
    return FERRY_OK;
  }
  const ferry_sval *ax = &c->in[1];
  if (ax->rank != 1 || !ISK(ax->dims[0], &n)) return FERRY_OK;
  if (n > x->rank) return ferry_shape_fail(c, "%lld axes for rank %d", (long long)n, x->rank);
  o->rank = x->rank - (int)n;
  for (int i = 0; i < o->rank; i++) o->dims[i] = FRESH();
  return FERRY_OK;
}

/* The reduced axes: -1 when unknown, else the count (0: none given). */
static int reduce_axes(ferry_shape_ctx *c, int axes_input_opset, int64_t *ax) {
  const int64_t *a;
  if (c->opset >= axes_input_opset) return has(1) ? ferry_rule_const_ints(c, 1, ax, FERRY_MAX_CONTENT) : 0;
  int n = ferry_attr_ints(c, "axes", &a);
  if (n > FERRY_MAX_CONTENT) return ferry_shape_fail(c, "too many axes (%d)", n), -2;
  if (n > 0) memcpy(ax, a, (size_t)n * sizeof *ax);
  return n;
}

/* Identity (noop_with_empty_axes): shape and content pass through. */
static int reduce_noop(const ferry_sval *x, ferry_sval *o) {
  ferry_rule_copy_shape(o, x);
  o->n_content = x->n_content;
  if (x->n_content > 0) memcpy(o->content, x->content, (size_t)x->n_content * sizeof x->content[0]);
  return FERRY_OK;
}

/* Output dims for the n axes ax[] (none: every axis); folds the content
 * when every axis is reduced. */
static int reduce_known_axes(ferry_shape_ctx *c, const int64_t *ax, int n, int keep, enum fold f) {
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  int mark[FERRY_MAX_RANK] = {0}, all = 1;
  for (int i = 0; i < n; i++) {
    int a = ferry_axis(ax[i], x->rank);
    if (a < 0) return ferry_shape_fail(c, "axis %lld is out of range for rank %d", (long long)ax[i], x->rank);
    mark[a] = 1;
  }
  o->rank = 0;
  for (int i = 0; i < x->rank; i++) {
    mark[i] |= n == 0;
    all &= mark[i];
    if (!mark[i])
      o->dims[o->rank++] = x->dims[i];
    else if (keep)
      o->dims[o->rank++] = K(1);
  }
  if (all) fold_content(c, x, o, f);
  return FERRY_OK;
}

/* Every Reduce* op: axes from the attribute before axes_input_opset, from
 * input 1 after; keepdims; noop_with_empty_axes; content folded by f. */
static int reduce(ferry_shape_ctx *c, int axes_input_opset, enum fold f) {
  int rc = ferry_rule_need(c, 1);
  if (rc) return rc;
  const ferry_sval *x = &c->in[0];
  int64_t ax[FERRY_MAX_CONTENT];
  int n = reduce_axes(c, axes_input_opset, ax), keep = ferry_attr_int(c, "keepdims", 1) != 0;
  c->out[0].dtype = x->dtype;
  if (n == -2) return FERRY_E_INPUT;
  if (n == 0 && ferry_attr_int(c, "noop_with_empty_axes", 0)) return reduce_noop(x, &c->out[0]);
  if (x->rank < 0) return FERRY_OK;
  if (n < 0) return reduce_unknown_axes(c, x, &c->out[0], keep);
  return reduce_known_axes(c, ax, n, keep, f);
}

int ferry_shape_ReduceSum(ferry_shape_ctx *c) { return reduce(c, 13, FOLD_SUM); }
int ferry_shape_ReduceMean(ferry_shape_ctx *c) { return reduce(c, 18, FOLD_NONE); }
int ferry_shape_ReduceMax(ferry_shape_ctx *c) { return reduce(c, 18, FOLD_MAX); }
int ferry_shape_ReduceMin(ferry_shape_ctx *c) { return reduce(c, 18, FOLD_MIN); }
int ferry_shape_ReduceProd(ferry_shape_ctx *c) { return reduce(c, 18, FOLD_PROD); }
int ferry_shape_ReduceL1(ferry_shape_ctx *c) { return reduce(c, 18, FOLD_NONE); }
int ferry_shape_ReduceL2(ferry_shape_ctx *c) { return reduce(c, 18, FOLD_NONE); }
int ferry_shape_ReduceLogSum(ferry_shape_ctx *c) { return reduce(c, 18, FOLD_NONE); }
int ferry_shape_ReduceLogSumExp(ferry_shape_ctx *c) { return reduce(c, 18, FOLD_NONE); }
int ferry_shape_ReduceSumSquare(ferry_shape_ctx *c) { return reduce(c, 18, FOLD_NONE); }

/* ArgMax/ArgMin: int64 indices along `axis` (default 0), keepdims. */
static int arg_reduce(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 1);
  if (rc) return rc;
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  o->dtype = FERRY_I64;
  int a = axis_of(c, 0), keep = ferry_attr_int(c, "keepdims", 1) != 0;
  if (a < 0) return a == -1 ? FERRY_OK : FERRY_E_INPUT;
  o->rank = 0;
  for (int i = 0; i < x->rank; i++)
    if (i != a)
      o->dims[o->rank++] = x->dims[i];
    else if (keep)
      o->dims[o->rank++] = K(1);
  return FERRY_OK;
}

int ferry_shape_ArgMax(ferry_shape_ctx *c) { return arg_reduce(c); }
int ferry_shape_ArgMin(ferry_shape_ctx *c) { return arg_reduce(c); }

/* The k of TopK: input 1 (opset >= 10, one value) or attribute k. */
static int topk_k(ferry_shape_ctx *c, ferry_sdim *k) {
  int64_t v;
  if (c->opset < 10) {
    if ((v = ferry_attr_int(c, "k", -1)) < 0) return ferry_shape_fail(c, "k is required");
    *k = K(v);
    return FERRY_OK;
  }
  if (!has(1)) return ferry_shape_fail(c, "input K is missing");
  int n = ferry_rule_content_dims(c, 1, k, 1);
  if (n == 0 || n > 1) return ferry_shape_fail(c, "K must have one value");
  if (n < 0) *k = FRESH();
  if (ISK(*k, &v) && v < 0) return ferry_shape_fail(c, "k must be >= 0, got %lld", (long long)v);
  return FERRY_OK;
}

/* X, K -> Values (X's dtype), Indices (int64): X's dims, k along axis. */
int ferry_shape_TopK(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 1);
  if (rc) return rc;
  const ferry_sval *x = &c->in[0];
  ferry_sdim k;
  int64_t kv, dv;
  if ((rc = topk_k(c, &k))) return rc;
  int a = axis_of(c, -1);
  if (a == -2) return FERRY_E_INPUT;
  for (int i = 0; i < 2 && i < c->n_out; i++) {
    ferry_sval *o = &c->out[i];
    ferry_rule_copy_shape(o, x);
    o->dtype = i ? FERRY_I64 : x->dtype;
    if (a >= 0) o->dims[a] = k;
  }
  if (a >= 0 && ISK(k, &kv) && ISK(x->dims[a], &dv) && kv > dv)
    return ferry_shape_fail(c, "k %lld is larger than axis size %lld", (long long)kv, (long long)dv);
  return FERRY_OK;
}

/* ---- same-shape ops along an axis ---- */

/* Softmax family: axis defaults to 1 before opset 13 (left unchecked on
 * rank < 2, where old exporters relied on it), -1 from 13. */
static int softmax_like(ferry_shape_ctx *c) {
  int rc = same_shape(c);
  if (rc) return rc;
  if (c->opset < 13 && c->in[0].rank < 2 && ferry_attr_int(c, "axis", INT64_MIN) == INT64_MIN)
    return FERRY_OK;
  return axis_of(c, c->opset < 13 ? 1 : -1) == -2 ? FERRY_E_INPUT : FERRY_OK;
}

int ferry_shape_Softmax(ferry_shape_ctx *c) { return softmax_like(c); }
int ferry_shape_LogSoftmax(ferry_shape_ctx *c) { return softmax_like(c); }
int ferry_shape_Hardmax(ferry_shape_ctx *c) { return softmax_like(c); }

int ferry_shape_CumSum(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 2);
  return rc ? rc : same_shape(c);
}

/* ---- contractions ---- */

/* Batch dims of a (all but the last two) as a value for ferry_broadcast. */
static void batch_of(const ferry_sval *a, ferry_sval *b) {
  memset(b, 0, sizeof *b);
  b->present = 1;
  b->n_content = -1;
  b->rank = a->rank > 2 ? a->rank - 2 : 0;
  memcpy(b->dims, a->dims, (size_t)b->rank * sizeof a->dims[0]);
}

/* numpy matmul of in[ai] and in[bi] into out[0] with `dtype`. */
static int matmul(ferry_shape_ctx *c, int ai, int bi, int dtype) {
  int rc = ferry_rule_need(c, (ai > bi ? ai : bi) + 1);
  if (rc) return rc;
  const ferry_sval *a = &c->in[ai], *b = &c->in[bi];
  ferry_sval *o = &c->out[0], ba, bb;
  o->dtype = dtype;
  if (a->rank < 0 || b->rank < 0) return FERRY_OK;
  if (a->rank == 0 || b->rank == 0) return ferry_shape_fail(c, "operands must not be scalars");
  ferry_sdim ka = a->dims[a->rank - 1], kb = b->dims[b->rank == 1 ? 0 : b->rank - 2];
  if (ferry_rule_conflict(c, ka, kb)) return ferry_shape_fail(c, "inner dims differ");
  batch_of(a, &ba);
  batch_of(b, &bb);
  if ((rc = ferry_broadcast(c, &ba, &bb, o))) return rc;
  if (o->rank + 2 > FERRY_MAX_RANK) return ferry_shape_fail(c, "result rank is too large");
  if (a->rank >= 2) o->dims[o->rank++] = a->dims[a->rank - 2];
  if (b->rank >= 2) o->dims[o->rank++] = b->dims[b->rank - 1];
  return FERRY_OK;
}

int ferry_shape_MatMul(ferry_shape_ctx *c) { return matmul(c, 0, 1, c->n_in > 0 ? c->in[0].dtype : 0); }

int ferry_shape_MatMulInteger(ferry_shape_ctx *c) { return matmul(c, 0, 1, FERRY_I32); }

/* v's dims in the order perm gives (rank 4, or unknown rank kept). */
static void permute4(ferry_sval *v, const int *perm) {
  if (v->rank != 4) return;
  ferry_sdim d[4];
  for (int i = 0; i < 4; i++) d[i] = v->dims[perm[i]];
  memcpy(v->dims, d, sizeof d);
}

/* ferry.Attention(Q, K, V[, mask]) = Softmax(Q @ K * scale + mask) @ V
 * (K already transposed): two matmuls' shapes, the scores in between.
 * With bshd = 1 the operands are [B, S, H, D] (K too, untransposed) and
 * the result [B, Sq, H, Dv]: the same rule on the dims seen permuted. */
int ferry_shape_Attention(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 3);
  if (rc) return rc;
  static const int qv[4] = {0, 2, 1, 3}, kt[4] = {0, 2, 3, 1};
  int bshd = ferry_attr_int(c, "bshd", 0) != 0;
  ferry_sval in[3], mid[2];
  memcpy(in, c->in, sizeof in);
  if (bshd) {
    for (int i = 0; i < 3; i++)
      if (in[i].rank >= 0 && in[i].rank != 4) return ferry_shape_fail(c, "bshd wants Q, K and V of rank 4");
    permute4(&in[0], qv), permute4(&in[1], kt), permute4(&in[2], qv);
  }
  memset(mid, 0, sizeof mid);
  mid[0].present = 1, mid[0].rank = -1, mid[0].n_content = -1;
  ferry_shape_ctx step = *c;
  step.in = in;
  step.n_in = 3;
  step.out = &mid[0];
  if (!(rc = matmul(&step, 0, 1, c->in[0].dtype))) {
    mid[1] = in[2];
    step.in = mid;
    step.n_in = 2;
    step.out = c->out;
    rc = matmul(&step, 0, 1, c->in[0].dtype);
  }
  if (rc) memcpy(c->err, step.err, sizeof c->err);
  else if (bshd) permute4(&c->out[0], qv); /* [B, H, Sq, Dv] -> [B, Sq, H, Dv] */
  return rc;
}

/* a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point */
int ferry_shape_QLinearMatMul(ferry_shape_ctx *c) {
  int dtype = has(7) && c->in[7].dtype ? c->in[7].dtype : (c->n_in > 0 ? c->in[0].dtype : 0);
  return matmul(c, 0, 3, dtype);
}

/* C must broadcast (unidirectionally) to [M, N]. */
static int gemm_check_c(ferry_shape_ctx *c, const ferry_sval *o) {
  const ferry_sval *cc = &c->in[2];
  int64_t v;
  if (!has(2) || cc->rank < 0) return FERRY_OK;
  if (cc->rank > 2) return ferry_shape_fail(c, "C must have rank <= 2, got %d", cc->rank);
  for (int i = 0; i < cc->rank; i++) {
    ferry_sdim d = cc->dims[i], t = o->dims[2 - cc->rank + i];
    if (ferry_rule_conflict(c, d, t) && !(ISK(d, &v) && v == 1))
      return ferry_shape_fail(c, "C does not broadcast to the result");
  }
  return FERRY_OK;
}

/* A, B[, C] -> [M, N] with transA / transB. */
int ferry_shape_Gemm(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 2);
  if (rc) return rc;
  const ferry_sval *a = &c->in[0], *b = &c->in[1];
  ferry_sval *o = &c->out[0];
  int ta = ferry_attr_int(c, "transA", 0) != 0, tb = ferry_attr_int(c, "transB", 0) != 0;
  o->dtype = a->dtype;
  if ((a->rank >= 0 && a->rank != 2) || (b->rank >= 0 && b->rank != 2))
    return ferry_shape_fail(c, "A and B must have rank 2, got %d and %d", a->rank, b->rank);
  if (a->rank < 0 || b->rank < 0) return FERRY_OK;
  if (ferry_rule_conflict(c, a->dims[ta ? 0 : 1], b->dims[tb ? 1 : 0]))
    return ferry_shape_fail(c, "inner dims differ");
  o->rank = 2;
  o->dims[0] = a->dims[ta ? 1 : 0];
  o->dims[1] = b->dims[tb ? 0 : 1];
  return gemm_check_c(c, o);
}

/* [*, M, M] -> [*] */
int ferry_shape_Det(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 1);
  if (rc) return rc;
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  o->dtype = x->dtype;
  if (x->rank < 0) return FERRY_OK;
  if (x->rank < 2) return ferry_shape_fail(c, "input must have rank >= 2, got %d", x->rank);
  if (ferry_rule_conflict(c, x->dims[x->rank - 1], x->dims[x->rank - 2]))
    return ferry_shape_fail(c, "matrices must be square");
  o->rank = x->rank - 2;
  memcpy(o->dims, x->dims, (size_t)o->rank * sizeof o->dims[0]);
  return FERRY_OK;
}

/* ---- Einsum ---- */

#define EIN_MAX_TERMS 16
#define EIN_ELL '.' /* the ellipsis in a parsed term */

typedef struct eterm {
  int n;   /* labels, the ellipsis counting as one */
  int ell; /* 1 when the term has an ellipsis */
  char lab[FERRY_MAX_RANK + 1];
} eterm;

typedef struct einsum {
  int n_terms, explicit_out;
  eterm t[EIN_MAX_TERMS + 1]; /* inputs, then the output */
  int have[128];
  ferry_sdim dim[128]; /* the dim bound to each label */
  int count[128];      /* occurrences over the inputs */
  ferry_sval ell;      /* broadcast ellipsis dims */
} einsum;

static int is_label(int ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); }

/* Parses one term starting at *p (spaces skipped) up to ',' '-' or end. */
static int parse_term(ferry_shape_ctx *c, const char **p, const char *end, eterm *t) {
  const char *s = *p;
  memset(t, 0, sizeof *t);
  for (; s < end && *s != ',' && *s != '-'; s++) {
    if (*s == ' ') continue;
    if (t->n > FERRY_MAX_RANK) return ferry_shape_fail(c, "equation term is too long");
    if (*s == '.') {
      if (t->ell || end - s < 3 || s[1] != '.' || s[2] != '.')
        return ferry_shape_fail(c, "bad ellipsis in equation");
      t->ell = 1;
      t->lab[t->n++] = EIN_ELL;
      s += 2;
    } else if (is_label((unsigned char)*s)) {
      t->lab[t->n++] = *s;
    } else {
      return ferry_shape_fail(c, "bad character '%c' in equation", *s);
    }
  }
  *p = s;
  return FERRY_OK;
}

static int parse_equation(ferry_shape_ctx *c, einsum *e, const char *s, const char *end) {
  int rc;
  for (;;) {
    if (e->n_terms == EIN_MAX_TERMS) return ferry_shape_fail(c, "too many equation terms");
    if ((rc = parse_term(c, &s, end, &e->t[e->n_terms++]))) return rc;
    if (s == end) return FERRY_OK;
    if (*s == '-') break;
    s++; /* ',' */
  }
  if (end - s < 2 || s[1] != '>') return ferry_shape_fail(c, "bad '->' in equation");
  s += 2;
  e->explicit_out = 1;
  if ((rc = parse_term(c, &s, end, &e->t[e->n_terms]))) return rc;
  return s == end ? FERRY_OK : ferry_shape_fail(c, "equation has more than one '->'");
}

/* Binds a label to a dim; a 1 gives way to another size (broadcast). */
static int bind_label(ferry_shape_ctx *c, einsum *e, int ch, ferry_sdim d) {
  int64_t v;
  e->count[ch]++;
  if (!e->have[ch] || (ISK(e->dim[ch], &v) && v == 1)) {
    e->have[ch] = 1;
    e->dim[ch] = d;
  } else if (ferry_rule_conflict(c, e->dim[ch], d) && !(ISK(d, &v) && v == 1)) {
    return ferry_shape_fail(c, "label '%c' has two sizes", ch);
  }
  return FERRY_OK;
}

/* Binds input term i's labels to x's dims and broadcasts its ellipsis. */
static int bind_term(ferry_shape_ctx *c, einsum *e, const eterm *t, const ferry_sval *x) {
  int n_ell = x->rank - (t->n - t->ell), d = 0, rc;
  ferry_sval ed;
  if (n_ell < 0 || (!t->ell && n_ell))
    return ferry_shape_fail(c, "equation term does not match rank %d", x->rank);
  memset(&ed, 0, sizeof ed);
  ed.present = 1, ed.n_content = -1;
  for (int k = 0; k < t->n; k++) {
    if (t->lab[k] != EIN_ELL) {
      if ((rc = bind_label(c, e, t->lab[k], x->dims[d++]))) return rc;
      continue;
    }
    ed.rank = n_ell;
    memcpy(ed.dims, x->dims + d, (size_t)n_ell * sizeof x->dims[0]);
    d += n_ell;
  }
  ferry_sval prev = e->ell;
  return t->ell ? ferry_broadcast(c, &prev, &ed, &e->ell) : FERRY_OK;
}

/* The implicit output: ellipsis, then labels seen once, in ASCII order. */
static void implicit_output(einsum *e) {
  eterm *o = &e->t[e->n_terms];
  int any_ell = 0;
  memset(o, 0, sizeof *o);
  for (int i = 0; i < e->n_terms; i++) any_ell |= e->t[i].ell;
  if (any_ell) o->ell = 1, o->lab[o->n++] = EIN_ELL;
  for (int ch = 0; ch < 128 && o->n <= FERRY_MAX_RANK; ch++)
    if (e->count[ch] == 1) o->lab[o->n++] = (char)ch;
}

static int einsum_output(ferry_shape_ctx *c, einsum *e, ferry_sval *o) {
  const eterm *t = &e->t[e->n_terms];
  o->rank = 0;
  for (int k = 0; k < t->n; k++) {
    int ch = t->lab[k];
    if (ch != EIN_ELL && !e->have[ch])
      return ferry_shape_fail(c, "output label '%c' is not in any input", ch);
    int add = ch == EIN_ELL ? e->ell.rank : 1;
    if (o->rank + add > FERRY_MAX_RANK) return ferry_shape_fail(c, "result rank is too large");
    if (ch == EIN_ELL)
      memcpy(o->dims + o->rank, e->ell.dims, (size_t)add * sizeof o->dims[0]);
    else
      o->dims[o->rank] = e->dim[ch];
    o->rank += add;
  }
  return FERRY_OK;
}

int ferry_shape_Einsum(ferry_shape_ctx *c) {
  int rc = ferry_rule_need(c, 1);
  ferry_attrv a;
  einsum e;
  if (rc) return rc;
  c->out[0].dtype = c->in[0].dtype;
  memset(&a, 0, sizeof a);
  if (!c->attr || !c->attr(c->node, "equation", &a) || a.type != ATTR_STRING || !a.s)
    return ferry_shape_fail(c, "equation is required");
  memset(&e, 0, sizeof e);
  e.ell.present = 1, e.ell.n_content = -1;
  if ((rc = parse_equation(c, &e, a.s, a.s + (a.slen > 0 ? a.slen : 0)))) return rc;
  if (e.n_terms != c->n_in)
    return ferry_shape_fail(c, "equation has %d inputs, node has %d", e.n_terms, c->n_in);
  for (int i = 0; i < c->n_in; i++)
    if (c->in[i].rank < 0) return FERRY_OK;
  for (int i = 0; i < c->n_in; i++)
    if ((rc = bind_term(c, &e, &e.t[i], &c->in[i]))) return rc;
  if (!e.explicit_out) implicit_output(&e);
  return einsum_output(c, &e, &c->out[0]);
}
