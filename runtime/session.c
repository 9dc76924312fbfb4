/*
 * session.c - the public API of ferry.h over the runtime model (model.c),
 * plans (plan.c) and the executor (exec.c).
 *
 * A session owns the opened bundle, the runtime model, the thread pool and
 * the output buffer. Opening describes the main graph's inputs and outputs
 * once (symbolic dims by name or as expression text). A run checks the
 * inputs against their declarations, binding each symbol from the first
 * input that has it (a later input with another value is an error naming
 * both), runs the main graph and copies its outputs into the session's
 * buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

struct ferry_session {
  ferry_bundle *b;
  rt_model m;
  int n_in, n_out;
  int *in_values;              /* main-graph value of each input */
  ferry_io_info *in_info, *out_info;
  int64_t *binding;            /* per symbol, FERRY_DIM_UNBOUND when unbound */
  int *bound_by;               /* the input that bound it */
  char *outbuf;
  size_t outcap;
  size_t peak;
  ferry_run_stats last;
};

static rt_graph *main_graph(const ferry_session *s) { return &s->m.graphs[0]; }

/* ---- describing inputs and outputs ---- */

#define TEXT_STACK 16
#define TEXT_LEN 96

/* Infix text of a dim program ("2*seq + 1" reads "((2 * seq) + 1)" here). */
static void dim_text(const ferry_bundle *b, const ferry_bdim *d, char *out, size_t n) {
  char st[TEXT_STACK][TEXT_LEN], tmp[TEXT_LEN];
  static const char *ops[] = {"", "", "", "+", "-", "*", "/", "%", "min", "max"};
  int sp = 0;
  for (int i = 0; i < d->n; i++) {
    const ferry_bdim_op *o = &d->ops[i];
    if (o->op == FERRY_DOP_CONST || o->op == FERRY_DOP_SYM) {
      if (sp == TEXT_STACK) goto fail;
      if (o->op == FERRY_DOP_CONST) snprintf(st[sp++], TEXT_LEN, "%lld", (long long)o->arg);
      else snprintf(st[sp++], TEXT_LEN, "%s", ferry_bundle_symbol(b, (int)o->arg).s);
      continue;
    }
    if (sp < 2 || o->op < FERRY_DOP_ADD || o->op > FERRY_DOP_MAX) goto fail;
    if (o->op >= FERRY_DOP_MIN) snprintf(tmp, sizeof tmp, "%s(%.40s, %.40s)", ops[o->op], st[sp - 2], st[sp - 1]);
    else snprintf(tmp, sizeof tmp, "(%.40s %s %.40s)", st[sp - 2], ops[o->op], st[sp - 1]);
    memcpy(st[sp - 2], tmp, TEXT_LEN);
    sp--;
  }
  if (sp != 1) goto fail;
  size_t len = strlen(st[0]);
  if (st[0][0] == '(' && st[0][len - 1] == ')') st[0][len - 1] = 0, memmove(st[0], st[0] + 1, len - 1);
  snprintf(out, n, "%s", st[0]);
  return;
fail:
  snprintf(out, n, "?");
}

/* The element dtype of a sequence or optional type (innermost), 0 if none. */
static int elem_dtype(const ferry_btype *t) {
  while ((t->kind == 1 || t->kind == 2) && t->elem) t = t->elem;
  return t->kind == 0 ? t->dtype : 0;
}

static int describe(const ferry_session *s, const ferry_bvalue *v, ferry_io_info *io) {
  memset(io, 0, sizeof *io);
  io->name = v->name.s;
  io->kind = v->type.kind;
  io->dtype = v->type.kind == 0 ? v->type.dtype : elem_dtype(&v->type);
  io->rank = v->type.kind == 0 && v->type.rank <= FERRY_MAX_RANK ? v->type.rank : -1;
  for (int i = 0; i < io->rank; i++) {
    const ferry_bdim *d = &v->type.dims[i];
    char text[TEXT_LEN];
    if (d->n == 1 && d->ops[0].op == FERRY_DOP_CONST) {
      io->dims[i] = d->ops[0].arg;
      continue;
    }
    io->dims[i] = -1;
    dim_text(s->b, d, text, sizeof text);
    size_t len = strlen(text) + 1;
    char *p = malloc(len);
    if (!p) return -1;
    io->dim_names[i] = memcpy(p, text, len);
  }
  return 0;
}

static void free_infos(ferry_io_info *io, int n) {
  for (int k = 0; io && k < n; k++)
    for (int i = 0; i < io[k].rank; i++) free((char *)io[k].dim_names[i]);
  free(io);
}

static int describe_io(ferry_session *s, ferry_err *err) {
  const ferry_bgraph *g = main_graph(s)->bg;
  s->in_values = malloc(((size_t)g->n_inputs + 1) * sizeof *s->in_values);
  s->in_info = calloc((size_t)g->n_inputs + 1, sizeof *s->in_info);
  s->out_info = calloc((size_t)g->n_outputs + 1, sizeof *s->out_info);
  int ns = ferry_bundle_n_symbols(s->b);
  s->binding = malloc(((size_t)ns + 1) * sizeof *s->binding);
  s->bound_by = malloc(((size_t)ns + 1) * sizeof *s->bound_by);
  if (!s->in_values || !s->in_info || !s->out_info || !s->binding || !s->bound_by) goto oom;
  for (int k = 0; k < g->n_inputs; k++) {
    if (main_graph(s)->values[g->inputs[k]].konst) continue; /* an initializer: not an input */
    s->in_values[s->n_in] = g->inputs[k];
    if (describe(s, &g->values[g->inputs[k]], &s->in_info[s->n_in++])) goto oom;
  }
  for (int k = 0; k < g->n_outputs; k++, s->n_out++)
    if (describe(s, &g->values[g->outputs[k]], &s->out_info[k])) goto oom;
  return 0;
oom:
  return ferry_fail(err, FERRY_E_SYSTEM, "out of memory opening the model");
}

/* ---- opening and closing ---- */

ferry_session *ferry_session_open(const void *buf, size_t len, const ferry_session_opts *opts, ferry_err *err) {
  ferry_err local;
  if (!err) err = &local;
  ferry_bundle_options bo = {0};
  if (opts) bo.inflate = opts->inflate, bo.user = opts->inflate_user, bo.skip_data_crc = opts->skip_data_crc;
  ferry_session *s = calloc(1, sizeof *s);
  if (!s) return ferry_fail(err, FERRY_E_SYSTEM, "out of memory opening the model"), NULL;
  if (!(s->b = ferry_bundle_open_with(buf, len, &bo, err))) {
    free(s);
    return NULL;
  }
  int rc = rt_model_init(&s->m, s->b, opts, err);
  if (!rc) rc = describe_io(s, err);
  if (rc) {
    ferry_session_close(s);
    return NULL;
  }
  s->m.pool = ferry_pool_new(opts ? opts->threads : 1);
  return s;
}

int ferry_session_add_shard(ferry_session *s, int index, const void *buf, size_t len, ferry_err *err) {
  return ferry_bundle_add_shard(s->b, index, buf, len, err);
}

int ferry_session_n_shards(const ferry_session *s) { return ferry_bundle_n_shards(s->b); }
int ferry_session_missing_shard(const ferry_session *s) { return ferry_bundle_missing_shard(s->b); }
const ferry_bundle *ferry_session_bundle(const ferry_session *s) { return s->b; }

void ferry_session_close(ferry_session *s) {
  if (!s) return;
  rt_model_done(&s->m);
  ferry_bundle_free(s->b);
  free_infos(s->in_info, s->n_in);
  free_infos(s->out_info, s->n_out);
  free(s->in_values);
  free(s->binding);
  free(s->bound_by);
  ferry_aligned_free(s->outbuf);
  free(s);
}

int ferry_session_n_inputs(const ferry_session *s) { return s->n_in; }
int ferry_session_n_outputs(const ferry_session *s) { return s->n_out; }

const char *ferry_session_input_name(const ferry_session *s, int i) {
  return i >= 0 && i < s->n_in ? s->in_info[i].name : NULL;
}

const char *ferry_session_output_name(const ferry_session *s, int i) {
  return i >= 0 && i < s->n_out ? s->out_info[i].name : NULL;
}

const ferry_io_info *ferry_session_input_info(const ferry_session *s, int i) {
  return i >= 0 && i < s->n_in ? &s->in_info[i] : NULL;
}

const ferry_io_info *ferry_session_output_info(const ferry_session *s, int i) {
  return i >= 0 && i < s->n_out ? &s->out_info[i] : NULL;
}

/* ---- checking inputs ---- */

static const char *kind_name(int kind) {
  static const char *names[] = {"a tensor", "a sequence", "an optional", "a map", "a sparse tensor"};
  return kind >= 0 && kind < 5 ? names[kind] : "of an unknown kind";
}

/* 1 when t's kind and its items' kinds are those type ty declares. */
static int kinds_match(const ferry_tview *t, const ferry_btype *ty) {
  if (ty->kind > 2) return 1; /* not declared */
  if (t->kind != ty->kind) return 0;
  for (int k = 0; t->kind && ty->elem && k < t->n_items; k++)
    if (!kinds_match(&t->items[k], ty->elem)) return 0;
  return 1;
}

/* A sequence or optional input: its kind, element dtype and items. */
static int check_container(const ferry_session *s, int i, const ferry_tview *t, ferry_err *err) {
  const ferry_bvalue *v = &main_graph(s)->bg->values[s->in_values[i]];
  int want = elem_dtype(&v->type), have = t->dtype;
  for (int k = 0; k < t->n_items && !have && t->items; k++) have = t->items[k].dtype;
  if (ferry_value_bytes(t) == SIZE_MAX)
    return ferry_fail(err, FERRY_E_INPUT, "input '%s' is not a well-formed %s (items, dtypes, shapes, data)", v->name.s,
                      t->kind == 1 ? "sequence" : "optional");
  if (!kinds_match(t, &v->type))
    return ferry_fail(err, FERRY_E_INPUT, "input '%s' holds items of another kind than the model declares", v->name.s);
  if (want && have && want != have)
    return ferry_fail(err, FERRY_E_INPUT, "input '%s' holds %s, the model wants %s", v->name.s, ferry_dtype_name(have),
                      ferry_dtype_name(want));
  return 0;
}

static int check_kind(const ferry_session *s, int i, const ferry_tview *t, ferry_err *err) {
  const ferry_bvalue *v = &main_graph(s)->bg->values[s->in_values[i]];
  const char *name = v->name.s;
  if (v->type.kind > 2 || t->kind < 0 || t->kind > 2)
    return ferry_fail(err, FERRY_E_INPUT, "input '%s' is %s: the runtime takes tensors, sequences and optionals", name,
                      kind_name(v->type.kind > 2 ? v->type.kind : t->kind));
  if (t->kind != v->type.kind)
    return ferry_fail(err, FERRY_E_INPUT, "input '%s' is %s, the model wants %s", name, kind_name(t->kind),
                      kind_name(v->type.kind));
  if (t->kind) return check_container(s, i, t, err);
  if (!ferry_dtype_valid(t->dtype) || !t->dtype || rt_bytes(t->dtype, 0) == SIZE_MAX)
    return ferry_fail(err, FERRY_E_INPUT, "input '%s' has dtype %s, which the runtime cannot take", name,
                      ferry_dtype_name(t->dtype));
  if (v->type.dtype && v->type.dtype != t->dtype)
    return ferry_fail(err, FERRY_E_INPUT, "input '%s' is %s, the model wants %s", name, ferry_dtype_name(t->dtype),
                      ferry_dtype_name(v->type.dtype));
  if (t->rank < 0 || t->rank > FERRY_MAX_RANK)
    return ferry_fail(err, FERRY_E_INPUT, "input '%s' has rank %d", name, t->rank);
  if (v->type.rank >= 0 && v->type.rank != t->rank)
    return ferry_fail(err, FERRY_E_INPUT, "input '%s' has rank %d, the model wants %d", name, t->rank, v->type.rank);
  for (int d = 0; d < t->rank; d++)
    if (t->dims[d] < 0) return ferry_fail(err, FERRY_E_INPUT, "input '%s': dim %d is %lld", name, d, (long long)t->dims[d]);
  return 0;
}

/* Binds single-symbol dims of input i, checks constant ones. */
static int bind_dims(ferry_session *s, int i, const ferry_tview *t, ferry_err *err) {
  const ferry_bvalue *v = &main_graph(s)->bg->values[s->in_values[i]];
  for (int d = 0; !t->kind && d < t->rank && v->type.rank >= 0; d++) {
    const ferry_bdim *dm = &v->type.dims[d];
    if (dm->n != 1) continue;
    int64_t a = dm->ops[0].arg, x = t->dims[d];
    if (dm->ops[0].op == FERRY_DOP_CONST && a != x)
      return ferry_fail(err, FERRY_E_INPUT, "input '%s': dim %d is %lld, the model wants %lld", v->name.s, d,
                        (long long)x, (long long)a);
    if (dm->ops[0].op != FERRY_DOP_SYM) continue;
    if (s->binding[a] == FERRY_DIM_UNBOUND) {
      s->binding[a] = x;
      s->bound_by[a] = i;
    } else if (s->binding[a] != x) {
      return ferry_fail(err, FERRY_E_INPUT, "input '%s': dim %d is %lld, but '%s' is %lld (from input '%s')",
                        v->name.s, d, (long long)x, ferry_bundle_symbol(s->b, (int)a).s,
                        (long long)s->binding[a], s->in_info[s->bound_by[a]].name);
    }
  }
  return 0;
}

/* Checks dims declared as expressions once every symbol is bound. */
static int check_exprs(ferry_session *s, int i, const ferry_tview *t, ferry_err *err) {
  const ferry_bvalue *v = &main_graph(s)->bg->values[s->in_values[i]];
  int ns = ferry_bundle_n_symbols(s->b);
  for (int d = 0; !t->kind && d < t->rank && v->type.rank >= 0; d++) {
    const ferry_bdim *dm = &v->type.dims[d];
    int64_t want;
    if (dm->n == 1 || ferry_bundle_eval_dim(s->b, dm, s->binding, ns, &want) || want == t->dims[d]) continue;
    return ferry_fail(err, FERRY_E_INPUT, "input '%s': dim %d is %lld, the model wants %s = %lld", v->name.s, d,
                      (long long)t->dims[d], s->in_info[i].dim_names[d], (long long)want);
  }
  return 0;
}

/* Puts the caller's inputs into the main graph's values. */
static int set_inputs(ferry_session *s, const ferry_tview *in, ferry_err *err) {
  rt_graph *g = main_graph(s);
  int ns = ferry_bundle_n_symbols(s->b), rc = 0;
  for (int k = 0; k < ns; k++) s->binding[k] = FERRY_DIM_UNBOUND;
  for (int i = 0; i < s->n_in && !rc; i++) rc = check_kind(s, i, &in[i], err);
  for (int i = 0; i < s->n_in && !rc; i++) rc = bind_dims(s, i, &in[i], err);
  for (int i = 0; i < s->n_in && !rc; i++) rc = check_exprs(s, i, &in[i], err);
  for (int i = 0; i < s->n_in && !rc; i++) {
    ferry_tview *t = &g->vals[s->in_values[i]];
    *t = in[i];
    if (t->kind) { /* the caller's items, checked by check_kind */
      const ferry_bvalue *v = &g->bg->values[s->in_values[i]];
      for (int k = 0; k < t->n_items && !t->dtype; k++) t->dtype = t->items[k].dtype;
      if (!t->dtype) t->dtype = elem_dtype(&v->type);
      t->rank = -1, t->numel = 0, t->data = NULL;
      if (!t->items) t->items = (ferry_tview *)(void *)rt_empty_data; /* set, with no items */
      continue;
    }
    t->numel = 1;
    for (int d = 0; d < t->rank; d++)
      if (__builtin_mul_overflow(t->numel, t->dims[d], &t->numel) || rt_bytes(t->dtype, t->numel) == SIZE_MAX)
        return ferry_fail(err, FERRY_E_INPUT, "input '%s' is too large", s->in_info[i].name);
    if (!t->data && t->numel) return ferry_fail(err, FERRY_E_INPUT, "input '%s' has no data", s->in_info[i].name);
    if (!t->data) t->data = rt_empty_data;
  }
  return rc;
}

/* ---- running ---- */

static int ready(const ferry_session *s, ferry_err *err) {
  int k = ferry_bundle_missing_shard(s->b);
  if (k >= 0) return ferry_fail(err, FERRY_E_INPUT, "shard %d of the bundle is missing", k);
  if (s->m.n_missing)
    return ferry_fail(err, FERRY_E_INPUT, "no CPU kernel yet for %d op%s: %s", s->m.n_missing,
                      s->m.n_missing == 1 ? "" : "s", s->m.missing);
  return 0;
}

static void note_stats(ferry_session *s) {
  rt_graph *g = main_graph(s);
  if (s->m.peak > s->peak) s->peak = s->m.peak;
  s->last.peak_bytes = s->m.peak;
  s->last.values_bytes = s->m.values_bytes;
  s->last.scratch_bytes = s->m.scratch.high;
  s->last.persist_bytes = 0;
  for (int gi = 0; gi < s->m.n_graphs; gi++)
    for (int ni = 0; ni < s->m.graphs[gi].bg->n_nodes; ni++) s->last.persist_bytes += s->m.graphs[gi].nodes[ni].persist_bytes;
  s->last.plans = s->m.plans_made;
  s->last.dynamic_steps = g->plan ? g->plan->n_dynamic : 0;
  s->last.steps = g->plan ? g->plan->n_steps : 0;
  s->last.threads = ferry_pool_threads(s->m.pool);
}

int ferry_session_run(ferry_session *s, const ferry_tview *inputs, int n, ferry_tview *outputs, ferry_err *err) {
  ferry_err local;
  if (!err) err = &local;
  rt_graph *g = main_graph(s);
  if (n != s->n_in) return ferry_fail(err, FERRY_E_INPUT, "the model takes %d input%s, got %d", s->n_in, s->n_in == 1 ? "" : "s", n);
  int rc = set_inputs(s, inputs, err);
  if (!rc) rc = ready(s, err);
  if (rc) return rc;
  s->m.live = s->m.peak = s->m.values_bytes = 0;
  rc = rt_exec(g, err);
  if (!rc) rc = rt_copy_outputs(g, &s->outbuf, &s->outcap, outputs, s->n_out, err);
  note_stats(s);
  rt_exec_cleanup(g);
  return rc;
}

size_t ferry_session_peak_bytes(const ferry_session *s) { return s->peak; }

void ferry_session_stats(const ferry_session *s, ferry_run_stats *st) { *st = s->last; }

int ferry_session_profile(const ferry_session *s, ferry_node_time *t, int cap) {
  int n = 0;
  if (!s->m.clock_ms) return 0;
  for (int gi = 0; gi < s->m.n_graphs; gi++) {
    const rt_graph *g = &s->m.graphs[gi];
    for (int ni = 0; ni < g->bg->n_nodes; ni++) {
      const rt_node *nd = &g->nodes[ni];
      if (!nd->calls) continue;
      if (n < cap)
        t[n] = (ferry_node_time){nd->bn->op.s, nd->bn->domain.s, nd->bn->name.s, gi, ni, nd->calls, nd->ms};
      n++;
    }
  }
  return n;
}

void ferry_session_profile_reset(ferry_session *s) {
  for (int gi = 0; gi < s->m.n_graphs; gi++) {
    rt_graph *g = &s->m.graphs[gi];
    for (int ni = 0; ni < g->bg->n_nodes; ni++) g->nodes[ni].calls = 0, g->nodes[ni].ms = 0;
  }
}
