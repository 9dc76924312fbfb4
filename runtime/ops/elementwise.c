/*
 * elementwise.c - shape rules of elementwise ops: unary math, binary and
 * variadic arithmetic with numpy broadcasting, comparisons, logic, Where,
 * Clip, Cast, Identity.
 *
 * Besides shapes, these ops carry *content*: when every input is a small
 * integer tensor whose elements are known as dim handles (a Shape output,
 * a constant), the output's elements are computed through the dimops, so
 * "Shape(x)[1] * 64" stays the symbolic `64*sequence`. One helper, map2(),
 * walks the broadcast output and applies an element function (elem2()) to
 * the matching input elements; an element it cannot compute (a comparison
 * of two unrelated symbols) drops the output's content.
 */
#include <string.h>

#include "core.h"

enum eop { E_ADD, E_SUB, E_MUL, E_DIV, E_MOD, E_MIN, E_MAX, E_EQ, E_LT, E_LE, E_GT, E_GE,
           E_AND, E_OR, E_XOR, E_NONE };

/* ---- one element ---- */

static int64_t trunc_div(int64_t a, int64_t b) { return b ? a / b : 0; }

static int64_t floor_mod(int64_t a, int64_t b) {
  int64_t r = b ? a % b : 0;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

/* Both constants: the exact integer result; 0 when it cannot (x/0). */
static int elem_const(int op, int64_t a, int64_t b, int64_t *r) {
  switch (op) {
  case E_ADD: return !__builtin_add_overflow(a, b, r);
  case E_SUB: return !__builtin_sub_overflow(a, b, r);
  case E_MUL: return !__builtin_mul_overflow(a, b, r);
  case E_DIV: *r = trunc_div(a, b); return b != 0 && !(a == INT64_MIN && b == -1);
  case E_MOD: *r = floor_mod(a, b); return b != 0 && b != -1;
  case E_MIN: *r = a < b ? a : b; return 1;
  case E_MAX: *r = a > b ? a : b; return 1;
  case E_EQ: *r = a == b; return 1;
  case E_LT: *r = a < b; return 1;
  case E_LE: *r = a <= b; return 1;
  case E_GT: *r = a > b; return 1;
  case E_GE: *r = a >= b; return 1;
  case E_AND: *r = a && b; return 1;
  case E_OR: *r = a || b; return 1;
  case E_XOR: *r = !a != !b; return 1;
  default: return 0;
  }
}

/* A comparison of handles whose difference is a known integer; symbols
 * are dims, never negative, so one is never equal to a negative number. */
static int elem_compare(ferry_shape_ctx *c, int op, ferry_sdim a, ferry_sdim b, ferry_sdim *r) {
  const ferry_dimops *D = c->D;
  int64_t d, x;
  if (a == b) d = 0;
  else if (!D->is_const(D->ctx, D->sub(D->ctx, a, b), &d)) {
    int ka = D->is_const(D->ctx, a, &x);
    if (op != E_EQ || !(ka || D->is_const(D->ctx, b, &x)) || x >= 0) return 0;
    *r = ferry_k(c, 0);
    return 1;
  }
  int64_t v;
  elem_const(op, d, 0, &v);
  *r = ferry_k(c, v);
  return 1;
}

/* One output element from two input elements; 0 when unknown. Float
 * content holds integers only: a division must be exact. */
static int elem2(ferry_shape_ctx *c, int op, int is_float, ferry_sdim a, ferry_sdim b, ferry_sdim *r) {
  const ferry_dimops *D = c->D;
  int64_t x, y, v;
  if (D->is_const(D->ctx, a, &x) && D->is_const(D->ctx, b, &y)) {
    if (is_float && (op == E_MOD || (op == E_DIV && (!y || x % y)))) return 0;
    if (!elem_const(op, x, y, &v)) return 0;
    *r = ferry_k(c, v);
    return 1;
  }
  if (is_float && (op == E_DIV || op == E_MOD)) return 0;
  switch (op) {
  case E_ADD: *r = D->add(D->ctx, a, b); return 1;
  case E_SUB: *r = D->sub(D->ctx, a, b); return 1;
  case E_MUL: *r = D->mul(D->ctx, a, b); return 1;
  case E_DIV: *r = D->div(D->ctx, a, b); return 1; /* dims are >= 0: floor = trunc */
  case E_MOD: *r = D->mod(D->ctx, a, b); return 1;
  case E_MIN: *r = D->min(D->ctx, a, b); return 1;
  case E_MAX: *r = D->max(D->ctx, a, b); return 1;
  case E_EQ: case E_LT: case E_LE: case E_GT: case E_GE:
    return elem_compare(c, op, a, b, r);
  default: return 0;
  }
}

/* ---- broadcast walks over content ---- */

/* out->content = op(a, b) elementwise; leaves it unknown when it cannot. */
static void map2(ferry_shape_ctx *c, int op, const ferry_sval *a, const ferry_sval *b, ferry_sval *out) {
  int is_float = ferry_is_float(a->dtype) || ferry_is_float(b->dtype);
  int64_t od[FERRY_MAX_RANK], ad[FERRY_MAX_RANK], bd[FERRY_MAX_RANK], n;
  if (a->n_content < 0 || b->n_content < 0 || out->rank < 0) return;
  if (!ferry_const_dims(c, out, od) || !ferry_const_dims(c, a, ad) || !ferry_const_dims(c, b, bd)) return;
  if (!ferry_known_numel(c, out, &n) || n > FERRY_MAX_CONTENT) return;
  for (int64_t i = 0; i < n; i++) {
    ferry_sdim x = a->content[ferry_bcast_index(od, out->rank, ad, a->rank, i)];
    ferry_sdim y = b->content[ferry_bcast_index(od, out->rank, bd, b->rank, i)];
    if (!elem2(c, op, is_float, x, y, &out->content[i])) return;
  }
  out->n_content = (int)n;
}

/* ---- rules ---- */

static void copy_content(ferry_sval *out, const ferry_sval *in) {
  out->n_content = in->n_content;
  if (in->n_content > 0) memcpy(out->content, in->content, (size_t)in->n_content * sizeof *in->content);
}

int ferry_shape_unary(ferry_shape_ctx *c) {
  ferry_same_shape(&c->out[0], &c->in[0], c->in[0].dtype);
  return FERRY_OK;
}

/* Ceil, Floor, Round: content (integers) passes unchanged. */
int ferry_shape_integral(ferry_shape_ctx *c) {
  ferry_same_shape(&c->out[0], &c->in[0], c->in[0].dtype);
  copy_content(&c->out[0], &c->in[0]);
  return FERRY_OK;
}

int ferry_shape_Relu(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  int64_t v;
  ferry_same_shape(&c->out[0], x, x->dtype);
  for (int i = 0; i < x->n_content; i++) /* symbols are dims: already >= 0 */
    c->out[0].content[i] = c->D->is_const(c->D->ctx, x->content[i], &v) && v < 0 ? ferry_k(c, 0) : x->content[i];
  c->out[0].n_content = x->n_content;
  return FERRY_OK;
}

int ferry_shape_unary_bool(ferry_shape_ctx *c) {
  ferry_same_shape(&c->out[0], &c->in[0], FERRY_BOOL);
  return FERRY_OK;
}

int ferry_shape_Not(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  ferry_same_shape(&c->out[0], x, FERRY_BOOL);
  int64_t v;
  for (int i = 0; i < x->n_content; i++) {
    if (!c->D->is_const(c->D->ctx, x->content[i], &v)) return FERRY_OK;
    c->out[0].content[i] = ferry_k(c, !v);
  }
  c->out[0].n_content = x->n_content;
  return FERRY_OK;
}

int ferry_shape_Neg(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  ferry_same_shape(&c->out[0], x, x->dtype);
  for (int i = 0; i < x->n_content; i++)
    c->out[0].content[i] = c->D->sub(c->D->ctx, ferry_k(c, 0), x->content[i]);
  c->out[0].n_content = x->n_content;
  return FERRY_OK;
}

int ferry_shape_Abs(ferry_shape_ctx *c) {
  const ferry_sval *x = &c->in[0];
  ferry_same_shape(&c->out[0], x, x->dtype);
  int64_t v;
  for (int i = 0; i < x->n_content; i++) /* symbols are dims: already >= 0 */
    c->out[0].content[i] = c->D->is_const(c->D->ctx, x->content[i], &v) && v < 0
                               ? ferry_k(c, -v) : x->content[i];
  c->out[0].n_content = x->n_content;
  return FERRY_OK;
}

/* Broadcast of inputs 0 and 1 into out[0] with `dtype`, content by `op`. */
static int binary(ferry_shape_ctx *c, int op, int dtype) {
  ferry_sval *o = &c->out[0];
  int rc = ferry_broadcast(c, &c->in[0], &c->in[1], o);
  if (rc) return rc;
  o->dtype = dtype;
  if (op != E_NONE && ferry_content_dtype(dtype)) map2(c, op, &c->in[0], &c->in[1], o);
  return FERRY_OK;
}

int ferry_shape_binary(ferry_shape_ctx *c) { return binary(c, E_NONE, c->in[0].dtype); }
int ferry_shape_Add(ferry_shape_ctx *c) { return binary(c, E_ADD, c->in[0].dtype); }
int ferry_shape_Sub(ferry_shape_ctx *c) { return binary(c, E_SUB, c->in[0].dtype); }
int ferry_shape_Mul(ferry_shape_ctx *c) { return binary(c, E_MUL, c->in[0].dtype); }
int ferry_shape_Div(ferry_shape_ctx *c) { return binary(c, E_DIV, c->in[0].dtype); }
int ferry_shape_Mod(ferry_shape_ctx *c) {
  return binary(c, ferry_attr_int(c, "fmod", 0) ? E_NONE : E_MOD, c->in[0].dtype);
}
int ferry_shape_Equal(ferry_shape_ctx *c) { return binary(c, E_EQ, FERRY_BOOL); }
int ferry_shape_Less(ferry_shape_ctx *c) { return binary(c, E_LT, FERRY_BOOL); }
int ferry_shape_LessOrEqual(ferry_shape_ctx *c) { return binary(c, E_LE, FERRY_BOOL); }
int ferry_shape_Greater(ferry_shape_ctx *c) { return binary(c, E_GT, FERRY_BOOL); }
int ferry_shape_GreaterOrEqual(ferry_shape_ctx *c) { return binary(c, E_GE, FERRY_BOOL); }
int ferry_shape_And(ferry_shape_ctx *c) { return binary(c, E_AND, FERRY_BOOL); }
int ferry_shape_Or(ferry_shape_ctx *c) { return binary(c, E_OR, FERRY_BOOL); }
int ferry_shape_Xor(ferry_shape_ctx *c) { return binary(c, E_XOR, FERRY_BOOL); }

/* Sum, Mean, Max, Min: the broadcast of all inputs, folded pairwise. */
static int variadic(ferry_shape_ctx *c, int op) {
  if (c->n_in < 1) return ferry_shape_fail(c, "needs at least one input");
  ferry_sval acc = c->in[0], next;
  for (int i = 1; i < c->n_in; i++) {
    next = c->out[0];
    int rc = ferry_broadcast(c, &acc, &c->in[i], &next);
    if (rc) return rc;
    next.n_content = -1;
    next.dtype = acc.dtype;
    if (op != E_NONE && ferry_content_dtype(acc.dtype)) map2(c, op, &acc, &c->in[i], &next);
    acc = next;
  }
  ferry_same_shape(&c->out[0], &acc, c->in[0].dtype);
  copy_content(&c->out[0], &acc);
  return FERRY_OK;
}

int ferry_shape_Max(ferry_shape_ctx *c) { return variadic(c, E_MAX); }
int ferry_shape_Min(ferry_shape_ctx *c) { return variadic(c, E_MIN); }
int ferry_shape_Sum(ferry_shape_ctx *c) { return variadic(c, E_ADD); }
int ferry_shape_variadic(ferry_shape_ctx *c) { return variadic(c, E_NONE); }

/* PRelu: slope broadcasts to X (unidirectionally), output is X's shape. */
int ferry_shape_PRelu(ferry_shape_ctx *c) { return ferry_shape_unary(c); }

int ferry_shape_Where(ferry_shape_ctx *c) {
  const ferry_sval *cond = &c->in[0], *x = &c->in[1], *y = &c->in[2];
  ferry_sval xy = c->out[0];
  int rc = ferry_broadcast(c, x, y, &xy);
  if (!rc) rc = ferry_broadcast(c, cond, &xy, &c->out[0]);
  if (rc) return rc;
  ferry_sval *o = &c->out[0];
  o->dtype = x->dtype ? x->dtype : y->dtype;
  int64_t od[FERRY_MAX_RANK], cd[FERRY_MAX_RANK], xd[FERRY_MAX_RANK], yd[FERRY_MAX_RANK], n, k;
  if (cond->n_content < 0 || x->n_content < 0 || y->n_content < 0) return FERRY_OK;
  if (!ferry_const_dims(c, o, od) || !ferry_const_dims(c, cond, cd) || !ferry_const_dims(c, x, xd) ||
      !ferry_const_dims(c, y, yd) || !ferry_known_numel(c, o, &n) || n > FERRY_MAX_CONTENT)
    return FERRY_OK;
  for (int64_t i = 0; i < n; i++) {
    if (!c->D->is_const(c->D->ctx, cond->content[ferry_bcast_index(od, o->rank, cd, cond->rank, i)], &k))
      return FERRY_OK;
    o->content[i] = k ? x->content[ferry_bcast_index(od, o->rank, xd, x->rank, i)]
                      : y->content[ferry_bcast_index(od, o->rank, yd, y->rank, i)];
  }
  o->n_content = (int)n;
  return FERRY_OK;
}

/* Clip: X's shape; bounds (inputs from opset 11) leave content alone only
 * when absent. */
int ferry_shape_Clip(ferry_shape_ctx *c) {
  ferry_same_shape(&c->out[0], &c->in[0], c->in[0].dtype);
  return FERRY_OK;
}

/* Cast keeps integer content when the target is an integer or bool type
 * (bool: known nonzero elements become 1). */
static int cast_to(ferry_shape_ctx *c, int to) {
  const ferry_sval *x = &c->in[0];
  ferry_sval *o = &c->out[0];
  ferry_same_shape(o, x, to);
  if (x->n_content < 0 || !ferry_content_dtype(to) || !ferry_content_dtype(x->dtype)) return FERRY_OK;
  int64_t v;
  for (int i = 0; i < x->n_content; i++) {
    if (to != FERRY_BOOL) o->content[i] = x->content[i];
    else if (c->D->is_const(c->D->ctx, x->content[i], &v)) o->content[i] = ferry_k(c, v != 0);
    else return FERRY_OK;
  }
  o->n_content = x->n_content;
  return FERRY_OK;
}

int ferry_shape_Cast(ferry_shape_ctx *c) { return cast_to(c, (int)ferry_attr_int(c, "to", 0)); }
int ferry_shape_CastLike(ferry_shape_ctx *c) { return cast_to(c, c->in[1].dtype); }

/* Identity: everything passes, tensors, sequences and optionals alike. */
int ferry_shape_Identity(ferry_shape_ctx *c) {
  c->out[0] = c->in[0];
  c->out[0].present = 1;
  return FERRY_OK;
}
