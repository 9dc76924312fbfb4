/*
 * model.c - the runtime model (rt.h): an opened bundle's graphs with what
 * running them needs, built once per session.
 *
 *   - each node gets its registry row (ferry_op_find). An op ferry does not
 *     know, or knows and does not support, is a load error naming it. An op
 *     whose row has no CPU kernel yet loads: the missing ones are collected
 *     in m->missing and reported together when the session first plans
 *     (docs/runtime.md says why);
 *   - values with bundle data (weights, Constant outputs) are views of the
 *     bundle's bytes, used in place; only RAW numeric tensors for now;
 *     nodes whose outputs all have bundle data (Constant) are skipped;
 *   - liveness: each value's `die` node, after which its memory is free,
 *     counting subgraphs that read it as reads by the node that holds them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

size_t rt_bytes(int dtype, int64_t numel) {
  int s = ferry_dtype_size(dtype);
  if (numel < 0) return SIZE_MAX;
  if (dtype == FERRY_U4 || dtype == FERRY_I4) return (size_t)(numel / 2 + numel % 2);
  if (s <= 0 || (uint64_t)numel > SIZE_MAX / (size_t)s) return SIZE_MAX;
  return (size_t)numel * (size_t)s;
}

const char *rt_node_label(const rt_graph *g, int node, char *buf, size_t n) {
  const ferry_bnode *bn = &g->bg->nodes[node];
  if (bn->name.len) snprintf(buf, n, "node '%s' (%s)", bn->name.s, bn->op.s);
  else snprintf(buf, n, "node #%d (%s)", node, bn->op.s);
  return buf;
}

void rt_konst_view(const rt_model *m, const rt_value *v, ferry_tview *t) {
  const ferry_btensor *bt = ferry_bundle_tensor(m->b, v->bv->tensor);
  memset(t, 0, sizeof *t);
  t->dtype = bt->dtype;
  t->rank = bt->rank;
  memcpy(t->dims, bt->dims, (size_t)bt->rank * sizeof *bt->dims);
  t->numel = bt->numel;
  t->data = (void *)bt->data;
}

/* ---- attributes ---- */

static void tensor_attr(const rt_model *m, int ti, ferry_attrv *a) {
  const ferry_btensor *bt = ferry_bundle_tensor(m->b, ti);
  if (!bt) return;
  a->tdtype = bt->dtype;
  a->trank = bt->rank;
  a->tdims = bt->dims;
  a->tdata = bt->data;
}

static void type_attr(const ferry_btype *t, ferry_attrv *a) {
  a->i = t->kind == 1 ? FERRY_SV_SEQUENCE : t->kind == 2 ? FERRY_SV_OPTIONAL : FERRY_SV_TENSOR;
  while (t->elem && t->kind != 0) t = t->elem;
  a->tdtype = t->dtype;
  a->trank = -1;
}

int rt_attr(void *node, const char *name, ferry_attrv *a) {
  const rt_attrs *at = node;
  memset(a, 0, sizeof *a);
  for (int i = 0; i < at->bn->n_attrs; i++) {
    const ferry_battr *b = &at->bn->attrs[i];
    if (strcmp(b->name.s, name)) continue;
    a->type = b->type;
    a->i = b->type == 5 ? b->graph : b->i;
    a->f = b->f;
    a->n = b->n;
    a->ints = b->ints;
    a->floats = b->floats;
    a->s = b->s.s;
    a->slen = b->s.len;
    if (b->type == 8) a->s = at->joined ? at->joined[i] : NULL, a->slen = at->joined ? at->joined_len[i] : 0;
    if (b->type == 4 || b->type == 11) tensor_attr(at->m, b->tensor, a);
    else if (b->type == 13 && b->types) type_attr(&b->types[0], a);
    return 1;
  }
  return 0;
}

rt_graph *rt_subgraph(const rt_graph *g, int node, const char *attr) {
  const ferry_bnode *bn = &g->bg->nodes[node];
  for (int i = 0; i < bn->n_attrs; i++)
    if (bn->attrs[i].type == 5 && strcmp(bn->attrs[i].name.s, attr) == 0)
      return &g->model->graphs[bn->attrs[i].graph];
  return NULL;
}

/* ---- checks ---- */

static const char *enc_name(int e) {
  static const char *names[] = {"RAW", "F16", "AFFINE_I8", "AFFINE_U8", "Q4_32", "Q8_32"};
  return e >= 0 && e < FERRY_ENC_COUNT ? names[e] : "?";
}

/* Tensor ti can be handed to kernels as it is. */
static int usable_tensor(const rt_model *m, int ti, const char *what, ferry_err *err) {
  const ferry_btensor *bt = ferry_bundle_tensor(m->b, ti);
  if (bt->encoding != FERRY_ENC_RAW)
    return ferry_fail(err, FERRY_E_INPUT, "%s is stored as %s: the runtime reads RAW tensors only for now", what,
                      enc_name(bt->encoding));
  if (bt->dtype == FERRY_STRING || rt_bytes(bt->dtype, bt->numel) == SIZE_MAX)
    return ferry_fail(err, FERRY_E_INPUT, "%s is a %s tensor: the runtime has no %s kernels", what,
                      ferry_dtype_name(bt->dtype), ferry_dtype_name(bt->dtype));
  if (bt->rank > FERRY_MAX_RANK)
    return ferry_fail(err, FERRY_E_INPUT, "%s has rank %d, over the runtime's %d", what, bt->rank, FERRY_MAX_RANK);
  return 0;
}

static int check_attrs(const rt_model *m, const rt_graph *g, int ni, ferry_err *err) {
  const ferry_bnode *bn = &g->bg->nodes[ni];
  char lb[300], what[400];
  for (int i = 0; i < bn->n_attrs; i++) {
    const ferry_battr *a = &bn->attrs[i];
    int n = a->type == 4 || a->type == 11 ? 1 : a->type == 9 || a->type == 12 ? a->n : 0;
    for (int k = 0; k < n; k++) {
      int ti = n == 1 && (a->type == 4 || a->type == 11) ? a->tensor : a->tensors[k];
      snprintf(what, sizeof what, "%s: attribute '%s'", rt_node_label(g, ni, lb, sizeof lb), a->name.s);
      const ferry_btensor *bt = ferry_bundle_tensor(m->b, ti);
      if (bt->encoding != FERRY_ENC_RAW || bt->rank > FERRY_MAX_RANK) return usable_tensor(m, ti, what, err);
    }
  }
  return 0;
}

/* ---- building ---- */

/* STRINGS attributes as one buffer each, the form shape.h promises. */
static int join_strings(rt_node *n) {
  const ferry_bnode *bn = n->bn;
  for (int i = 0; i < bn->n_attrs; i++) {
    const ferry_battr *a = &bn->attrs[i];
    if (a->type != 8) continue;
    if (!n->at.joined) {
      n->at.joined = calloc((size_t)bn->n_attrs, sizeof *n->at.joined);
      n->at.joined_len = calloc((size_t)bn->n_attrs, sizeof *n->at.joined_len);
      if (!n->at.joined || !n->at.joined_len) return -1;
    }
    size_t len = 0;
    for (int k = 0; k < a->n; k++) len += a->strings[k].len + 1;
    char *p = n->at.joined[i] = malloc(len + 1);
    if (!p) return -1;
    for (int k = 0; k < a->n; k++) {
      memcpy(p, a->strings[k].s, a->strings[k].len);
      p += a->strings[k].len;
      *p++ = 0;
    }
    n->at.joined_len[i] = (int64_t)len;
  }
  return 0;
}

static void free_joined(rt_node *n) {
  for (int i = 0; n->at.joined && i < n->bn->n_attrs; i++) free(n->at.joined[i]);
  free(n->at.joined);
  free(n->at.joined_len);
}

static void note_missing(rt_model *m, const ferry_bnode *bn) {
  char op[160];
  snprintf(op, sizeof op, "%s%s%s", bn->domain.s, bn->domain.len ? "." : "", bn->op.s);
  size_t len = strlen(m->missing), ol = strlen(op);
  for (const char *p = m->missing; (p = strstr(p, op)); p += ol)
    if ((p == m->missing || p[-1] == ' ') && (p[ol] == ',' || !p[ol])) return;
  m->n_missing++;
  if (len + ol + 8 < sizeof m->missing)
    snprintf(m->missing + len, sizeof m->missing - len, "%s%s", len ? ", " : "", op);
  else if (!strstr(m->missing, "..."))
    snprintf(m->missing + len, sizeof m->missing - len, ", ...");
}

static int find_op(rt_graph *g, int ni, const ferry_session_opts *o, ferry_err *err) {
  rt_node *n = &g->nodes[ni];
  const ferry_bnode *bn = n->bn;
  char lb[300];
  n->op = ferry_op_find(bn->domain.s, bn->op.s, bn->opset);
  if (!n->op)
    return ferry_fail(err, FERRY_E_INPUT, "%s: ferry does not know op %s%s%s at opset %d",
                      rt_node_label(g, ni, lb, sizeof lb), bn->domain.s, bn->domain.len ? "." : "", bn->op.s,
                      bn->opset);
  if (n->op->unsupported)
    return ferry_fail(err, FERRY_E_INPUT, "%s: %s", rt_node_label(g, ni, lb, sizeof lb), n->op->unsupported);
  n->kernel = n->op->kernel;
  if (!n->kernel && o && o->kernels) n->kernel = o->kernels(o->kernels_user, bn->domain.s, bn->op.s, bn->opset);
  return 0;
}

/* 1 when every output of the node has bundle data. */
static int all_konst(const rt_graph *g, const ferry_bnode *bn) {
  int any = 0;
  for (int k = 0; k < bn->n_outputs; k++) {
    if (bn->outputs[k] < 0) continue;
    if (!g->values[bn->outputs[k]].konst) return 0;
    any = 1;
  }
  return any;
}

static int init_nodes(rt_model *m, rt_graph *g, const ferry_session_opts *o, ferry_err *err) {
  for (int i = 0; i < g->bg->n_nodes; i++) {
    rt_node *n = &g->nodes[i];
    n->bn = &g->bg->nodes[i];
    n->at = (rt_attrs){m, n->bn, NULL, NULL};
    if (join_strings(n)) return ferry_fail(err, FERRY_E_SYSTEM, "out of memory loading the model");
    if (n->bn->n_inputs > g->max_in) g->max_in = n->bn->n_inputs;
    if (n->bn->n_outputs > g->max_out) g->max_out = n->bn->n_outputs;
    n->skip = all_konst(g, n->bn);
    if (n->skip) continue;
    int rc = find_op(g, i, o, err);
    if (!rc) rc = check_attrs(m, g, i, err);
    if (rc) return rc;
    if (!n->kernel) note_missing(m, n->bn);
  }
  return 0;
}

/* The values a plan depends on: non-constant inputs, then outer values. */
static int list_sig_values(rt_graph *g, ferry_err *err) {
  g->sigv = malloc(((size_t)g->bg->n_values + 1) * sizeof *g->sigv);
  if (!g->sigv) return ferry_fail(err, FERRY_E_SYSTEM, "out of memory loading the model");
  for (int k = 0; k < g->bg->n_inputs; k++)
    if (!g->values[g->bg->inputs[k]].konst) g->sigv[g->n_sigv++] = g->bg->inputs[k];
  for (int i = 0; i < g->bg->n_values; i++)
    if (g->values[i].bv->outer >= 0) g->sigv[g->n_sigv++] = i;
  g->sig = malloc(((size_t)g->n_sigv * (2 + FERRY_MAX_RANK) + 1) * sizeof *g->sig);
  return g->sig ? 0 : ferry_fail(err, FERRY_E_SYSTEM, "out of memory loading the model");
}

static int init_values(rt_model *m, rt_graph *g, ferry_err *err) {
  char what[300];
  for (int i = 0; i < g->bg->n_values; i++) {
    rt_value *v = &g->values[i];
    v->bv = &g->bg->values[i];
    v->input = -1;
    v->die = -1;
    v->konst = v->bv->outer < 0 && v->bv->tensor >= 0;
    snprintf(what, sizeof what, "value '%s'", v->bv->name.s);
    if (v->konst && usable_tensor(m, v->bv->tensor, what, err)) return err->code;
  }
  for (int k = 0; k < g->bg->n_inputs; k++) g->values[g->bg->inputs[k]].input = k;
  return list_sig_values(g, err);
}

static void raise_die(rt_value *v, int node) {
  if (node > v->die) v->die = node;
}

/* Each value's last reader; a graph output lives to the end. */
static void liveness(rt_graph *g) {
  const ferry_bgraph *bg = g->bg;
  for (int i = 0; i < bg->n_nodes; i++) {
    const ferry_bnode *bn = &bg->nodes[i];
    for (int k = 0; k < bn->n_inputs; k++)
      if (bn->inputs[k] >= 0) raise_die(&g->values[bn->inputs[k]], i);
    for (int k = 0; k < bn->n_outputs; k++)
      if (bn->outputs[k] >= 0) raise_die(&g->values[bn->outputs[k]], i);
  }
  for (int k = 0; k < bg->n_outputs; k++) raise_die(&g->values[bg->outputs[k]], bg->n_nodes);
}

/* Owners of subgraphs, and reads of outer values as reads by the owner. */
static void link_subgraphs(rt_model *m) {
  for (int gi = 0; gi < m->n_graphs; gi++) {
    rt_graph *g = &m->graphs[gi];
    for (int i = 0; i < g->bg->n_nodes; i++) {
      const ferry_bnode *bn = &g->bg->nodes[i];
      for (int a = 0; a < bn->n_attrs; a++) {
        const ferry_battr *at = &bn->attrs[a];
        if (at->type == 5) m->graphs[at->graph].owner = i;
        for (int k = 0; at->type == 10 && k < at->n; k++) m->graphs[at->graphs[k]].owner = i;
      }
    }
  }
  for (int gi = m->n_graphs - 1; gi > 0; gi--) { /* children first: a child's reads reach its parent's outer values */
    rt_graph *g = &m->graphs[gi];
    for (int i = 0; i < g->bg->n_values; i++)
      if (g->bg->values[i].outer >= 0) raise_die(&g->parent->values[g->bg->values[i].outer], g->owner);
  }
}

static int init_graph(rt_model *m, int gi, const ferry_session_opts *o, ferry_err *err) {
  rt_graph *g = &m->graphs[gi];
  g->index = gi;
  g->bg = ferry_bundle_graph(m->b, gi);
  g->model = m;
  g->owner = -1;
  g->parent = g->bg->parent >= 0 ? &m->graphs[g->bg->parent] : NULL;
  int nv = g->bg->n_values, nn = g->bg->n_nodes;
  g->values = calloc((size_t)nv + 1, sizeof *g->values);
  g->nodes = calloc((size_t)nn + 1, sizeof *g->nodes);
  g->vals = calloc((size_t)nv + 1, sizeof *g->vals);
  g->heap = calloc((size_t)nv + 1, sizeof *g->heap);
  g->heap_bytes = calloc((size_t)nv + 1, sizeof *g->heap_bytes);
  if (!g->values || !g->nodes || !g->vals || !g->heap || !g->heap_bytes)
    return ferry_fail(err, FERRY_E_SYSTEM, "out of memory loading the model");
  int rc = init_values(m, g, err);
  if (!rc) rc = init_nodes(m, g, o, err);
  if (rc) return rc;
  liveness(g);
  int ka = g->max_in > 8 ? g->max_in : 8, kb = g->max_out > 8 ? g->max_out : 8;
  g->kin = calloc((size_t)ka, sizeof *g->kin);
  g->kout = calloc((size_t)kb, sizeof *g->kout);
  if (!g->kin || !g->kout) return ferry_fail(err, FERRY_E_SYSTEM, "out of memory loading the model");
  return 0;
}

int rt_model_init(rt_model *m, ferry_bundle *b, const ferry_session_opts *o, ferry_err *err) {
  memset(m, 0, sizeof *m);
  m->b = b;
  m->n_graphs = ferry_bundle_n_graphs(b);
  m->max_plans = o && o->max_plans > 0 ? o->max_plans : 8;
  m->clock_ms = o ? o->clock_ms : NULL;
  m->clock_user = o ? o->clock_user : NULL;
  m->no_fusion = o ? o->no_fusion : 0;
  ferry_scratch_init(&m->scratch);
  m->graphs = calloc((size_t)m->n_graphs + 1, sizeof *m->graphs);
  if (!m->graphs) return ferry_fail(err, FERRY_E_SYSTEM, "out of memory loading the model");
  for (int gi = 0; gi < m->n_graphs; gi++) {
    int rc = init_graph(m, gi, o, err);
    if (rc) return rc;
  }
  link_subgraphs(m);
  return 0;
}

static void graph_done(rt_graph *g) {
  rt_exec_cleanup(g);
  rt_exec_persist_free(g);
  for (int i = 0; g->nodes && g->bg && i < g->bg->n_nodes; i++)
    if (g->nodes[i].bn) free_joined(&g->nodes[i]);
  rt_plans_free(g);
  free(g->values);
  free(g->sigv);
  free(g->sig);
  free(g->nodes);
  free(g->vals);
  free(g->heap);
  free(g->heap_bytes);
  free(g->kin);
  free(g->kout);
  ferry_aligned_free(g->arena);
  ferry_aligned_free(g->outbuf[0]);
  ferry_aligned_free(g->outbuf[1]);
}

void rt_model_done(rt_model *m) {
  for (int gi = 0; m->graphs && gi < m->n_graphs; gi++) graph_done(&m->graphs[gi]);
  free(m->graphs);
  ferry_scratch_done(&m->scratch);
  ferry_pool_free(m->pool);
  memset(m, 0, sizeof *m);
}
