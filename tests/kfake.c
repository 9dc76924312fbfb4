/*
 * kfake.c - see kfake.h.
 */
#include "kfake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *own(kf_call *c, size_t n) {
  void *p = calloc(1, n ? n : 1);
  if (c->n_owned < 256) c->owned[c->n_owned++] = p;
  return p;
}

static int64_t numel(int rank, const int64_t *dims) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= dims[i];
  return n;
}

static size_t bytes(int dtype, int64_t n) {
  int s = ferry_dtype_size(dtype);
  return (size_t)n * (size_t)(s > 0 ? s : 1);
}

static int get_attr(void *node, const char *name, ferry_attrv *a) {
  kf_call *c = node;
  for (int i = 0; i < c->n_attrs; i++)
    if (strcmp(c->attrs[i].name, name) == 0) {
      *a = c->attrs[i].v;
      return 1;
    }
  return 0;
}

static void *scratch(ferry_kctx *k, size_t n) {
  kf_call *c = k->exec;
  return own(c, n + 64);
}

static int set_output(ferry_kctx *k, int i, int dtype, int rank, const int64_t *dims) {
  kf_call *c = k->exec;
  ferry_tview *o = &c->out[i];
  o->dtype = dtype;
  o->rank = rank;
  if (rank > 0) memcpy(o->dims, dims, (size_t)rank * sizeof *dims);
  o->numel = numel(rank, dims);
  o->data = own(c, bytes(dtype, o->numel));
  return 0;
}

static void parallel(ferry_kctx *k, int64_t n, void (*fn)(void *, int64_t, int64_t), void *arg) {
  (void)k;
  if (n > 0) fn(arg, 0, n);
}

static int no_graph(ferry_kctx *k, const char *attr, const ferry_tview *in, int n_in, ferry_tview *out, int n_out) {
  (void)in, (void)n_in, (void)out, (void)n_out;
  return ferry_kernel_fail(k, "kfake: no subgraph '%s' in a unit test", attr);
}

static int no_items(ferry_kctx *k, int i, int kind, int dtype, int n_items, const ferry_tview *items) {
  (void)kind, (void)dtype, (void)n_items, (void)items;
  return ferry_kernel_fail(k, "kfake: output %d cannot be a sequence or optional in a unit test", i);
}

void kf_init(kf_call *c, int opset) {
  memset(c, 0, sizeof *c);
  c->s.opset = opset;
  c->s.attr = get_attr;
  c->s.node = c;
  c->k.opset = opset;
  c->k.in = c->in;
  c->k.out = c->out;
  c->k.sctx = &c->s;
  c->k.scratch = scratch;
  c->k.set_output = set_output;
  c->k.run_graph = no_graph;
  c->k.set_items = no_items;
  c->k.parallel = parallel;
  c->k.exec = c;
}

void kf_in(kf_call *c, int dtype, int rank, const int64_t *dims, const void *data) {
  ferry_tview *t = &c->in[c->k.n_in++];
  t->dtype = dtype;
  t->rank = rank;
  if (rank) memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
  t->numel = numel(rank, dims);
  if (!dtype) return;
  t->data = own(c, bytes(dtype, t->numel));
  if (data) memcpy(t->data, data, bytes(dtype, t->numel));
}

void kf_out(kf_call *c, int dtype, int rank, const int64_t *dims) {
  int i = c->k.n_out++;
  set_output(&c->k, i, dtype, rank, dims);
  memset(c->out[i].data, 0xab, bytes(dtype, c->out[i].numel));
}

void kf_out_unknown(kf_call *c) {
  ferry_tview *t = &c->out[c->k.n_out++];
  t->rank = -1;
}

static kf_attr *add(kf_call *c, const char *name, int type) {
  kf_attr *a = &c->attrs[c->n_attrs++];
  a->name = name;
  memset(&a->v, 0, sizeof a->v);
  a->v.type = type;
  return a;
}

void kf_attr_int(kf_call *c, const char *name, int64_t v) { add(c, name, 2)->v.i = v; }
void kf_attr_float(kf_call *c, const char *name, float v) { add(c, name, 1)->v.f = v; }
void kf_attr_string(kf_call *c, const char *name, const char *s) {
  kf_attr *a = add(c, name, 3);
  a->v.s = s;
  a->v.slen = (int64_t)strlen(s);
}
/* Lists are copied: callers often pass compound literals that die first. */
void kf_attr_ints(kf_call *c, const char *name, int n, const int64_t *v) {
  kf_attr *a = add(c, name, 7);
  int64_t *copy = own(c, (size_t)n * sizeof *v);
  if (n) memcpy(copy, v, (size_t)n * sizeof *v);
  a->v.n = n;
  a->v.ints = copy;
}
void kf_attr_floats(kf_call *c, const char *name, int n, const float *v) {
  kf_attr *a = add(c, name, 6);
  float *copy = own(c, (size_t)n * sizeof *v);
  if (n) memcpy(copy, v, (size_t)n * sizeof *v);
  a->v.n = n;
  a->v.floats = copy;
}

int kf_run(kf_call *c, ferry_kernel_fn fn) { return fn(&c->k); }

void kf_free(kf_call *c) {
  for (int i = 0; i < c->n_owned; i++) free(c->owned[i]);
  c->n_owned = 0;
}

void kf_chunky_parallel(ferry_kctx *k, int64_t n, void (*fn)(void *, int64_t, int64_t), void *arg) {
  (void)k;
  int64_t cuts[8], nc = 0, step = n / 5 + 1;
  for (int64_t b = 0; b < n && nc < 7; b += step + nc) cuts[nc++] = b;
  cuts[nc] = n;
  for (int64_t i = nc - 1; i >= 0; i--)
    if (cuts[i] < cuts[i + 1]) fn(arg, cuts[i], cuts[i + 1]);
}
