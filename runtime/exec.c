/*
 * exec.c - running a graph: replays its plan (plan.c) step by step.
 *
 * Per run: the plan of the current input shapes (cached), the arena grown
 * to the plan's size, every planned value's view set (its data at its
 * arena offset), then each step of the plan's flat array (one per node
 * that runs): gather the kernel's input and output views, call the kernel
 * with a ferry_kctx, free what dies after it. A dynamic step (plan.c) first runs its shape rule on the real
 * inputs and gives outputs whose size only now became known a buffer of
 * their own ("heap" values, freed after their last reader); outputs the
 * rule cannot size at all (NonZero, If, Loop) reach the kernel unshaped and
 * it calls set_output.
 *
 * Sequences and optionals (kernel.h) are never planned: each gets a block
 * of its own holding a deep copy of its items (value.c), made by the
 * kernel's set_items, kept like a data-dependent tensor's buffer ("heap")
 * and freed after the value's last reader.
 *
 * The kctx callbacks: scratch (a bump region, reset after each step, kept
 * across the nested steps of a subgraph the kernel runs), set_output,
 * set_items,
 * run_graph (a subgraph is run like the main graph, with its own plans
 * and arena; its outer values are views of the enclosing graphs' current
 * values; its outputs are copied to a double buffer, so they stay valid
 * through the next call too), parallel (the session's thread pool).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

_Alignas(FERRY_ALIGN) char rt_empty_data[FERRY_ALIGN];
#define empty_data rt_empty_data

typedef struct xstep {
  rt_graph *g;
  int node;
  ferry_shape_ctx sc;
  ferry_dimops D;
  int derr;
} xstep;

static void account(rt_model *m, size_t add) {
  m->live += add;
  if (m->live > m->peak) m->peak = m->live;
}

/* ---- frames ---- */

/* Bundle data and outer values into g->vals. */
static void frame_init(rt_graph *g) {
  for (int i = 0; i < g->bg->n_values; i++) {
    const rt_value *v = &g->values[i];
    if (v->konst) rt_konst_view(g->model, v, &g->vals[i]);
    else if (v->bv->outer >= 0 && g->parent) g->vals[i] = g->parent->vals[v->bv->outer];
  }
}

/* Views of the values the plan sized, data in the arena. */
static void frame_plan(rt_graph *g, const rt_plan *p) {
  for (int i = 0; i < g->bg->n_values; i++) {
    const rt_value *v = &g->values[i];
    if (v->konst || v->input >= 0 || v->bv->outer >= 0) continue;
    const rt_vplan *vp = &p->v[i];
    if (vp->known && (vp->offset != SIZE_MAX || !vp->bytes)) { /* (a chain's intermediates have no memory) */
      g->vals[i] = vp->view;
      g->vals[i].data = vp->bytes ? g->arena + vp->offset : empty_data;
    } else {
      memset(&g->vals[i], 0, sizeof g->vals[i]);
      g->vals[i].rank = -1;
    }
  }
}

static int grow_arena(rt_graph *g, size_t bytes, ferry_err *err) {
  if (bytes <= g->arena_cap) return 0;
  ferry_aligned_free(g->arena);
  g->arena_cap = 0;
  if (!(g->arena = ferry_aligned_alloc(bytes)))
    return ferry_fail(err, FERRY_E_SYSTEM, "out of memory: the arena needs %zu bytes", bytes);
  g->arena_cap = bytes;
  return 0;
}

static void free_heap(rt_graph *g, int vi) {
  if (!g->heap[vi]) return;
  ferry_aligned_free(g->heap[vi]);
  g->heap[vi] = NULL;
  g->model->live -= g->heap_bytes[vi];
  g->heap_bytes[vi] = 0;
}

void rt_exec_cleanup(rt_graph *g) {
  if (!g->bg || !g->heap) return;
  for (int i = 0; i < g->bg->n_values; i++) free_heap(g, i);
  if (g->plan) g->model->live -= g->plan->arena_bytes;
  g->plan = NULL;
  g->active = 0;
}

/* ---- kctx callbacks ---- */

static void *k_scratch(ferry_kctx *k, size_t bytes) {
  xstep *x = k->exec;
  return ferry_scratch_get(&x->g->model->scratch, bytes);
}

static int view_shape(ferry_tview *t, int dtype, int rank, const int64_t *dims, size_t *bytes) {
  if (!ferry_dtype_valid(dtype) || !dtype || rank < 0 || rank > FERRY_MAX_RANK) return -1;
  int64_t n = 1;
  for (int i = 0; i < rank; i++)
    if (dims[i] < 0 || __builtin_mul_overflow(n, dims[i], &n)) return -1;
  t->dtype = dtype;
  t->rank = rank;
  if (rank) memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
  t->numel = n;
  t->kind = FERRY_TV_TENSOR;
  t->n_items = 0;
  t->items = NULL;
  *bytes = rt_bytes(dtype, n);
  return *bytes == SIZE_MAX ? -1 : 0;
}

/* A buffer of its own for output k of node ni (view t shaped already). */
static int alloc_output(rt_graph *g, int ni, int k, ferry_tview *t, size_t bytes) {
  int vi = k < g->nodes[ni].bn->n_outputs ? g->nodes[ni].bn->outputs[k] : -1;
  if (vi < 0) { /* an output nobody reads: workspace */
    t->data = ferry_scratch_get(&g->model->scratch, bytes);
    return t->data ? 0 : -1;
  }
  free_heap(g, vi);
  if (!(t->data = g->heap[vi] = ferry_aligned_alloc(bytes))) return -1;
  g->heap_bytes[vi] = bytes;
  account(g->model, bytes);
  g->model->values_bytes += bytes;
  return 0;
}

static int k_set_output(ferry_kctx *k, int i, int dtype, int rank, const int64_t *dims) {
  xstep *x = k->exec;
  size_t bytes;
  if (i < 0 || i >= k->n_out) return ferry_kernel_fail(k, "set_output: no output %d", i);
  ferry_tview *t = &k->out[i];
  if (t->data || t->items) return ferry_kernel_fail(k, "set_output: output %d is shaped already", i);
  if (view_shape(t, dtype, rank, dims, &bytes))
    return ferry_kernel_fail(k, "set_output: output %d gets an invalid dtype or shape", i);
  if (alloc_output(x->g, x->node, i, t, bytes))
    return ferry_kernel_fail(k, "out of memory for output %d (%zu bytes)", i, bytes), FERRY_E_SYSTEM;
  return 0;
}

static int k_set_items(ferry_kctx *k, int i, int kind, int dtype, int n_items, const ferry_tview *items) {
  xstep *x = k->exec;
  if (i < 0 || i >= k->n_out) return ferry_kernel_fail(k, "set_items: no output %d", i);
  ferry_tview *t = &k->out[i], block;
  if (t->data || t->items) return ferry_kernel_fail(k, "set_items: output %d is set already", i);
  if (kind != FERRY_TV_SEQUENCE && kind != FERRY_TV_OPTIONAL)
    return ferry_kernel_fail(k, "set_items: output %d gets kind %d, not a sequence or optional", i, kind);
  ferry_tview v = {.dtype = dtype, .rank = -1, .kind = kind, .n_items = n_items, .items = (ferry_tview *)items};
  size_t bytes = ferry_value_bytes(&v);
  if (bytes == SIZE_MAX) return ferry_kernel_fail(k, "set_items: output %d gets malformed or mixed-dtype items", i);
  if (alloc_output(x->g, x->node, i, &block, bytes ? bytes : FERRY_ALIGN))
    return ferry_kernel_fail(k, "out of memory for output %d (%zu bytes)", i, bytes), FERRY_E_SYSTEM;
  ferry_value_copy(t, &v, block.data);
  return 0;
}

static void k_parallel(ferry_kctx *k, int64_t n, void (*fn)(void *, int64_t, int64_t), void *arg) {
  xstep *x = k->exec;
  ferry_pool_run(x->g->model->pool, n, fn, arg);
}

static int bind_inputs(rt_graph *b, const ferry_tview *in, int n, char *msg, size_t len) {
  if (n != b->bg->n_inputs) return snprintf(msg, len, "the subgraph takes %d inputs, got %d", b->bg->n_inputs, n), -1;
  for (int k = 0; k < n; k++) {
    ferry_tview *t = &b->vals[b->bg->inputs[k]];
    size_t bytes;
    *t = in[k];
    if (in[k].kind) { /* a sequence or optional: the caller's items, checked */
      if (ferry_value_bytes(&in[k]) == SIZE_MAX)
        return snprintf(msg, len, "subgraph input %d is not a valid sequence or optional", k), -1;
      t->rank = -1, t->numel = 0, t->data = NULL;
      if (!t->items) t->items = (ferry_tview *)(void *)empty_data; /* set, with no items */
      continue;
    }
    if (view_shape(t, in[k].dtype, in[k].rank, in[k].dims, &bytes) || (!in[k].data && t->numel))
      return snprintf(msg, len, "subgraph input %d is not a valid tensor", k), -1;
    if (!t->data) t->data = empty_data;
  }
  return 0;
}

static int k_run_graph(ferry_kctx *k, const char *attr, const ferry_tview *in, int n_in, ferry_tview *out,
                       int n_out) {
  xstep *x = k->exec;
  rt_graph *b = rt_subgraph(x->g, x->node, attr);
  ferry_err e = {0};
  if (!b) return ferry_kernel_fail(k, "no subgraph attribute '%s'", attr);
  if (b->active) return ferry_kernel_fail(k, "subgraph '%s' is running already", attr);
  if (n_out > b->bg->n_outputs) return ferry_kernel_fail(k, "the subgraph has %d outputs, not %d", b->bg->n_outputs, n_out);
  if (bind_inputs(b, in, n_in, k->err, sizeof k->err)) return FERRY_E_INPUT;
  int rc = rt_exec(b, &e);
  if (!rc) rc = rt_copy_outputs(b, &b->outbuf[b->flip], &b->outcap[b->flip], out, n_out, &e);
  b->flip ^= 1;
  rt_exec_cleanup(b);
  if (rc) snprintf(k->err, sizeof k->err, "%.255s", e.msg);
  return rc;
}

/* ---- steps ---- */

static void gather_inputs(rt_graph *g, const rt_step *st) {
  for (int k = 0; k < st->n_in; k++) {
    if (st->in[k] >= 0) g->kin[k] = g->vals[st->in[k]];
    else memset(&g->kin[k], 0, sizeof g->kin[k]);
  }
}

static void unshaped(ferry_tview *t, int dtype) {
  memset(t, 0, sizeof *t);
  t->dtype = dtype;
  t->rank = -1;
}

/* The element dtype a value declares (the innermost one of a sequence or
 * optional), 0 if none. */
static int declared_dtype(const ferry_btype *t) {
  while (t->kind != 0 && t->elem) t = t->elem;
  return t->kind == 0 ? t->dtype : 0;
}

/* Output k of a dynamic step from the rule's answer s: 0, -1 out of
 * memory, 1 when the plan had sized it differently. */
static int shape_output(rt_graph *g, const rt_step *st, int k, const ferry_sval *s, ferry_tview *t) {
  int vi = st->out[k];
  if (vi < 0) return unshaped(t, 0), 0; /* unnamed: the kernel may skip it */
  const rt_vplan *vp = &g->plan->v[vi];
  ferry_tview want;
  size_t bytes;
  int64_t dims[FERRY_MAX_RANK];
  for (int i = 0; i < s->rank && i < FERRY_MAX_RANK; i++) dims[i] = s->dims[i];
  int known = s->kind == FERRY_SV_TENSOR && s->rank >= 0 && !view_shape(&want, s->dtype, s->rank, dims, &bytes);
  for (int i = 0; known && i < s->rank; i++) known = s->dims[i] != RT_UNKNOWN;
  if (!known) { /* named: a dtype even when the rule has none (dtype 0 means unnamed) */
    unshaped(t, ferry_dtype_valid(s->dtype) && s->dtype ? s->dtype : declared_dtype(&g->values[vi].bv->type));
    if (s->kind == FERRY_SV_SEQUENCE || s->kind == FERRY_SV_OPTIONAL) t->kind = s->kind; /* set_items makes it */
    return 0;
  }
  if (vp->known) {
    if (vp->view.rank != want.rank || vp->view.dtype != want.dtype ||
        memcmp(vp->view.dims, want.dims, (size_t)want.rank * sizeof *want.dims))
      return 1; /* the plan sized it otherwise, and sized its readers after it */
    *t = g->vals[vi]; /* as planned: its arena range */
    return 0;
  }
  *t = want;
  return alloc_output(g, st->node, k, t, bytes) ? -1 : 0;
}

static int dynamic_outputs(rt_graph *g, const rt_step *st, ferry_err *err) {
  int cap = st->n_out > 8 ? st->n_out : 8;
  ferry_sval *out = malloc((size_t)cap * sizeof *out);
  char lb[300];
  if (!out) return ferry_fail(err, FERRY_E_SYSTEM, "out of memory shaping a node");
  int rc = rt_shape_node(g, st->node, out, cap, err);
  for (int k = 0; k < st->n_out && !rc; k++) {
    int r = shape_output(g, st, k, &out[k], &g->kout[k]);
    if (r < 0) rc = ferry_fail(err, FERRY_E_SYSTEM, "%s: out of memory for output %d", rt_node_label(g, st->node, lb, sizeof lb), k);
    else if (r) rc = ferry_fail(err, FERRY_E_INPUT, "%s: output %d has another shape than planned", rt_node_label(g, st->node, lb, sizeof lb), k);
  }
  free(out);
  return rc;
}

static void static_outputs(rt_graph *g, const rt_step *st) {
  for (int k = 0; k < st->n_out; k++) {
    if (st->out[k] >= 0) g->kout[k] = g->vals[st->out[k]];
    else unshaped(&g->kout[k], 0);
  }
}

/* kctx persist: the node's buffer, (re)allocated when the size changes. */
static void *k_persist(ferry_kctx *k, size_t bytes, int *fresh) {
  xstep *x = k->exec;
  rt_node *nd = &x->g->nodes[x->node];
  *fresh = 0;
  if (nd->persist && nd->persist_bytes == bytes) return nd->persist;
  ferry_aligned_free(nd->persist);
  nd->persist = ferry_aligned_alloc(bytes ? bytes : 1);
  nd->persist_bytes = nd->persist ? bytes : 0;
  *fresh = 1;
  return nd->persist;
}

void rt_exec_persist_free(rt_graph *g) {
  for (int i = 0; g->nodes && g->bg && i < g->bg->n_nodes; i++) {
    ferry_aligned_free(g->nodes[i].persist);
    g->nodes[i].persist = NULL, g->nodes[i].persist_bytes = 0;
  }
}

/* Bit i: input i of the step is bundle data. */
static uint64_t const_inputs(const rt_graph *g, const rt_step *st) {
  uint64_t m = 0;
  for (int i = 0; i < st->n_in && i < 64; i++)
    if (st->in[i] >= 0 && g->values[st->in[i]].konst) m |= (uint64_t)1 << i;
  return m;
}

/* With a host clock: the time of a kernel call, counted on its node. */
static double clock_start(const rt_model *m) { return m->clock_ms ? m->clock_ms(m->clock_user) : 0; }
static void clock_stop(rt_graph *g, const rt_step *st, double t0) {
  const rt_model *m = g->model;
  if (!m->clock_ms) return;
  g->nodes[st->node].ms += m->clock_ms(m->clock_user) - t0;
  g->nodes[st->node].calls++;
}

static void call_chain(rt_graph *g, const rt_step *st) {
  double t0 = clock_start(g->model);
  rt_chain_run(g, st);
  clock_stop(g, st, t0);
}

static int call_kernel(rt_graph *g, const rt_step *st, ferry_err *err) {
  const rt_node *nd = &g->nodes[st->node];
  xstep x = {.g = g, .node = st->node};
  rt_dimops(&x.D, &x.derr);
  x.sc = (ferry_shape_ctx){.D = &x.D, .opset = nd->bn->opset, .attr = rt_attr, .node = (void *)&nd->at};
  ferry_kctx k = {.opset = nd->bn->opset, .n_in = st->n_in, .n_out = st->n_out, .in = g->kin, .out = g->kout,
                  .sctx = &x.sc, .scratch = k_scratch, .set_output = k_set_output, .set_items = k_set_items,
                  .run_graph = k_run_graph,
                  .parallel = k_parallel, .threads = ferry_pool_threads(g->model->pool),
                  .const_in = const_inputs(g, st), .persist = k_persist, .exec = &x};
  rt_post pc;
  if (st->post) { /* a chain fused onto it (chain.c) */
    rt_chain_post_bind(g, st->post, g->kout[0].data, &pc);
    k.post = rt_chain_post, k.post_ctx = &pc;
  }
  char lb[300];
  double t0 = clock_start(g->model);
  int rc = st->kernel(&k);
  if (!rc && st->post && !k.post_done) rt_chain_post_all(g, &pc, g->kout[0].numel);
  clock_stop(g, st, t0);
  if (rc) return ferry_fail(err, rc, "%s: %s", rt_node_label(g, st->node, lb, sizeof lb), k.err[0] ? k.err : "kernel failed");
  for (int i = 0; i < st->n_out; i++) {
    const ferry_tview *o = &g->kout[i];
    if (st->out[i] >= 0 && (o->kind ? !o->items : !o->data && (o->rank < 0 || o->numel)))
      return ferry_fail(err, FERRY_E_INPUT, "%s: the kernel left output %d unset", rt_node_label(g, st->node, lb, sizeof lb), i);
  }
  return 0;
}

static void after_step(rt_graph *g, const rt_step *st) {
  for (int k = 0; k < st->n_out; k++) {
    int vi = st->out[k];
    if (vi < 0) continue;
    g->vals[vi] = g->kout[k];
    if (!g->vals[vi].data && !g->vals[vi].kind) g->vals[vi].data = empty_data;
  }
  for (int k = 0; k < st->n_free; k++) free_heap(g, g->plan->frees[st->first_free + k]);
}

/* A sequence or optional reaching an op that takes tensors only (a
 * malformed model): an error, not a kernel reading a view without data. */
static int tensors_wanted(rt_graph *g, const rt_step *st, ferry_err *err) {
  const ferry_opdef *op = g->nodes[st->node].op;
  char lb[300];
  if (!op || (op->flags & (FERRY_OPF_SEQUENCE | FERRY_OPF_CONTROL)) || !strcmp(op->name, "Identity")) return 0;
  for (int k = 0; k < st->n_in; k++)
    if (g->kin[k].kind)
      return ferry_fail(err, FERRY_E_INPUT, "%s: input %d is a sequence or optional, the op takes tensors",
                        rt_node_label(g, st->node, lb, sizeof lb), k);
  return 0;
}

static int run_step(rt_graph *g, const rt_step *st, ferry_err *err) {
  char lb[300];
  if (!st->kernel) return ferry_fail(err, FERRY_E_INPUT, "%s: no CPU kernel for this op yet", rt_node_label(g, st->node, lb, sizeof lb));
  size_t mark = ferry_scratch_mark(&g->model->scratch);
  int rc = 0;
  gather_inputs(g, st);
  if (st->dynamic) rc = tensors_wanted(g, st, err); /* only dynamic steps can read sequences */
  if (st->dynamic && !rc) rc = dynamic_outputs(g, st, err);
  else static_outputs(g, st);
  if (!rc && st->chain) call_chain(g, st);
  else if (!rc) rc = call_kernel(g, st, err);
  if (!rc) after_step(g, st);
  ferry_scratch_reset(&g->model->scratch, mark);
  return rc;
}

int rt_exec(rt_graph *g, ferry_err *err) {
  frame_init(g);
  rt_plan *p = rt_plan_get(g, err);
  if (!p) return err->code;
  int rc = grow_arena(g, p->arena_bytes, err);
  if (rc) return rc;
  g->plan = p;
  g->active = 1;
  account(g->model, p->arena_bytes);
  g->model->values_bytes += p->values_bytes;
  frame_plan(g, p);
  for (int i = 0; i < p->n_steps && !rc; i++) rc = run_step(g, &p->steps[i], err);
  return rc;
}

/* ---- outputs ---- */

int rt_copy_outputs(rt_graph *g, char **buf, size_t *cap, ferry_tview *out, int n, ferry_err *err) {
  size_t total = 0;
  for (int k = 0; k < n; k++) {
    const ferry_tview *t = &g->vals[g->bg->outputs[k]];
    const char *name = g->values[g->bg->outputs[k]].bv->name.s;
    if (t->kind ? !t->items : !t->data || t->rank < 0)
      return ferry_fail(err, FERRY_E_INPUT, "output '%s' was not computed", name);
    size_t b = t->kind ? ferry_value_bytes(t) : ferry_align_up(rt_bytes(t->dtype, t->numel));
    if (b == SIZE_MAX || total > SIZE_MAX - b - FERRY_ALIGN)
      return ferry_fail(err, FERRY_E_INPUT, "output '%s' is not a valid value", name);
    total += b;
  }
  if (total > *cap) {
    ferry_aligned_free(*buf);
    *cap = 0;
    if (!(*buf = ferry_aligned_alloc(total)))
      return ferry_fail(err, FERRY_E_SYSTEM, "out of memory for the outputs (%zu bytes)", total);
    *cap = total;
  }
  for (size_t k = 0, at = 0; k < (size_t)n; k++) {
    const ferry_tview *t = &g->vals[g->bg->outputs[k]];
    if (t->kind) {
      ferry_value_copy(&out[k], t, *buf ? *buf + at : NULL); /* NULL: nothing to copy */
      at += ferry_value_bytes(t);
      continue;
    }
    size_t bytes = rt_bytes(t->dtype, t->numel);
    out[k] = *t;
    out[k].data = bytes ? *buf + at : empty_data;
    if (bytes) memcpy(out[k].data, t->data, bytes);
    at += ferry_align_up(bytes);
  }
  return 0;
}
