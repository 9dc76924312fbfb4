/*
 * pass_fuse_hswish.c - fuse-hardswish: the decomposed HardSwish of the
 * mobile CNN exports (PaddleOCR, MobileNetV3 through paddle2onnx and
 * older torch exports):
 *
 *   x * Clip(x + 3, 0, 6) / 6          (Div by 6 or Mul by 1/6, the
 *   x * (Clip(x + 3, 0, 6) / 6)         scaling before or after the
 *                                       product, either operand order)
 *
 * Four element-wise passes over the tensor become one or two:
 *   - opset >= 14: ONNX HardSwish(x);
 *   - opset < 14 (HardSwish does not exist there, and onnxruntime refuses
 *     it): HardSigmoid(x; alpha 1/6, beta 0.5) then Mul(x, .), which is
 *     the same function (x * clip(x/6 + 1/2, 0, 1)) in ops of the model's
 *     opset, so --emit-onnx stays valid and runnable by onnxruntime.
 * At opset >= 14, Mul(x, HardSigmoid(x; 1/6, 0.5)) becomes HardSwish too.
 *
 * As in the other fusions, the match starts at the pattern's last node and
 * walks producers; every intermediate must be read only inside the pattern,
 * constants are float32 scalars compared by value (1e-4 relative). The last
 * node is rebuilt (keeping its output value) and the rest pruned.
 */
#include <float.h>
#include <stdio.h>
#include <string.h>

#include "passes.h"

#define TOL 1e-4

/* The producer of pattern intermediate v when it is `op`. */
static ferry_node *sole(const ferry_rw *rw, int v, const char *op) {
  return ferry_rw_sole_producer(rw, v, op, NULL);
}

/* Whether v is a one-element float32 constant near c. */
static bool f32_scalar_near(const ferry_graph *g, int v, double c) {
  double x;
  return v >= 0 && ferry_rw_dtype(g, v) == FERRY_F32 && ferry_rw_scalar(g, v, &x) && ferry_near(x, c, TOL);
}

/* For a two-input node with a float32 scalar near c on one side (either
 * side when `commutes`, else the second): the other input; -1 if none. */
static int beside_scalar(const ferry_graph *g, const ferry_node *n, double c, bool commutes) {
  if (!n || n->n_inputs != 2) return -1;
  if (f32_scalar_near(g, n->inputs[1], c)) return n->inputs[0];
  if (commutes && f32_scalar_near(g, n->inputs[0], c)) return n->inputs[1];
  return -1;
}

/* Whether Clip node n clamps to [0, 6] (attributes before opset 11,
 * constant inputs from 11). */
static bool clips_0_6(const ferry_graph *g, const ferry_node *n) {
  if (n->opset < 11)
    return n->n_inputs == 1 && ferry_node_float(n, "min", -FLT_MAX) == 0.0f &&
           ferry_node_float(n, "max", FLT_MAX) == 6.0f;
  double lo, hi;
  return ferry_node_in(n, 1) >= 0 && ferry_node_in(n, 2) >= 0 && ferry_rw_scalar(g, n->inputs[1], &lo) &&
         ferry_rw_scalar(g, n->inputs[2], &hi) && lo == 0.0 && hi == 6.0;
}

/* Clip(x + 3, 0, 6) producing v: returns x, or -1. */
static int relu6_of_x_plus_3(const ferry_rw *rw, int v) {
  const ferry_node *clip = sole(rw, v, "Clip");
  if (!clip || !clips_0_6(rw->g, clip)) return -1;
  return beside_scalar(rw->g, sole(rw, clip->inputs[0], "Add"), 3.0, true);
}

/* Mul(x, Clip(x + 3, 0, 6)) in either order: returns x, or -1. */
static int x_times_relu6(const ferry_rw *rw, const ferry_node *mul) {
  if (!mul || mul->n_inputs != 2) return -1;
  for (int s = 0; s < 2; s++) {
    int x = mul->inputs[s];
    if (x >= 0 && relu6_of_x_plus_3(rw, mul->inputs[1 - s]) == x) return x;
  }
  return -1;
}

/* Clip(x + 3, 0, 6) / 6 (Div by 6 or Mul by 1/6) producing v: returns x. */
static int relu6_over_6(const ferry_rw *rw, int v) {
  const ferry_node *d = sole(rw, v, "Div");
  if (d) return relu6_of_x_plus_3(rw, beside_scalar(rw->g, d, 6.0, false));
  return relu6_of_x_plus_3(rw, beside_scalar(rw->g, sole(rw, v, "Mul"), 1.0 / 6.0, true));
}

/* HardSigmoid(x; 1/6, 0.5) producing v: returns x, or -1. */
static int hard_sigmoid_sixth(const ferry_rw *rw, int v) {
  const ferry_node *h = sole(rw, v, "HardSigmoid");
  if (!h || h->n_inputs != 1) return -1;
  bool ok = ferry_near(ferry_node_float(h, "alpha", 0.2f), 1.0 / 6.0, TOL) &&
            ferry_near(ferry_node_float(h, "beta", 0.5f), 0.5, TOL);
  return ok ? h->inputs[0] : -1;
}

/* The x of a HardSwish pattern ending at node n, or -1. *bare is set when
 * it is already Mul(x, HardSigmoid(x; 1/6, 0.5)) (what opset < 14 gets). */
static int match_hardswish(const ferry_rw *rw, const ferry_node *n, bool *bare) {
  *bare = false;
  int dt = ferry_rw_dtype(rw->g, n->outputs[0]);
  if (*n->domain || n->n_inputs != 2 || n->n_outputs != 1 || (dt && dt != FERRY_F32)) return -1;
  if (!strcmp(n->op, "Div")) return x_times_relu6(rw, sole(rw, beside_scalar(rw->g, n, 6.0, false), "Mul"));
  if (strcmp(n->op, "Mul") != 0) return -1;
  int x = x_times_relu6(rw, sole(rw, beside_scalar(rw->g, n, 1.0 / 6.0, true), "Mul"));
  for (int s = 0; s < 2 && x < 0; s++) {
    int cand = n->inputs[s];
    if (cand < 0) continue;
    if (relu6_over_6(rw, n->inputs[1 - s]) == cand) x = cand;
    else if (hard_sigmoid_sixth(rw, n->inputs[1 - s]) == cand) x = cand, *bare = true;
  }
  return x;
}

/* Before opset 14: HardSigmoid(x; 1/6, 0.5) inserted before node i, and
 * node i rebuilt as Mul(x, that). */
static int split_form(ferry_rw *rw, int i, int x) {
  const ferry_node *n = &rw->g->nodes[i];
  int opset = n->opset;
  char name[256];
  snprintf(name, sizeof name, "%.200s_hardsigmoid", n->name && *n->name ? n->name : "hardswish");
  int h, ni;
  if (ferry_rw_add_value(rw, name, &h)) return rw->status ? rw->status : FERRY_E_SYSTEM;
  rw->g->values[h].type = rw->g->values[x].type;
  ferry_attr attrs[2] = {ferry_rw_attr_float("alpha", 1.0f / 6.0f), ferry_rw_attr_float("beta", 0.5f)};
  if (ferry_rw_insert_node(rw, i, rw->g->values[h].name, "", "HardSigmoid", opset, &x, 1, &h, 1, attrs, 2, &ni))
    return rw->status ? rw->status : FERRY_E_SYSTEM;
  int in[2] = {x, h};
  return ferry_rw_fuse(rw, i + 1, "", "Mul", opset, in, 2, NULL, 0);
}

static int try_hardswish(ferry_rw *rw, int i) {
  bool bare;
  const ferry_node *n = &rw->g->nodes[i];
  int x = match_hardswish(rw, n, &bare);
  if (x < 0 || (bare && n->opset < 14) || n->opset < 7) return 0;
  int rc = n->opset >= 14 ? ferry_rw_fuse(rw, i, "", "HardSwish", n->opset, &x, 1, NULL, 0) : split_form(rw, i, x);
  if (rc) return rw->status ? rw->status : rc;
  rw->rewrites++;
  return 0;
}

int ferry_pass_fuse_hardswish(ferry_rw *rw) {
  for (int i = rw->g->n_nodes - 1; i >= 0; i--) {
    int rc = ferry_rw_dead(rw, i) ? 0 : try_hardswish(rw, i);
    if (rc) return rc;
  }
  return rw->status;
}
