/*
 * pass_cleanup.c - passes that only remove or move what is already there:
 *
 *   dead-code  nodes none of whose results is used (by a node, a graph
 *              output or a subgraph that captures it), swept from the end
 *              so chains of them go in one sweep;
 *   identity   nodes that return their input: Identity, Dropout in
 *              inference form (its mask unused), Cast to the type the input
 *              already has; their readers read the input instead;
 *   if-const   an If whose condition is a constant is replaced by the nodes
 *              of the branch it takes: branch values get parent values
 *              (renamed where the name is taken, except values nested
 *              subgraphs read by name: then the If stays), captures map
 *              back to the parent values they read, and the branch outputs
 *              take the place of the If outputs (an Identity copies one
 *              when neither can be renamed, see rewrite.h).
 */
#include <stdlib.h>
#include <string.h>

#include "passes.h"

/* ---- dead-code ---- */

int ferry_pass_dead_code(ferry_rw *rw) {
  for (int i = rw->g->n_nodes - 1; i >= 0; i--)
    if (!ferry_rw_dead(rw, i)) rw->rewrites += ferry_rw_prune(rw, i);
  return rw->status;
}

/* ---- identity ---- */

/* Dropout returns its input when it runs in inference mode and its mask
 * output is not used. */
static bool dropout_is_identity(const ferry_rw *rw, const ferry_node *n) {
  if (n->n_outputs > 1 && ferry_rw_uses(rw, n->outputs[1]) > 0) return false; /* the mask is used */
  if (n->opset < 7) return ferry_node_int(n, "is_test", 0) != 0;
  if (n->opset < 12) return true;
  int tm = ferry_node_in(n, 2);
  double mode;
  return tm < 0 || (ferry_rw_scalar(rw->g, tm, &mode) && mode == 0);
}

/* Whether node n just returns its first input as its first output. */
static bool returns_its_input(const ferry_rw *rw, const ferry_node *n) {
  if (n->n_inputs < 1 || n->inputs[0] < 0 || n->n_outputs < 1 || n->outputs[0] < 0) return false;
  if (ferry_node_is(n, "", "Identity")) return true;
  if (ferry_node_is(n, "", "Dropout")) return dropout_is_identity(rw, n);
  if (ferry_node_is(n, "", "Cast")) {
    int dt = ferry_rw_dtype(rw->g, n->inputs[0]);
    return dt > 0 && ferry_node_int(n, "to", -1) == dt;
  }
  return false;
}

int ferry_pass_identity(ferry_rw *rw) {
  for (int i = 0; i < rw->g->n_nodes; i++) {
    ferry_node *n = &rw->g->nodes[i];
    if (ferry_rw_dead(rw, i) || !returns_its_input(rw, n)) continue;
    bool done;
    if (ferry_rw_replace(rw, n->outputs[0], n->inputs[0], &done)) return rw->status;
    if (!done) continue;
    ferry_rw_remove(rw, i);
    rw->rewrites++;
  }
  return rw->status;
}

/* ---- if-const ---- */

typedef struct inliner {
  ferry_rw *rw;
  ferry_graph *b; /* the branch taken */
  int *map;       /* branch value -> parent value, -1 not yet */
  bool *captured; /* branch values read by nested subgraphs */
} inliner;

/* The parent value standing for branch value c (made on first need). */
static int parent_value(inliner *in, int c) {
  if (in->map[c] >= 0) return in->map[c];
  const ferry_value *bv = &in->b->values[c];
  if (bv->outer >= 0) return in->map[c] = bv->outer;
  int v;
  if (ferry_rw_add_value(in->rw, bv->name, &v)) return -1;
  ferry_value *pv = &in->rw->g->values[v];
  bv = &in->b->values[c];
  pv->type = bv->type;
  pv->data = bv->data;
  pv->flags = bv->flags & (FERRY_VAL_WEIGHT | FERRY_VAL_CONST);
  return in->map[c] = v;
}

/* Marks the values of b that subgraphs of b's nodes capture: those are
 * read by name, so they must keep it in the parent. */
static void mark_captured(const ferry_graph *b, bool *cap) {
  for (int i = 0; i < b->n_nodes; i++)
    for (int j = 0; j < ferry_node_graph_count(&b->nodes[i]); j++) {
      const ferry_graph *s = ferry_node_graph(&b->nodes[i], j);
      for (int v = 0; v < s->n_values; v++)
        if (s->values[v].outer >= 0) cap[s->values[v].outer] = true;
    }
}

/* Branch output k may write If output o directly when a branch node makes
 * it, no other output took it first and no subgraph reads it by name. */
static void map_outputs(inliner *in, const ferry_node *ifn) {
  for (int k = 0; k < in->b->n_outputs; k++) {
    int c = in->b->outputs[k], o = ifn->outputs[k];
    if (o >= 0 && in->map[c] < 0 && in->b->values[c].producer >= 0 && !in->captured[c]) in->map[c] = o;
  }
}

/* Captured branch values keep their names in the parent (ONNX names are
 * unique across nesting, so this holds for valid models); the others are
 * renamed when their name is taken. */
static bool captured_names_free(const ferry_graph *parent, const ferry_graph *b, const bool *captured) {
  for (int c = 0; c < b->n_values; c++)
    if (captured[c] && b->values[c].outer < 0 && ferry_rw_name_taken(parent, b->values[c].name)) return false;
  return true;
}

/* Rewrites a branch node's value indices (and its subgraphs' captures) to
 * parent indices. */
static int remap_node(inliner *in, ferry_node *n) {
  for (int k = 0; k < n->n_inputs; k++)
    if (n->inputs[k] >= 0 && (n->inputs[k] = parent_value(in, n->inputs[k])) < 0) return -1;
  for (int k = 0; k < n->n_outputs; k++)
    if (n->outputs[k] >= 0 && (n->outputs[k] = parent_value(in, n->outputs[k])) < 0) return -1;
  for (int j = 0; j < ferry_node_graph_count(n); j++) {
    ferry_graph *s = ferry_node_graph(n, j);
    s->parent = in->rw->g;
    for (int v = 0; v < s->n_values; v++)
      if (s->values[v].outer >= 0 && (s->values[v].outer = parent_value(in, s->values[v].outer)) < 0)
        return -1;
  }
  return 0;
}

/* The If outputs become the branch outputs (renamed, replaced, or copied
 * by an Identity when neither is possible). `at` is where the If is now. */
static int connect_outputs(inliner *in, int at, const int *if_out, int n_out, int opset) {
  ferry_rw *rw = in->rw;
  for (int k = 0; k < n_out; k++) {
    int o = if_out[k], c = in->map[in->b->outputs[k]];
    if (c < 0) c = parent_value(in, in->b->outputs[k]);
    if (o < 0 || o == c) continue;
    if (c < 0) return FERRY_E_SYSTEM;
    bool done;
    if (ferry_rw_replace(rw, o, c, &done)) return rw->status;
    int ni;
    if (!done && ferry_rw_insert_node(rw, at, rw->g->values[o].name, "", "Identity", opset, &c, 1, &o, 1,
                                      NULL, 0, &ni))
      return rw->status;
    if (!done) at++;
  }
  return 0;
}

/* Replaces If node i by the nodes of branch b; *done is false when a
 * captured branch value's name is taken in the parent. */
static int inline_branch(ferry_rw *rw, int i, ferry_graph *b, bool *done) {
  ferry_node ifn = rw->g->nodes[i];
  inliner in = {rw, b, malloc(((size_t)b->n_values + 1) * sizeof(int)),
                calloc((size_t)b->n_values + 1, sizeof(bool))};
  ferry_node *moved = malloc(((size_t)b->n_nodes + 1) * sizeof *moved);
  int rc = in.map && in.captured && moved ? 0 : FERRY_E_SYSTEM;
  if (rc) ferry_fail(rw->err, rc, "out of memory");
  if (!rc) mark_captured(b, in.captured);
  *done = !rc && captured_names_free(rw->g, b, in.captured);
  if (*done) {
    memset(in.map, -1, (size_t)b->n_values * sizeof(int));
    ferry_rw_remove(rw, i); /* releases the captures while the branch still has its nodes */
    map_outputs(&in, &ifn);
    for (int j = 0; j < b->n_nodes && !rc; j++) {
      moved[j] = b->nodes[j];
      if (remap_node(&in, &moved[j])) rc = FERRY_E_SYSTEM;
    }
  }
  int nb = b->n_nodes;
  if (*done && !rc) rc = ferry_rw_splice(rw, i, moved, nb);
  if (*done && !rc) {
    b->n_nodes = 0; /* its nodes live in the parent now */
    rc = connect_outputs(&in, i + nb, ifn.outputs, ifn.n_outputs, ifn.opset);
  }
  free(in.map);
  free(in.captured);
  free(moved);
  return rc ? (rw->status ? rw->status : rc) : 0;
}

/* The branch an If with a constant condition takes, NULL if not that. */
static ferry_graph *taken_branch(const ferry_rw *rw, const ferry_node *n) {
  if (!ferry_node_is(n, "", "If") || n->n_inputs < 1) return NULL;
  double cond;
  const ferry_tensor *t = ferry_rw_const(rw->g, n->inputs[0]);
  if (!t || t->numel != 1 || !ferry_tensor_get(t, 0, &cond)) return NULL;
  const ferry_attr *a = ferry_node_attr(n, cond != 0 ? "then_branch" : "else_branch");
  ferry_graph *b = a && a->type == FERRY_A_GRAPH ? a->g : NULL;
  if (!b || b->n_inputs != 0 || b->n_outputs != n->n_outputs) return NULL;
  return b;
}

int ferry_pass_if_const(ferry_rw *rw) {
  for (int i = 0; i < rw->g->n_nodes; i++) {
    if (ferry_rw_dead(rw, i)) continue;
    ferry_graph *b = taken_branch(rw, &rw->g->nodes[i]);
    if (!b) continue;
    int nb = b->n_nodes;
    bool done;
    if (inline_branch(rw, i, b, &done)) return rw->status ? rw->status : FERRY_E_SYSTEM;
    if (!done) continue;
    rw->rewrites++;
    i += nb; /* the If, now dead, sits after the inlined nodes */
  }
  return rw->status;
}
