/*
 * plan.c - plans (rt.h): what a graph's run looks like for one input-shape
 * signature, made once, cached per graph and replayed by exec.c.
 *
 * A plan is a flat array of steps {kernel, input and output slots, node},
 * one per node that runs (Constants do not), and every value's shape and
 * arena offset. Making one walks the steps and runs each op's shape rule
 * (runtime/ops/, the converter's rules) through integer dimops: a handle
 * is the number itself, RT_UNKNOWN stands for what cannot be known. Small
 * integer tensors' content comes only from bundle data (weights, Constant
 * outputs) and from what rules compute (Shape -> Gather -> Concat ->
 * Reshape), never from input data, so a plan depends on input shapes alone
 * and can be replayed for any data of those shapes. A node whose shape the
 * plan cannot know (NonZero, a Reshape target computed by kernels, If and
 * Loop outputs) and every node reading such a value is a dynamic step:
 * exec.c runs its rule again at run time with the real data
 * (rt_shape_node) and gives its outputs buffers of their own.
 *
 * Sequences and optionals are never known to a plan (their items are
 * data): inputs and outer values of those kinds are unknown from the
 * start, rules' outputs of those kinds too, so every step that reads or
 * makes one is dynamic; at run time their svals describe the element
 * (the dims all items agree on).
 *
 * Before memory is planned, a float32 MatMul and the bias Add after it
 * become one step (epilogue.c), runs of float32 element-wise steps one
 * chain step (chain.c), whose intermediates get no memory, and a Concat
 * whose inputs can be written in place as parts of its output no step
 * (concat.c).
 *
 * Memory: values of known size get offsets in one arena, replaying the
 * graph's allocations (outputs before the node runs) and frees (after each
 * value's last reader, model.c's `die`) through the best-fit allocator of
 * arena.h; the plan's arena size is the allocation peak. A part of an
 * elided Concat's output lies in it: the output is allocated when its
 * first part is produced.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

/* ---- integer dims ---- */

static ferry_sdim d_konst(void *c, int64_t v) {
  (void)c;
  return v;
}

#define UNK2(a, b) ((a) == RT_UNKNOWN || (b) == RT_UNKNOWN)

static ferry_sdim d_add(void *c, ferry_sdim a, ferry_sdim b) {
  int64_t r;
  (void)c;
  return UNK2(a, b) || __builtin_add_overflow(a, b, &r) ? RT_UNKNOWN : r;
}

static ferry_sdim d_sub(void *c, ferry_sdim a, ferry_sdim b) {
  int64_t r;
  (void)c;
  return UNK2(a, b) || __builtin_sub_overflow(a, b, &r) ? RT_UNKNOWN : r;
}

static ferry_sdim d_mul(void *c, ferry_sdim a, ferry_sdim b) {
  int64_t r;
  (void)c;
  if ((a == 0 && b != RT_UNKNOWN) || (b == 0 && a != RT_UNKNOWN)) return 0;
  return UNK2(a, b) || __builtin_mul_overflow(a, b, &r) ? RT_UNKNOWN : r;
}

static ferry_sdim d_div(void *c, ferry_sdim a, ferry_sdim b) {
  if (UNK2(a, b)) return RT_UNKNOWN;
  if (b == 0) return *(int *)c = 1, RT_UNKNOWN;
  if (b == -1) return a == INT64_MIN + 1 ? RT_UNKNOWN : -a;
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static ferry_sdim d_mod(void *c, ferry_sdim a, ferry_sdim b) {
  if (UNK2(a, b)) return RT_UNKNOWN;
  if (b == 0) return *(int *)c = 1, RT_UNKNOWN;
  if (b == -1) return 0;
  int64_t r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

static ferry_sdim d_min(void *c, ferry_sdim a, ferry_sdim b) {
  (void)c;
  return UNK2(a, b) ? RT_UNKNOWN : a < b ? a : b;
}

static ferry_sdim d_max(void *c, ferry_sdim a, ferry_sdim b) {
  (void)c;
  return UNK2(a, b) ? RT_UNKNOWN : a > b ? a : b;
}

static int d_is_const(void *c, ferry_sdim a, int64_t *v) {
  (void)c;
  if (a == RT_UNKNOWN) return 0;
  *v = a;
  return 1;
}

static ferry_sdim d_fresh(void *c) {
  (void)c;
  return RT_UNKNOWN;
}

void rt_dimops(ferry_dimops *d, int *err) {
  *d = (ferry_dimops){err, d_konst, d_add, d_sub, d_mul, d_div, d_mod, d_min, d_max, d_is_const, d_fresh};
}

/* ---- svals ---- */

#define MIN_SLOTS 8

static void absent(ferry_sval *s) {
  memset(s, 0, sizeof *s);
  s->rank = -1;
  s->n_content = -1;
}

/* A sequence's element shape as rules see it: dims all items agree on,
 * RT_UNKNOWN where they differ, rank -1 when ranks differ or it is empty. */
static void merge_items(const ferry_tview *seq, ferry_sval *s) {
  s->rank = -1;
  for (int i = 0; i < seq->n_items; i++) {
    const ferry_tview *it = &seq->items[i];
    if (it->kind || it->rank < 0 || it->rank > FERRY_MAX_RANK || (i && it->rank != s->rank)) {
      s->rank = -1;
      return;
    }
    for (int d = 0; d < it->rank; d++) s->dims[d] = i && s->dims[d] != it->dims[d] ? RT_UNKNOWN : it->dims[d];
    s->rank = it->rank;
  }
}

/* A sequence or optional: its element as the rules' ferry_sval has it. */
static void container_sval(const ferry_tview *t, ferry_sval *s) {
  s->kind = t->kind;
  s->rank = -1;
  if (t->kind == FERRY_TV_SEQUENCE) {
    merge_items(t, s);
    return;
  }
  if (t->kind != FERRY_TV_OPTIONAL || t->n_items != 1) return;
  const ferry_tview *e = &t->items[0];
  s->elem_kind = e->kind;
  if (e->kind == FERRY_TV_SEQUENCE) {
    merge_items(e, s);
    return;
  }
  s->rank = e->rank;
  for (int i = 0; i < e->rank && i < FERRY_MAX_RANK; i++) s->dims[i] = e->dims[i];
}

static void sval_of_view(const ferry_tview *t, ferry_sval *s) {
  absent(s);
  s->present = 1;
  s->dtype = t->dtype;
  if (t->kind) {
    container_sval(t, s);
    return;
  }
  s->rank = t->rank;
  for (int i = 0; i < t->rank && i < FERRY_MAX_RANK; i++) s->dims[i] = t->dims[i];
}

/* s's content from `n` elements of data (small content dtypes only). */
static void content_from(ferry_sval *s, const void *data, int64_t n) {
  int64_t v[FERRY_MAX_CONTENT];
  s->data = data;
  s->numel_data = n;
  if (!data || !ferry_content_dtype(s->dtype)) return;
  int k = ferry_data_content(s->dtype, data, n, v, FERRY_MAX_CONTENT);
  for (int i = 0; i < k; i++) s->content[i] = v[i];
  s->n_content = k;
}

/* ---- plan-time state ---- */

typedef struct pctx {
  rt_graph *g;
  rt_plan *p;
  int *n_content;           /* per value, -1 unknown */
  int64_t **content;
  const ferry_tview **kdata; /* per value: bundle data (konst or outer konst), or NULL */
  ferry_sval *in, *out;
  ferry_err *err;
} pctx;

static const ferry_tview *root_konst(rt_graph *g, int vi) {
  while (g->values[vi].bv->outer >= 0 && g->parent) {
    vi = g->values[vi].bv->outer;
    g = g->parent;
  }
  return g->values[vi].konst ? &g->vals[vi] : NULL;
}

static int save_content(pctx *c, int vi, const ferry_sval *s) {
  if (s->n_content < 0) return 0;
  c->content[vi] = malloc(((size_t)s->n_content + 1) * sizeof **c->content);
  if (!c->content[vi]) return -1;
  memcpy(c->content[vi], s->content, (size_t)s->n_content * sizeof *s->content);
  c->n_content[vi] = s->n_content;
  return 0;
}

static int oom(pctx *c) { return ferry_fail(c->err, FERRY_E_SYSTEM, "out of memory planning the graph"); }

/* Values known before any node runs: inputs, outer values, bundle data. */
static int seed_values(pctx *c) {
  rt_graph *g = c->g;
  for (int i = 0; i < g->bg->n_values; i++) {
    rt_value *v = &g->values[i];
    rt_vplan *vp = &c->p->v[i];
    vp->offset = SIZE_MAX;
    vp->view.rank = -1;
    c->n_content[i] = -1;
    if (!(v->konst || v->input >= 0 || v->bv->outer >= 0)) continue;
    if (g->vals[i].kind) { /* a sequence or optional: never planned, its readers shaped at run time */
      vp->kind = g->vals[i].kind;
      vp->view.dtype = g->vals[i].dtype;
      continue;
    }
    vp->known = 1;
    vp->view = g->vals[i];
    vp->view.data = NULL;
    vp->bytes = rt_bytes(vp->view.dtype, vp->view.numel);
    if (!(c->kdata[i] = root_konst(g, i))) continue;
    ferry_sval s;
    sval_of_view(c->kdata[i], &s);
    content_from(&s, c->kdata[i]->data, c->kdata[i]->numel);
    if (save_content(c, i, &s)) return oom(c);
  }
  return 0;
}

/* Input vi as the rule sees it at plan time. */
static void plan_sval(pctx *c, int vi, ferry_sval *s) {
  const rt_vplan *vp = &c->p->v[vi];
  sval_of_view(&vp->view, s);
  s->kind = vp->kind;
  if (c->kdata[vi]) s->data = c->kdata[vi]->data, s->numel_data = c->kdata[vi]->numel;
  if (c->n_content[vi] >= 0) {
    memcpy(s->content, c->content[vi], (size_t)c->n_content[vi] * sizeof *s->content);
    s->n_content = c->n_content[vi];
  }
}

/* ---- shaping one node ---- */

typedef struct rule_io {
  ferry_sval *in, *out;
  int n_in, n_out;
} rule_io;

/* Calls the node's rule on io; 0, or the rule's status with msg set. */
static int call_rule(rt_graph *g, int ni, rule_io *io, char *msg, size_t n) {
  const rt_node *nd = &g->nodes[ni];
  int derr = 0;
  ferry_dimops D;
  rt_dimops(&D, &derr);
  for (int k = 0; k < io->n_out; k++) io->out[k].present = nd->bn->outputs[k] >= 0;
  ferry_shape_ctx sc = {.D = &D, .opset = nd->bn->opset, .n_in = io->n_in, .n_out = io->n_out, .in = io->in,
                        .out = io->out, .attr = rt_attr, .node = (void *)&nd->at};
  int rc = nd->op && nd->op->shape ? nd->op->shape(&sc) : FERRY_OK;
  if (!nd->op || !nd->op->shape)
    for (int k = 0; k < io->n_out; k++) io->out[k].rank = -1; /* control flow: the kernel shapes */
  if (rc) snprintf(msg, n, "%s", sc.err[0] ? sc.err : "shape rule failed");
  else if (derr) rc = FERRY_E_INPUT, snprintf(msg, n, "shape arithmetic divides by zero");
  return rc;
}

int rt_shape_node(rt_graph *g, int ni, ferry_sval *out, int n_out_cap, ferry_err *err) {
  const ferry_bnode *bn = g->nodes[ni].bn;
  int n_in = bn->n_inputs > MIN_SLOTS ? bn->n_inputs : MIN_SLOTS;
  ferry_sval *in = malloc((size_t)n_in * sizeof *in);
  char msg[256], lb[300];
  if (!in) return ferry_fail(err, FERRY_E_SYSTEM, "out of memory shaping a node");
  for (int k = 0; k < n_in; k++) absent(&in[k]);
  for (int k = 0; k < bn->n_inputs; k++) {
    if (bn->inputs[k] < 0) continue;
    const ferry_tview *t = &g->vals[bn->inputs[k]];
    sval_of_view(t, &in[k]);
    content_from(&in[k], t->data, t->numel);
  }
  for (int k = 0; k < n_out_cap; k++) absent(&out[k]);
  rule_io io = {in, out, bn->n_inputs, bn->n_outputs};
  int rc = call_rule(g, ni, &io, msg, sizeof msg);
  free(in);
  if (rc) return ferry_fail(err, rc, "%s: %s", rt_node_label(g, ni, lb, sizeof lb), msg);
  return 0;
}

/* Output s of node ni into vp; -1 with err set for an impossible shape. */
static int take_output(pctx *c, int ni, const ferry_sval *s, rt_vplan *vp) {
  char lb[300];
  vp->kind = s->kind;
  vp->view.dtype = s->dtype;
  vp->view.rank = s->rank <= FERRY_MAX_RANK ? s->rank : -1;
  int known = s->kind == FERRY_SV_TENSOR && vp->view.rank >= 0 && ferry_dtype_valid(s->dtype) && s->dtype;
  int64_t numel = 1;
  for (int i = 0; i < vp->view.rank; i++) {
    int64_t d = vp->view.dims[i] = s->dims[i];
    if (d == RT_UNKNOWN) {
      known = 0;
      continue;
    }
    if (d < 0)
      return ferry_fail(c->err, FERRY_E_INPUT, "%s: the shape rule gives dim %d = %lld",
                        rt_node_label(c->g, ni, lb, sizeof lb), i, (long long)d);
    if (__builtin_mul_overflow(numel, d, &numel)) known = 0;
  }
  vp->view.numel = known ? numel : 0;
  vp->bytes = known ? rt_bytes(s->dtype, numel) : 0;
  vp->known = known && vp->bytes != SIZE_MAX;
  return 0;
}

/* 1 when some present input of node ni is not known to the plan. */
static int reads_unknown(pctx *c, const ferry_bnode *bn) {
  for (int k = 0; k < bn->n_inputs; k++)
    if (bn->inputs[k] >= 0 && !c->p->v[bn->inputs[k]].known) return 1;
  return 0;
}

static int plan_node(pctx *c, int ni, rt_step *st) {
  const ferry_bnode *bn = c->g->nodes[ni].bn;
  int n_in = bn->n_inputs > MIN_SLOTS ? bn->n_inputs : MIN_SLOTS;
  int n_out = bn->n_outputs > MIN_SLOTS ? bn->n_outputs : MIN_SLOTS;
  char msg[256], lb[300];
  for (int k = 0; k < n_in; k++) absent(&c->in[k]);
  for (int k = 0; k < n_out; k++) absent(&c->out[k]);
  for (int k = 0; k < bn->n_inputs; k++)
    if (bn->inputs[k] >= 0) plan_sval(c, bn->inputs[k], &c->in[k]);
  rule_io io = {c->in, c->out, bn->n_inputs, bn->n_outputs};
  int unknown_in = reads_unknown(c, bn), rc = call_rule(c->g, ni, &io, msg, sizeof msg);
  if (rc && !unknown_in) return ferry_fail(c->err, rc, "%s: %s", rt_node_label(c->g, ni, lb, sizeof lb), msg);
  st->dynamic |= unknown_in || rc;
  for (int k = 0; k < bn->n_outputs; k++) {
    int vi = bn->outputs[k];
    if (vi < 0 || c->g->values[vi].konst) continue;
    if (rc) continue; /* the rule failed on unknown inputs: shaped at run time */
    if (take_output(c, ni, &c->out[k], &c->p->v[vi])) return c->err->code;
    if (save_content(c, vi, &c->out[k])) return oom(c);
    st->dynamic |= !c->p->v[vi].known;
  }
  c->p->n_dynamic += st->dynamic;
  return 0;
}

/* ---- memory ---- */

static int trim(const int *v, int n) {
  while (n > 0 && v[n - 1] < 0) n--;
  return n;
}

/* The steps: one per node that runs; at_node[i] gets the step of the last
 * running node at or before node i. */
static void list_steps(pctx *c, int *at_node) {
  rt_graph *g = c->g;
  for (int i = 0, last = -1; i < g->bg->n_nodes; i++) {
    const rt_node *nd = &g->nodes[i];
    if (!nd->skip) {
      rt_step *st = &c->p->steps[++last];
      st->node = i;
      st->kernel = nd->kernel;
      st->in = nd->bn->inputs;
      st->out = nd->bn->outputs;
      st->n_in = trim(nd->bn->inputs, nd->bn->n_inputs);
      st->n_out = trim(nd->bn->outputs, nd->bn->n_outputs);
      c->p->n_steps = last + 1;
    }
    at_node[i] = last;
  }
}

/* 1 when value v is produced by a step and freed after one. */
static int freed(const rt_graph *g, const rt_value *v) {
  return v->bv->producer >= 0 && !v->konst && v->die >= 0 && v->die < g->bg->n_nodes;
}

/* Lists, per step, the values produced in this graph that die after it. */
static int plan_frees(pctx *c, const int *at_node) {
  rt_graph *g = c->g;
  int nv = g->bg->n_values, total = 0;
  for (int i = 0; i < nv; i++)
    if (freed(g, &g->values[i]) && at_node[g->values[i].die] >= 0) c->p->steps[at_node[g->values[i].die]].n_free++, total++;
  c->p->frees = malloc(((size_t)total + 1) * sizeof *c->p->frees);
  if (!c->p->frees) return oom(c);
  for (int i = 0, at = 0; i < c->p->n_steps; i++) {
    c->p->steps[i].first_free = at;
    at += c->p->steps[i].n_free;
    c->p->steps[i].n_free = 0;
  }
  for (int i = 0; i < nv; i++) {
    if (!freed(g, &g->values[i]) || at_node[g->values[i].die] < 0) continue;
    rt_step *st = &c->p->steps[at_node[g->values[i].die]];
    c->p->frees[st->first_free + st->n_free++] = i;
  }
  return 0;
}

/* Offsets of the known values: allocate a node's outputs, then free what
 * dies after it. */
static int plan_arena(pctx *c) {
  rt_graph *g = c->g;
  ferry_arena_plan a;
  ferry_arena_plan_init(&a);
  for (int i = 0; i < c->p->n_steps; i++) {
    const rt_step *st = &c->p->steps[i];
    for (int k = 0; k < st->n_out; k++) {
      int vi = st->out[k];
      if (vi < 0 || g->values[vi].konst || !c->p->v[vi].known) continue;
      rt_vplan *vp = &c->p->v[vi], *w = vp->whole ? &c->p->v[vp->whole - 1] : vp;
      if (w->offset == SIZE_MAX) { /* (a whole's later parts find it allocated) */
        w->offset = ferry_arena_alloc(&a, w->bytes);
        c->p->values_bytes += w->bytes;
      }
      if (vp->whole && w->offset != SIZE_MAX) vp->offset = w->offset + vp->part_at;
    }
    for (int k = 0; k < st->n_free; k++) {
      const rt_vplan *vp = &c->p->v[c->p->frees[st->first_free + k]];
      if (vp->offset != SIZE_MAX && !vp->whole) ferry_arena_release(&a, vp->offset, vp->bytes);
    }
  }
  c->p->arena_bytes = a.peak;
  int bad = a.oom;
  ferry_arena_plan_done(&a);
  return bad ? oom(c) : 0;
}

/* ---- plans ---- */

void rt_plan_compact(const rt_graph *g, rt_plan *p, int *at_node, int *step_to, int n_steps) {
  for (int n = 0; n < g->bg->n_nodes; n++)
    if (at_node[n] >= 0) at_node[n] = step_to[at_node[n]];
  p->n_steps = n_steps;
  free(step_to);
}

static void plan_free(rt_plan *p) {
  if (!p) return;
  free(p->sig);
  free(p->v);
  free(p->steps);
  free(p->frees);
  free(p->chains);
  free(p->fused_io);
  free(p);
}

void rt_plans_free(rt_graph *g) {
  for (int i = 0; i < g->n_plans; i++) plan_free(g->plans[i]);
  free(g->plans);
  g->plans = NULL;
  g->n_plans = 0;
}

/* dtype, rank, dims of every input and outer value, into g->sig. */
static int make_sig(const rt_graph *g) {
  int len = 0;
  for (int k = 0; k < g->n_sigv; k++) {
    const ferry_tview *t = &g->vals[g->sigv[k]];
    g->sig[len++] = t->dtype;
    g->sig[len++] = t->rank;
    for (int i = 0; i < t->rank && i < FERRY_MAX_RANK; i++) g->sig[len++] = t->dims[i];
  }
  return len;
}

static void pctx_free(pctx *c, int nv) {
  for (int i = 0; c->content && i < nv; i++) free(c->content[i]);
  free(c->content);
  free(c->n_content);
  free(c->kdata);
  free(c->in);
  free(c->out);
}

static rt_plan *plan_build(rt_graph *g, int n_sig, ferry_err *err) {
  int nv = g->bg->n_values, nn = g->bg->n_nodes;
  int ni = g->max_in > MIN_SLOTS ? g->max_in : MIN_SLOTS, no = g->max_out > MIN_SLOTS ? g->max_out : MIN_SLOTS;
  rt_plan *p = calloc(1, sizeof *p);
  pctx c = {.g = g, .p = p, .err = err};
  c.n_content = calloc((size_t)nv + 1, sizeof *c.n_content);
  c.content = calloc((size_t)nv + 1, sizeof *c.content);
  c.kdata = calloc((size_t)nv + 1, sizeof *c.kdata);
  c.in = malloc((size_t)ni * sizeof *c.in);
  c.out = malloc((size_t)no * sizeof *c.out);
  int *at_node = malloc(((size_t)nn + 1) * sizeof *at_node), rc = 0;
  if (p) p->v = calloc((size_t)nv + 1, sizeof *p->v), p->steps = calloc((size_t)nn + 1, sizeof *p->steps);
  if (p) p->sig = malloc(((size_t)n_sig + 1) * sizeof *p->sig);
  if (!p || !p->v || !p->steps || !p->sig || !at_node || !c.n_content || !c.content || !c.kdata || !c.in || !c.out)
    rc = oom(&c);
  if (!rc) rc = seed_values(&c);
  if (!rc) list_steps(&c, at_node);
  for (int i = 0; !rc && i < p->n_steps; i++) rc = plan_node(&c, p->steps[i].node, &p->steps[i]);
  if (!rc && !g->model->no_fusion && rt_bias_fuse(g, p, at_node)) rc = oom(&c);
  if (!rc && !g->model->no_fusion && rt_chains_fuse(g, p, at_node)) rc = oom(&c);
  if (!rc && !g->model->no_fusion && rt_chains_onto_convs(g, p, at_node)) rc = oom(&c);
  if (!rc && !g->model->no_fusion && rt_concat_elide(g, p, at_node)) rc = oom(&c);
  if (!rc) rc = plan_frees(&c, at_node);
  if (!rc) rc = plan_arena(&c);
  pctx_free(&c, nv);
  free(at_node);
  if (rc) {
    plan_free(p);
    return NULL;
  }
  memcpy(p->sig, g->sig, (size_t)n_sig * sizeof *p->sig);
  p->n_sig = n_sig;
  return p;
}

/* Stores p in the cache, evicting the least recently used plan when full. */
static int cache_plan(rt_graph *g, rt_plan *p) {
  rt_model *m = g->model;
  if (!g->plans && !(g->plans = calloc((size_t)m->max_plans, sizeof *g->plans))) return -1;
  if (g->n_plans < m->max_plans) {
    g->plans[g->n_plans++] = p;
    return 0;
  }
  int old = 0;
  for (int i = 1; i < g->n_plans; i++)
    if (g->plans[i]->used < g->plans[old]->used) old = i;
  plan_free(g->plans[old]);
  g->plans[old] = p;
  return 0;
}

rt_plan *rt_plan_get(rt_graph *g, ferry_err *err) {
  int n_sig = make_sig(g);
  for (int i = 0; i < g->n_plans; i++) {
    rt_plan *p = g->plans[i];
    if (p->n_sig == n_sig && memcmp(p->sig, g->sig, (size_t)n_sig * sizeof *g->sig) == 0) {
      p->used = ++g->model->clock;
      return p;
    }
  }
  rt_plan *p = plan_build(g, n_sig, err);
  if (!p) return NULL;
  if (cache_plan(g, p)) {
    plan_free(p);
    return ferry_fail(err, FERRY_E_SYSTEM, "out of memory planning the graph"), NULL;
  }
  p->used = ++g->model->clock;
  g->model->plans_made++;
  return p;
}
