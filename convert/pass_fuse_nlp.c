/*
 * pass_fuse_nlp.c - fusions of the transformer exports (BERT, GPT):
 *
 *   fuse-layernorm  x - ReduceMean(x) = d;  d / Sqrt(ReduceMean(d^2) + eps)
 *                   * gamma [+ beta], both means over the last axis only
 *                   (keepdims), gamma/beta constant vectors
 *                   -> LayerNormalization(x, gamma, beta; axis -1, epsilon).
 *                   It is ONNX's op from opset 17; onnxruntime also runs it
 *                   in the ONNX domain at any opset, so older models keep
 *                   their opset import and the node says opset 17.
 *   fuse-gelu       x * 0.5 * (1 + Erf(x / sqrt 2)) with the product in any
 *                   grouping and x / 1.4142.. or x * 0.7071.. -> com.microsoft
 *                   Gelu; 0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 *
 *                   x^3))) with x^3 as Pow(x, 3) or x*x*x -> com.microsoft
 *                   FastGelu.
 *   fuse-attention  MatMul(Q, K) [Div or Mul by a constant] [Add mask, or
 *                   Where(bool mask, scores, fill) / Where(mask, fill,
 *                   scores) with a constant scalar fill: masked_fill, a
 *                   Not of the mask folded into mask_keep]
 *                   Softmax(last axis) MatMul(., V) -> ferry.Attention(Q, K,
 *                   V[, mask]; scale, has_mask[, mask_fill, mask_keep]):
 *                   Softmax(Q @ K * scale + mask) @ V, or with a bool mask
 *                   the scores replaced by mask_fill where the mask is not
 *                   mask_keep; K as the first MatMul read it (already
 *                   transposed). When the heads' Transposes surround it
 *                   (Q, V perm 0,2,1,3; K 0,2,3,1; the result 0,2,1,3,
 *                   each read only there) they fold in: bshd = 1, the op
 *                   reads [B, S, H, D] and replaces the last Transpose.
 *                   onnxruntime's MultiHeadAttention wants 3-D
 *                   [B, S, hidden] inputs and head counts the pattern does
 *                   not carry, so this is ferry's own op: the pass is
 *                   ferry_only (passes.c: off when convert also writes the
 *                   graph as ONNX) and bundles using it run on ferry only.
 *
 * Every matcher starts at the pattern's last node and walks producers;
 * nodes are visited from the end, so the largest pattern is tried first
 * (LayerNorm's beta Add before its gamma Mul); every intermediate must be
 * read only inside the pattern (sole), constants are compared by value
 * (1e-4 relative), and only float32 patterns fuse (what onnxruntime's CPU
 * kernels take). The last node is rebuilt as the fused op and the rest
 * pruned (ferry_rw_fuse).
 */
#include <math.h>
#include <string.h>

#include "passes.h"

#define MS_DOMAIN "com.microsoft"
#define TOL 1e-4

/* ---- shared matching ---- */

/* The producer of pattern intermediate v when it is `op` (any op: NULL). */
static ferry_node *sole(const ferry_rw *rw, int v, const char *op) {
  return ferry_rw_sole_producer(rw, v, op, NULL);
}

/* Whether v is a one-element float32 constant near c. */
static bool f32_scalar_near(const ferry_graph *g, int v, double c) {
  double x;
  return ferry_rw_dtype(g, v) == FERRY_F32 && ferry_rw_scalar(g, v, &x) && ferry_near(x, c, TOL);
}

/* For a two-input node with a float32 scalar near c on one side (either
 * side when `commutes`, else the second): the other input; -1 if none. */
static int beside_scalar(const ferry_graph *g, const ferry_node *n, double c, bool commutes) {
  if (!n || n->n_inputs != 2) return -1;
  if (f32_scalar_near(g, n->inputs[1], c)) return n->inputs[0];
  if (commutes && f32_scalar_near(g, n->inputs[0], c)) return n->inputs[1];
  return -1;
}

/* Replaces node i by `op` of `domain` reading `inputs`, prunes the rest. */
static int fuse(ferry_rw *rw, int i, const char *domain, const char *op, int opset, const int *inputs,
                int n_inputs, const ferry_attr *attrs, int n_attrs) {
  if (*domain && ferry_model_use_domain(rw->m, domain, 1, rw->err)) return rw->status = FERRY_E_SYSTEM;
  if (ferry_rw_fuse(rw, i, domain, op, opset, inputs, n_inputs, attrs, n_attrs)) return rw->status;
  rw->rewrites++;
  return rw->status;
}

/* ---- fuse-layernorm ---- */

/* ReduceMean over the last axis of a rank-`rank` input (-1 unknown), kept. */
static bool mean_of_last_axis(const ferry_graph *g, const ferry_node *n, int rank) {
  if (ferry_node_int(n, "keepdims", 1) != 1) return false;
  const int64_t *axes = NULL;
  int64_t na = 0, buf;
  if (n->opset < 18) {
    const ferry_attr *a = ferry_node_attr(n, "axes");
    if (a && a->type == FERRY_A_INTS) axes = a->ints, na = a->n;
  } else {
    const ferry_tensor *t = ferry_rw_const(g, ferry_node_in(n, 1));
    double x;
    if (t && t->numel == 1 && ferry_tensor_get(t, 0, &x)) buf = (int64_t)x, axes = &buf, na = 1;
  }
  return na == 1 && (axes[0] == -1 || (rank > 0 && axes[0] == rank - 1));
}

typedef struct layernorm {
  int x, gamma, beta; /* beta -1 when absent */
  double eps;
} layernorm;

/* d^2 as Pow(d, 2) or Mul(d, d), read only by the variance mean. */
static bool squares(const ferry_rw *rw, int v, int d) {
  const ferry_node *n = sole(rw, v, "Pow");
  if (n) return n->n_inputs == 2 && n->inputs[0] == d && f32_scalar_near(rw->g, n->inputs[1], 2.0);
  n = sole(rw, v, "Mul");
  return n && n->n_inputs == 2 && n->inputs[0] == d && n->inputs[1] == d;
}

/* (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps), from the Div. */
static bool normalizes(const ferry_rw *rw, const ferry_node *div, layernorm *ln) {
  if (!div || div->n_inputs != 2) return false;
  int d = div->inputs[0];
  const ferry_node *sq = sole(rw, div->inputs[1], "Sqrt");
  const ferry_node *add = sq ? sole(rw, sq->inputs[0], "Add") : NULL;
  if (!add || add->n_inputs != 2) return false;
  for (int s = 0; s < 2; s++) {
    const ferry_node *var = sole(rw, add->inputs[s], "ReduceMean");
    if (!var || !ferry_rw_scalar(rw->g, add->inputs[1 - s], &ln->eps)) continue;
    const ferry_node *sub = ferry_rw_producer(rw, d, "Sub", NULL);
    int pow_uses = 1 + (ferry_rw_producer(rw, var->inputs[0], "Mul", NULL) != NULL);
    if (!sub || ferry_rw_is_output(rw->g, d) || ferry_rw_uses(rw, d) != 1 + pow_uses ||
        !squares(rw, var->inputs[0], d))
      return false;
    const ferry_node *mean = sole(rw, sub->inputs[1], "ReduceMean");
    ln->x = sub->inputs[0];
    int rank = ferry_rw_rank(rw->g, ln->x);
    return mean && mean->inputs[0] == ln->x && mean_of_last_axis(rw->g, mean, rank) &&
           mean_of_last_axis(rw->g, var, rank);
  }
  return false;
}

/* A float32 constant vector as long as x's last dim (when known). */
static bool affine_param(const ferry_graph *g, int v, int x) {
  const ferry_tensor *t = ferry_rw_const(g, v);
  int64_t last;
  if (!t || t->dtype != FERRY_F32 || t->rank != 1) return false;
  return !ferry_rw_dim(g, x, -1, &last) || last == t->dims[0];
}

/* Mul(normalized, gamma) with the Div found. */
static bool scaled(const ferry_rw *rw, const ferry_node *mul, layernorm *ln) {
  if (!mul || mul->n_inputs != 2) return false;
  for (int s = 0; s < 2; s++) {
    const ferry_node *div = sole(rw, mul->inputs[s], "Div");
    if (div && normalizes(rw, div, ln) && affine_param(rw->g, mul->inputs[1 - s], ln->x)) {
      ln->gamma = mul->inputs[1 - s];
      return true;
    }
  }
  return false;
}

static bool match_layernorm(const ferry_rw *rw, const ferry_node *n, layernorm *ln) {
  ln->beta = -1;
  if (ferry_node_is(n, "", "Mul")) return scaled(rw, n, ln);
  if (!ferry_node_is(n, "", "Add") || n->n_inputs != 2) return false;
  for (int s = 0; s < 2; s++) {
    const ferry_node *mul = sole(rw, n->inputs[s], "Mul");
    if (mul && scaled(rw, mul, ln) && affine_param(rw->g, n->inputs[1 - s], ln->x)) {
      ln->beta = n->inputs[1 - s];
      return true;
    }
  }
  return false;
}

int ferry_pass_fuse_layernorm(ferry_rw *rw) {
  for (int i = rw->g->n_nodes - 1; i >= 0; i--) {
    layernorm ln;
    if (ferry_rw_dead(rw, i) || !match_layernorm(rw, &rw->g->nodes[i], &ln)) continue;
    int opset = rw->g->nodes[i].opset < 17 ? 17 : rw->g->nodes[i].opset;
    int in[3] = {ln.x, ln.gamma, ln.beta};
    ferry_attr attrs[2] = {ferry_rw_attr_int("axis", -1), ferry_rw_attr_float("epsilon", (float)ln.eps)};
    if (fuse(rw, i, "", "LayerNormalization", opset, in, ln.beta >= 0 ? 3 : 2, attrs, 2)) return rw->status;
  }
  return rw->status;
}

/* ---- fuse-gelu ---- */

/* (1 + Erf(x / sqrt 2)): returns x, or -1. */
static int one_plus_erf(const ferry_rw *rw, int v) {
  const ferry_node *add = sole(rw, v, "Add");
  const ferry_node *erf = sole(rw, beside_scalar(rw->g, add, 1.0, true), "Erf");
  if (!erf) return -1;
  int z = erf->inputs[0];
  int x = beside_scalar(rw->g, sole(rw, z, "Div"), M_SQRT2, false);
  return x >= 0 ? x : beside_scalar(rw->g, sole(rw, z, "Mul"), M_SQRT1_2, true);
}

/* x^3 as Pow(x, 3), Mul(x, Mul(x, x)) or Mul(Mul(x, x), x). */
static bool cubes(const ferry_rw *rw, int v, int x) {
  const ferry_node *p = sole(rw, v, "Pow");
  if (p) return p->n_inputs == 2 && p->inputs[0] == x && f32_scalar_near(rw->g, p->inputs[1], 3.0);
  const ferry_node *m = sole(rw, v, "Mul");
  if (!m || m->n_inputs != 2) return false;
  for (int s = 0; s < 2; s++) {
    const ferry_node *sq = sole(rw, m->inputs[1 - s], "Mul");
    if (m->inputs[s] == x && sq && sq->n_inputs == 2 && sq->inputs[0] == x && sq->inputs[1] == x) return true;
  }
  return false;
}

/* (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3))): returns x, or -1. */
static int one_plus_tanh(const ferry_rw *rw, int v) {
  const ferry_node *add = sole(rw, v, "Add");
  const ferry_node *th = sole(rw, beside_scalar(rw->g, add, 1.0, true), "Tanh");
  if (!th) return -1;
  int w = beside_scalar(rw->g, sole(rw, th->inputs[0], "Mul"), sqrt(2.0 / M_PI), true);
  const ferry_node *sum = sole(rw, w, "Add");
  if (!sum || sum->n_inputs != 2) return -1;
  for (int s = 0; s < 2; s++) {
    int x = sum->inputs[s];
    int cube = beside_scalar(rw->g, sole(rw, sum->inputs[1 - s], "Mul"), 0.044715, true);
    if (cube >= 0 && cubes(rw, cube, x)) return x;
  }
  return -1;
}

/* The product x * 0.5 * f(x) in any grouping of two Muls, f recognized by
 * `inner` (returning its x). Returns x, or -1. */
static int half_x_times(const ferry_rw *rw, const ferry_node *top, int (*inner)(const ferry_rw *, int)) {
  if (!ferry_node_is(top, "", "Mul") || top->n_inputs != 2) return -1;
  for (int s = 0; s < 2; s++) {
    const ferry_node *m = sole(rw, top->inputs[s], "Mul");
    if (!m || m->n_inputs != 2) continue;
    int leaf[3] = {m->inputs[0], m->inputs[1], top->inputs[1 - s]};
    for (int h = 0; h < 3; h++) { /* h: the 0.5, f: the function, the third is x */
      if (!f32_scalar_near(rw->g, leaf[h], 0.5)) continue;
      for (int f = 0; f < 3; f++) {
        if (f == h) continue;
        int x = leaf[3 - h - f];
        if (inner(rw, leaf[f]) == x && x >= 0) return x;
      }
    }
  }
  return -1;
}

int ferry_pass_fuse_gelu(ferry_rw *rw) {
  for (int i = rw->g->n_nodes - 1; i >= 0; i--) {
    if (ferry_rw_dead(rw, i)) continue;
    const ferry_node *n = &rw->g->nodes[i];
    int x = half_x_times(rw, n, one_plus_erf);
    const char *op = "Gelu";
    if (x < 0) x = half_x_times(rw, n, one_plus_tanh), op = "FastGelu";
    if (x >= 0 && fuse(rw, i, MS_DOMAIN, op, 1, &x, 1, NULL, 0)) return rw->status;
  }
  return rw->status;
}

/* ---- fuse-attention ---- */

typedef struct attention {
  int q, k, v, mask;
  float scale;
  bool where;       /* mask is Where's bool condition: */
  float fill;       /*   the value of the scores it does not keep */
  int keep;         /*   the condition's value that keeps a score */
} attention;

/* Softmax over the last axis of a rank-`rank` input (-1 unknown). */
static bool softmax_last_axis(const ferry_node *n, int rank) {
  int64_t axis = ferry_node_int(n, "axis", n->opset < 13 ? 1 : -1);
  return (axis == -1 && n->opset >= 13) || (rank > 0 && (axis == rank - 1 || axis == -1));
}

/* MatMul(Q, K) [scaled], from the value it makes. */
static bool scores(const ferry_rw *rw, int v, attention *at) {
  const ferry_node *n = sole(rw, v, NULL);
  at->scale = 1.0f;
  double c;
  if (ferry_node_is(n, "", "Div") && n->n_inputs == 2 && ferry_rw_dtype(rw->g, n->inputs[1]) == FERRY_F32 &&
      ferry_rw_scalar(rw->g, n->inputs[1], &c) && c != 0) {
    at->scale = (float)(1.0 / c);
    n = sole(rw, n->inputs[0], NULL);
  } else if (ferry_node_is(n, "", "Mul") && n->n_inputs == 2) {
    for (int s = 0; s < 2; s++)
      if (ferry_rw_dtype(rw->g, n->inputs[1 - s]) == FERRY_F32 &&
          ferry_rw_scalar(rw->g, n->inputs[1 - s], &c)) {
        at->scale = (float)c;
        n = sole(rw, n->inputs[s], NULL);
        break;
      }
  }
  if (!ferry_node_is(n, "", "MatMul") || n->n_inputs != 2) return false;
  at->q = n->inputs[0];
  at->k = n->inputs[1];
  return true;
}

static bool match_attention(const ferry_rw *rw, const ferry_node *n, attention *at) {
  if (!ferry_node_is(n, "", "MatMul") || n->n_inputs != 2) return false;
  const ferry_node *sm = sole(rw, n->inputs[0], "Softmax");
  if (!sm || !softmax_last_axis(sm, ferry_rw_rank(rw->g, sm->inputs[0]))) return false;
  at->v = n->inputs[1];
  at->mask = -1;
  at->where = false;
  if (scores(rw, sm->inputs[0], at)) return true;
  const ferry_node *wh = sole(rw, sm->inputs[0], "Where");
  double fill;
  for (int s = 1; wh && wh->n_inputs == 3 && ferry_rw_dtype(rw->g, wh->inputs[0]) == FERRY_BOOL && s <= 2; s++)
    if (ferry_rw_dtype(rw->g, wh->inputs[3 - s]) == FERRY_F32 && ferry_rw_scalar(rw->g, wh->inputs[3 - s], &fill) &&
        scores(rw, wh->inputs[s], at)) {
      at->mask = wh->inputs[0];
      at->where = true, at->fill = (float)fill, at->keep = s == 1; /* scores as X: kept where true */
      const ferry_node *no = sole(rw, at->mask, "Not"); /* torch's ~mask: the op flips mask_keep instead */
      if (no && no->n_inputs == 1 && ferry_rw_dtype(rw->g, no->inputs[0]) == FERRY_BOOL)
        at->mask = no->inputs[0], at->keep = !at->keep;
      return true;
    }
  const ferry_node *add = sole(rw, sm->inputs[0], "Add");
  for (int s = 0; add && add->n_inputs == 2 && s < 2; s++)
    if (scores(rw, add->inputs[s], at)) {
      at->mask = add->inputs[1 - s];
      return true;
    }
  return false;
}

/* Whether n is a one-input ONNX Transpose with permutation perm (4 dims). */
static bool transpose_4d(const ferry_node *n, const int64_t *perm) {
  const ferry_attr *a = n && ferry_node_is(n, "", "Transpose") && n->n_inputs == 1 && n->n_outputs == 1
                            ? ferry_node_attr(n, "perm")
                            : NULL;
  if (!a || a->type != FERRY_A_INTS || a->n != 4) return false;
  for (int i = 0; i < 4; i++)
    if (a->ints[i] != perm[i]) return false;
  return true;
}

/* v made by a Transpose with permutation perm and read once: the
 * Transpose's input; else -1. */
static int untransposed(const ferry_rw *rw, int v, const int64_t *perm) {
  const ferry_node *t = sole(rw, v, "Transpose");
  return transpose_4d(t, perm) ? t->inputs[0] : -1;
}

/* The node that is v's only reader when it is a Transpose with
 * permutation perm: its index, else -1. */
static int transposed_by(const ferry_rw *rw, int v, const int64_t *perm) {
  if (!ferry_rw_single_use(rw, v)) return -1;
  for (int j = 0; j < rw->g->n_nodes; j++) {
    const ferry_node *n = &rw->g->nodes[j];
    if (!ferry_rw_dead(rw, j) && n->n_inputs >= 1 && n->inputs[0] == v) return transpose_4d(n, perm) ? j : -1;
  }
  return -1;
}

/* The heads' Transposes around an attention (Q and V [B, S, H, D] perm
 * 0,2,1,3, K 0,2,3,1, the result back with 0,2,1,3), all four or none:
 * then the op reads the untransposed Q, K, V and replaces the last
 * Transpose (bshd = 1). *at_node: the node to rebuild. */
static bool fold_heads(const ferry_rw *rw, int i, attention *at, int *at_node) {
  static const int64_t qv[4] = {0, 2, 1, 3}, kt[4] = {0, 2, 3, 1};
  int q = untransposed(rw, at->q, qv), k = untransposed(rw, at->k, kt), v = untransposed(rw, at->v, qv);
  int y = rw->g->nodes[i].n_outputs == 1 ? transposed_by(rw, rw->g->nodes[i].outputs[0], qv) : -1;
  if (q < 0 || k < 0 || v < 0 || y < 0) return false;
  at->q = q, at->k = k, at->v = v, *at_node = y;
  return true;
}

int ferry_pass_fuse_attention(ferry_rw *rw) {
  for (int i = rw->g->n_nodes - 1; i >= 0; i--) {
    attention at;
    if (ferry_rw_dead(rw, i) || !match_attention(rw, &rw->g->nodes[i], &at)) continue;
    int node = i, bshd = fold_heads(rw, i, &at, &node);
    int in[4] = {at.q, at.k, at.v, at.mask}, n_attrs = 0;
    ferry_attr attrs[5];
    attrs[n_attrs++] = ferry_rw_attr_float("scale", at.scale);
    attrs[n_attrs++] = ferry_rw_attr_int("has_mask", at.mask >= 0);
    if (bshd) attrs[n_attrs++] = ferry_rw_attr_int("bshd", 1);
    if (at.where) {
      attrs[n_attrs++] = ferry_rw_attr_float("mask_fill", at.fill);
      attrs[n_attrs++] = ferry_rw_attr_int("mask_keep", at.keep);
    }
    if (fuse(rw, node, "ferry", "Attention", 1, in, at.mask >= 0 ? 4 : 3, attrs, n_attrs)) return rw->status;
  }
  return rw->status;
}
