/*
 * pass_fuse_conv.c - fusions around Conv and Gemm (the CNN exports):
 *
 *   conv-bn          Conv -> BatchNormalization (inference form, constant
 *                    float32 parameters, the Conv result read only by the
 *                    BN) becomes one Conv with new weights and bias:
 *                      s = scale / sqrt(var + eps)
 *                      W' = W * s (per output channel), B' = (B - mean) * s + bias
 *   fuse-activation  MatMul (2-D) or Gemm without C, then Add of a constant
 *                    bias that broadcasts into [M, N], becomes Gemm with C;
 *                    then Conv -> activation becomes com.microsoft FusedConv
 *                    (Relu, Tanh, Sigmoid, LeakyRelu, Clip, HardSigmoid, with
 *                    `activation` and `activation_params` as onnxruntime
 *                    defines them) and Gemm with C -> activation becomes
 *                    com.microsoft FusedGemm (Relu, Tanh, Sigmoid, LeakyRelu,
 *                    HardSigmoid, parameters as activation_alpha/_beta).
 * onnxruntime runs both fused ops on float32 only, so only float32 fuses.
 * Patterns are matched from their last node backwards; the last node is
 * rebuilt as the fused op (so it keeps its output value and position) and
 * what it no longer reads is pruned (ferry_rw_fuse).
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "passes.h"

#define MS_DOMAIN "com.microsoft"
#define MAX_ATTRS 32

/* ---- shared checks ---- */

/* Float32 constant with `numel` elements, else NULL. */
static const float *f32_const(const ferry_graph *g, int v, int64_t numel) {
  const ferry_tensor *t = ferry_rw_const(g, v);
  return t && t->dtype == FERRY_F32 && t->numel == numel ? t->data : NULL;
}



/* ---- conv-bn ---- */

/* BatchNormalization that normalizes with its stored statistics, only its
 * first output used. */
static bool bn_inference(const ferry_rw *rw, const ferry_node *bn) {
  if (!ferry_node_is(bn, "", "BatchNormalization") || bn->n_inputs != 5 || bn->opset < 6) return false;
  for (int k = 1; k < bn->n_outputs; k++)
    if (ferry_rw_uses(rw, bn->outputs[k]) > 0) return false;
  if (bn->opset < 7 && ferry_node_int(bn, "is_test", 0) == 0) return false;
  if (bn->opset < 9 && ferry_node_int(bn, "spatial", 1) == 0) return false;
  return ferry_node_int(bn, "training_mode", 0) == 0;
}

typedef struct bn_params {
  const float *scale, *bias, *mean, *var, *w, *b;
  int64_t channels, per_channel;
  float eps;
} bn_params;

static bool conv_bn_params(const ferry_rw *rw, const ferry_node *conv, const ferry_node *bn, bn_params *p) {
  const ferry_tensor *w = ferry_rw_const(rw->g, ferry_node_in(conv, 1));
  if (!w || w->dtype != FERRY_F32 || w->rank < 3 || w->dims[0] <= 0) return false;
  p->channels = w->dims[0];
  p->per_channel = w->numel / p->channels;
  p->w = w->data;
  p->b = ferry_node_in(conv, 2) >= 0 ? f32_const(rw->g, conv->inputs[2], p->channels) : NULL;
  if (ferry_node_in(conv, 2) >= 0 && !p->b) return false;
  p->scale = f32_const(rw->g, bn->inputs[1], p->channels);
  p->bias = f32_const(rw->g, bn->inputs[2], p->channels);
  p->mean = f32_const(rw->g, bn->inputs[3], p->channels);
  p->var = f32_const(rw->g, bn->inputs[4], p->channels);
  p->eps = ferry_node_float(bn, "epsilon", 1e-5f);
  return p->scale && p->bias && p->mean && p->var;
}

/* New weight and bias tensors with the BN folded in. */
static int fold_bn(ferry_rw *rw, const bn_params *p, const ferry_tensor *w, int *wv, int *bv,
                   const char *wname) {
  ferry_tensor *nw = ferry_tensor_new(rw->m, FERRY_F32, w->rank, w->dims);
  ferry_tensor *nb = ferry_tensor_new(rw->m, FERRY_F32, 1, &p->channels);
  if (!nw || !nb) return ferry_fail(rw->err, FERRY_E_SYSTEM, "out of memory");
  float *W = (float *)nw->data, *B = (float *)nb->data;
  for (int64_t c = 0; c < p->channels; c++) {
    double s = (double)p->scale[c] / sqrt((double)p->var[c] + (double)p->eps);
    for (int64_t k = 0; k < p->per_channel; k++)
      W[c * p->per_channel + k] = (float)(p->w[c * p->per_channel + k] * s);
    B[c] = (float)(((p->b ? (double)p->b[c] : 0.0) - p->mean[c]) * s + p->bias[c]);
  }
  char hint[256];
  snprintf(hint, sizeof hint, "%.200s_bn", wname);
  if (ferry_rw_add_weight(rw, hint, nw, wv)) return rw->status;
  snprintf(hint, sizeof hint, "%.200s_bn_bias", wname);
  return ferry_rw_add_weight(rw, hint, nb, bv);
}

static int try_conv_bn(ferry_rw *rw, int i) {
  const ferry_node *bn = &rw->g->nodes[i];
  int ci;
  if (!bn_inference(rw, bn)) return 0;
  const ferry_node *conv = ferry_rw_sole_producer(rw, bn->inputs[0], "Conv", &ci);
  bn_params p;
  if (!conv || !conv_bn_params(rw, conv, bn, &p)) return 0;
  int wv, bv;
  if (fold_bn(rw, &p, rw->g->values[conv->inputs[1]].data, &wv, &bv, rw->g->values[conv->inputs[1]].name))
    return rw->status ? rw->status : FERRY_E_SYSTEM;
  conv = &rw->g->nodes[ci];
  int in[3] = {conv->inputs[0], wv, bv};
  const char *name = conv->name;
  if (ferry_rw_fuse(rw, i, "", "Conv", conv->opset, in, 3, conv->attrs, conv->n_attrs)) return rw->status;
  rw->g->nodes[i].name = name;
  rw->rewrites++;
  return rw->status;
}

int ferry_pass_conv_bn(ferry_rw *rw) {
  for (int i = 0; i < rw->g->n_nodes; i++) {
    int rc = ferry_rw_dead(rw, i) ? 0 : try_conv_bn(rw, i);
    if (rc) return rc;
  }
  return rw->status;
}

/* ---- fuse-activation: bias Add into Gemm ---- */

/* Whether a constant bias of these dims broadcasts into [M, N] without
 * growing it (unidirectionally, as Gemm's C does). */
static bool bias_fits(const ferry_tensor *bias, const int64_t mn[2], const bool known[2]) {
  if (bias->rank > 2) return false;
  for (int k = 0; k < bias->rank; k++) {
    int d = 2 - bias->rank + k;
    int64_t x = bias->dims[k];
    if (x != 1 && (!known[d] || x != mn[d])) return false;
  }
  return true;
}

/* M and N of a MatMul/Gemm node (what is known). */
static void gemm_mn(const ferry_graph *g, const ferry_node *n, int64_t mn[2], bool known[2]) {
  bool ta = ferry_node_int(n, "transA", 0) != 0, tb = ferry_node_int(n, "transB", 0) != 0;
  known[0] = ferry_rw_dim(g, n->inputs[0], ta ? 1 : 0, &mn[0]);
  known[1] = ferry_rw_dim(g, n->inputs[1], tb ? 0 : 1, &mn[1]);
}

/* A MatMul of two 2-D float32 operands, or a float32 Gemm without C. */
static bool gemm_like(const ferry_graph *g, const ferry_node *n) {
  if (ferry_node_is(n, "", "MatMul"))
    return n->n_inputs == 2 && ferry_rw_rank(g, n->inputs[0]) == 2 && ferry_rw_rank(g, n->inputs[1]) == 2 &&
           ferry_rw_dtype(g, n->inputs[1]) == FERRY_F32;
  return ferry_node_is(n, "", "Gemm") && ferry_node_in(n, 2) < 0 &&
         ferry_rw_dtype(g, n->inputs[1]) == FERRY_F32;
}

/* Gemm's attributes with beta set to 1 (C is added as is). */
static int gemm_attrs(const ferry_node *n, ferry_attr *out) {
  int k = 0;
  for (int a = 0; a < n->n_attrs && k < MAX_ATTRS - 1; a++)
    if (strcmp(n->attrs[a].name, "beta") != 0) out[k++] = n->attrs[a];
  out[k++] = ferry_rw_attr_float("beta", 1.0f);
  return k;
}

static int try_bias_add(ferry_rw *rw, int i) {
  const ferry_node *add = &rw->g->nodes[i];
  if (!ferry_node_is(add, "", "Add") || add->n_inputs != 2 || add->opset < 7) return 0;
  for (int side = 0; side < 2; side++) {
    int bias = add->inputs[1 - side];
    const ferry_node *mm = ferry_rw_sole_producer(rw, add->inputs[side], NULL, NULL);
    const ferry_tensor *bt = ferry_rw_const(rw->g, bias);
    if (!mm || !gemm_like(rw->g, mm) || !bt || bt->dtype != FERRY_F32) continue;
    int64_t mn[2];
    bool known[2];
    gemm_mn(rw->g, mm, mn, known);
    if (!bias_fits(bt, mn, known)) continue;
    ferry_attr attrs[MAX_ATTRS];
    int na = gemm_attrs(mm, attrs), in[3] = {mm->inputs[0], mm->inputs[1], bias};
    const char *name = mm->name;
    if (ferry_rw_fuse(rw, i, "", "Gemm", add->opset, in, 3, attrs, na)) return rw->status;
    rw->g->nodes[i].name = name;
    rw->rewrites++;
    return 0;
  }
  return 0;
}


/* ---- fuse-activation: activations ---- */

typedef struct activation {
  const char *name;   /* as onnxruntime names it */
  int n_params;
  float params[2];
  bool gemm_ok;       /* FusedGemm runs it too */
} activation;

/* Clip's bounds: attributes before opset 11, constant inputs after. */
static bool clip_bounds(const ferry_graph *g, const ferry_node *n, float *lo, float *hi) {
  *lo = -FLT_MAX;
  *hi = FLT_MAX;
  if (n->opset < 11) {
    *lo = ferry_node_float(n, "min", -FLT_MAX);
    *hi = ferry_node_float(n, "max", FLT_MAX);
    return true;
  }
  double x;
  if (ferry_node_in(n, 1) >= 0) {
    if (!ferry_rw_scalar(g, n->inputs[1], &x)) return false;
    *lo = (float)x;
  }
  if (ferry_node_in(n, 2) >= 0) {
    if (!ferry_rw_scalar(g, n->inputs[2], &x)) return false;
    *hi = (float)x;
  }
  return true;
}

/* What node n computes as an activation onnxruntime can fuse. */
static bool as_activation(const ferry_graph *g, const ferry_node *n, activation *a) {
  if (*n->domain || n->n_inputs < 1 || n->n_outputs != 1) return false;
  *a = (activation){.name = n->op, .gemm_ok = true};
  if (!strcmp(n->op, "Relu") || !strcmp(n->op, "Sigmoid") || !strcmp(n->op, "Tanh")) return n->n_inputs == 1;
  if (!strcmp(n->op, "LeakyRelu")) {
    a->n_params = 1;
    a->params[0] = ferry_node_float(n, "alpha", 0.01f);
    return true;
  }
  if (!strcmp(n->op, "HardSigmoid")) {
    a->n_params = 2;
    a->params[0] = ferry_node_float(n, "alpha", 0.2f);
    a->params[1] = ferry_node_float(n, "beta", 0.5f);
    return true;
  }
  if (!strcmp(n->op, "Clip")) {
    a->n_params = 2;
    a->gemm_ok = false;
    return clip_bounds(g, n, &a->params[0], &a->params[1]);
  }
  return false;
}

/* The producer's attributes plus the activation's, as FusedConv or
 * FusedGemm spell them. */
static int fused_attrs(const ferry_node *p, const activation *a, bool gemm, ferry_attr *out) {
  static const char *gemm_names[2] = {"activation_alpha", "activation_beta"};
  int k = 0;
  for (int i = 0; i < p->n_attrs && k < MAX_ATTRS - 3; i++) out[k++] = p->attrs[i];
  out[k++] = ferry_rw_attr_string("activation", a->name);
  if (!gemm && a->n_params) out[k++] = ferry_rw_attr_floats("activation_params", a->n_params, a->params);
  for (int j = 0; gemm && j < a->n_params; j++) out[k++] = ferry_rw_attr_float(gemm_names[j], a->params[j]);
  return k;
}

/* Float32 Conv (weights or input known to be float32). */
static bool conv_f32(const ferry_graph *g, const ferry_node *n) {
  int dt = ferry_rw_dtype(g, ferry_node_in(n, 1));
  if (!dt) dt = ferry_rw_dtype(g, ferry_node_in(n, 0));
  return ferry_node_is(n, "", "Conv") && n->n_inputs >= 2 && n->n_inputs <= 3 && dt == FERRY_F32;
}

static bool gemm_f32_with_c(const ferry_graph *g, const ferry_node *n) {
  return ferry_node_is(n, "", "Gemm") && ferry_node_in(n, 2) >= 0 &&
         ferry_rw_dtype(g, n->inputs[1]) == FERRY_F32;
}

static int try_activation(ferry_rw *rw, int i) {
  const ferry_node *act = &rw->g->nodes[i];
  activation a;
  if (!as_activation(rw->g, act, &a)) return 0;
  const ferry_node *p = ferry_rw_sole_producer(rw, act->inputs[0], NULL, NULL);
  if (!p) return 0;
  bool conv = conv_f32(rw->g, p), gemm = !conv && a.gemm_ok && gemm_f32_with_c(rw->g, p);
  if (!conv && !gemm) return 0;
  ferry_attr attrs[MAX_ATTRS];
  int na = fused_attrs(p, &a, gemm, attrs);
  const char *name = p->name;
  if (ferry_model_use_domain(rw->m, MS_DOMAIN, 1, rw->err)) return rw->status = FERRY_E_SYSTEM;
  if (ferry_rw_fuse(rw, i, MS_DOMAIN, conv ? "FusedConv" : "FusedGemm", 1, p->inputs, p->n_inputs, attrs, na))
    return rw->status ? rw->status : FERRY_E_SYSTEM;
  rw->g->nodes[i].name = name;
  rw->rewrites++;
  return 0;
}

int ferry_pass_fuse_activation(ferry_rw *rw) {
  for (int i = 0; i < rw->g->n_nodes; i++) {
    int rc = ferry_rw_dead(rw, i) ? 0 : try_bias_add(rw, i);
    if (!rc) rc = ferry_rw_dead(rw, i) ? 0 : try_activation(rw, i);
    if (rc) return rc;
  }
  return rw->status;
}
