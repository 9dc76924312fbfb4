/*
 * pass_conv_affine.c - conv-affine: per-channel scales and shifts by
 * constants folded into the weights and bias of a neighbouring Conv.
 *
 * Exports of mobile CNNs keep learnable affine steps as separate nodes
 * (PaddleOCR's PP-LCNetV3: Conv -> Mul(s) -> Add(b) -> HardSwish -> Mul(s2)
 * -> Add(b2) -> next Conv), each a full pass over a large tensor. With a
 * float32 Conv whose weight (and bias, if any) are constants and a float32
 * constant c that is a scalar or varies along the channel axis only:
 *
 *   after the Conv (the Conv result read only by the Mul/Add/Sub/Div):
 *     Conv(x) * c  ->  Conv with W[m] * c[m], B[m] * c[m]
 *     Conv(x) / c  ->  Conv with W[m] / c[m], B[m] / c[m]
 *     Conv(x) + c  ->  Conv with B[m] + c[m]     (Conv(x) - c: B[m] - c[m])
 *   before the Conv (the Mul/Add result read only by the Conv, as X):
 *     Conv(x * c)  ->  Conv with W[m, ci] * c[ci]            (any padding)
 *     Conv(x + c)  ->  Conv with B[m] + sum_ci,k W[m, ci, k] * c[ci]
 *                      (only without padding: a padded border would hold c)
 * where ci runs over the input channels of output channel m's group. The
 * rebuilt node is a plain ONNX Conv with the Conv's attributes, so the
 * graph stays runnable by onnxruntime (which folds the "after" forms the
 * same way at load time). Sums are taken in double; results differ from
 * the unfolded graph by float32 rounding only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes.h"

/* ---- the Conv side ---- */

typedef struct conv_w {
  const ferry_tensor *w; /* [M, C/group, k...] */
  const float *b;        /* [M] or NULL */
  int64_t M, Cg, per, group;
} conv_w;

/* A float32 ONNX Conv with constant weights (and bias, if any). */
static bool conv_weights(const ferry_graph *g, const ferry_node *conv, conv_w *cw) {
  if (!ferry_node_is(conv, "", "Conv") || conv->n_inputs < 2 || conv->n_inputs > 3 || conv->n_outputs != 1)
    return false;
  const ferry_tensor *w = ferry_rw_const(g, conv->inputs[1]);
  if (!w || w->dtype != FERRY_F32 || w->rank < 3 || w->dims[0] <= 0 || w->dims[1] <= 0) return false;
  cw->w = w;
  cw->M = w->dims[0], cw->Cg = w->dims[1], cw->per = w->numel / w->dims[0];
  cw->group = ferry_node_int(conv, "group", 1);
  if (cw->group < 1 || cw->M % cw->group) return false;
  cw->b = NULL;
  if (ferry_node_in(conv, 2) >= 0) {
    const ferry_tensor *b = ferry_rw_const(g, conv->inputs[2]);
    if (!b || b->dtype != FERRY_F32 || b->numel != cw->M) return false;
    cw->b = b->data;
  }
  return true;
}

/* Whether the Conv pads nothing (explicit zero pads, auto_pad VALID or
 * NOTSET without pads). */
static bool conv_unpadded(const ferry_node *conv) {
  const ferry_attr *ap = ferry_node_attr(conv, "auto_pad");
  if (ap && ap->s.len > 0 && !(ap->s.len == 5 && !memcmp(ap->s.ptr, "VALID", 5)) &&
      !(ap->s.len == 6 && !memcmp(ap->s.ptr, "NOTSET", 6)))
    return false;
  const ferry_attr *pads = ferry_node_attr(conv, "pads");
  for (int k = 0; pads && pads->ints && k < pads->n; k++)
    if (pads->ints[k] != 0) return false;
  return true;
}

/* ---- the constant ---- */

/* v as a float32 constant that is a scalar or varies only along axis 1 of
 * a rank-`rank` operand with `channels` there; *c gets its data and *n its
 * length (1 or channels). */
static bool channel_const(const ferry_graph *g, int v, int rank, int64_t channels, const float **c, int64_t *n) {
  const ferry_tensor *t = ferry_rw_const(g, v);
  if (!t || t->dtype != FERRY_F32 || t->rank > rank || t->numel < 1) return false;
  for (int k = 0; k < t->rank; k++) {
    int axis = rank - t->rank + k;
    if (t->dims[k] != 1 && !(axis == 1 && t->dims[k] == channels)) return false;
  }
  if (t->numel != 1 && t->numel != channels) return false;
  *c = t->data;
  *n = t->numel;
  return true;
}

static double at(const float *c, int64_t n, int64_t i) { return c[n == 1 ? 0 : i]; }

/* ---- rebuilding ---- */

enum { OP_MUL, OP_DIV, OP_ADD, OP_SUB };

static int op_kind(const ferry_node *n) {
  static const char *names[] = {"Mul", "Div", "Add", "Sub"};
  if (*n->domain || n->n_inputs != 2 || n->n_outputs != 1 || n->opset < 7) return -1;
  for (int k = 0; k < 4; k++)
    if (!strcmp(n->op, names[k])) return k;
  return -1;
}

/* New W and B tensors (*wv, *bv) from cw scaled by `scale` per output
 * (scale_in: per input channel instead) and shifted by `shift` per output
 * channel; a NULL array means 1 (scale) or 0 (shift). */
static int new_weights(ferry_rw *rw, const conv_w *cw, const double *scale, bool scale_in, const double *shift,
                       const char *hint, int *wv, int *bv) {
  ferry_tensor *nw = ferry_tensor_new(rw->m, FERRY_F32, cw->w->rank, cw->w->dims);
  ferry_tensor *nb = ferry_tensor_new(rw->m, FERRY_F32, 1, &cw->M);
  if (!nw || !nb) return ferry_fail(rw->err, FERRY_E_SYSTEM, "out of memory");
  const float *w = cw->w->data;
  float *W = (float *)nw->data, *B = (float *)nb->data;
  int64_t k_per_ci = cw->per / cw->Cg, m_per_group = cw->M / cw->group;
  for (int64_t m = 0; m < cw->M; m++) {
    double b = cw->b ? cw->b[m] : 0.0;
    for (int64_t e = 0; e < cw->per; e++) {
      double s = !scale ? 1.0 : scale_in ? scale[(m / m_per_group) * cw->Cg + e / k_per_ci] : scale[m];
      W[m * cw->per + e] = (float)(w[m * cw->per + e] * s);
    }
    if (scale && !scale_in) b *= scale[m];
    B[m] = (float)(b + (shift ? shift[m] : 0.0));
  }
  char name[256];
  snprintf(name, sizeof name, "%.200s_affine", hint);
  if (ferry_rw_add_weight(rw, name, nw, wv)) return rw->status ? rw->status : FERRY_E_SYSTEM;
  snprintf(name, sizeof name, "%.200s_affine_bias", hint);
  if (ferry_rw_add_weight(rw, name, nb, bv)) return rw->status ? rw->status : FERRY_E_SYSTEM;
  return FERRY_OK;
}

/* Node ni becomes the Conv `conv` (copied: rebuilding moves nodes) reading
 * x with weights (wv, bv). */
static int rebuild_conv(ferry_rw *rw, int ni, const ferry_node *conv, int x, int wv, int bv) {
  ferry_node c = *conv;
  int in[3] = {x, wv, bv};
  if (ferry_rw_fuse(rw, ni, "", "Conv", c.opset, in, 3, c.attrs, c.n_attrs)) return rw->status;
  rw->g->nodes[ni].name = c.name;
  rw->rewrites++;
  return rw->status;
}


/* ---- after the Conv ---- */

static int try_after(ferry_rw *rw, int i) {
  const ferry_node *n = &rw->g->nodes[i];
  int kind = op_kind(n);
  if (kind < 0) return 0;
  for (int side = 0; side < 2; side++) {
    if (side == 1 && (kind == OP_DIV || kind == OP_SUB)) break; /* c / Conv(x), c - Conv(x) */
    const ferry_node *conv = ferry_rw_sole_producer(rw, n->inputs[side], NULL, NULL);
    conv_w cw;
    const float *c;
    int64_t cn;
    /* the Conv result has W's rank */
    if (!conv || !conv_weights(rw->g, conv, &cw) ||
        !channel_const(rw->g, n->inputs[1 - side], cw.w->rank, cw.M, &c, &cn))
      continue;
    double *v = malloc((size_t)cw.M * sizeof *v);
    if (!v) return ferry_fail(rw->err, FERRY_E_SYSTEM, "out of memory");
    for (int64_t m = 0; m < cw.M; m++) {
      double x = at(c, cn, m);
      v[m] = kind == OP_DIV ? 1.0 / x : kind == OP_SUB ? -x : x;
    }
    bool scales = kind == OP_MUL || kind == OP_DIV;
    int wv, bv;
    int rc = new_weights(rw, &cw, scales ? v : NULL, false, scales ? NULL : v, rw->g->values[conv->inputs[1]].name,
                         &wv, &bv);
    free(v);
    if (rc) return rc;
    conv = ferry_rw_sole_producer(rw, n->inputs[side], NULL, NULL); /* the node array may have moved */
    return rebuild_conv(rw, i, conv, conv->inputs[0], wv, bv);
  }
  return 0;
}

/* ---- before the Conv ---- */

static int try_before(ferry_rw *rw, int i) {
  const ferry_node *conv = &rw->g->nodes[i];
  conv_w cw;
  if (!conv_weights(rw->g, conv, &cw)) return 0;
  const ferry_node *n = ferry_rw_sole_producer(rw, conv->inputs[0], NULL, NULL);
  int kind = n ? op_kind(n) : -1, rank = cw.w->rank; /* X has W's rank */
  if (kind != OP_MUL && kind != OP_ADD) return 0;
  if (kind == OP_ADD && !conv_unpadded(conv)) return 0;
  int64_t C = cw.Cg * cw.group, cn, xc;
  for (int side = 0; side < 2; side++) {
    const float *c;
    int x = n->inputs[1 - side];
    /* the constant must not grow x: x's rank and channels must be known */
    if (!channel_const(rw->g, n->inputs[side], rank, C, &c, &cn) || ferry_rw_rank(rw->g, x) != rank ||
        ferry_rw_dtype(rw->g, x) != FERRY_F32 || (cn > 1 && !(ferry_rw_dim(rw->g, x, 1, &xc) && xc == C)))
      continue;
    double *v = malloc((size_t)(kind == OP_MUL ? C : cw.M) * sizeof *v);
    if (!v) return ferry_fail(rw->err, FERRY_E_SYSTEM, "out of memory");
    if (kind == OP_MUL) {
      for (int64_t ci = 0; ci < C; ci++) v[ci] = at(c, cn, ci);
    } else {
      const float *w = cw.w->data;
      int64_t k_per_ci = cw.per / cw.Cg, m_per_group = cw.M / cw.group;
      for (int64_t m = 0; m < cw.M; m++) {
        double s = 0;
        for (int64_t e = 0; e < cw.per; e++) s += w[m * cw.per + e] * at(c, cn, (m / m_per_group) * cw.Cg + e / k_per_ci);
        v[m] = s;
      }
    }
    int wv, bv;
    int rc = new_weights(rw, &cw, kind == OP_MUL ? v : NULL, true, kind == OP_ADD ? v : NULL,
                         rw->g->values[conv->inputs[1]].name, &wv, &bv);
    free(v);
    if (rc) return rc;
    return rebuild_conv(rw, i, &rw->g->nodes[i], x, wv, bv);
  }
  return 0;
}

int ferry_pass_conv_affine(ferry_rw *rw) {
  for (int i = 0; i < rw->g->n_nodes; i++) {
    int rc = ferry_rw_dead(rw, i) ? 0 : try_after(rw, i);
    if (!rc) rc = ferry_rw_dead(rw, i) ? 0 : try_before(rw, i);
    if (rc) return rc;
  }
  return rw->status;
}
