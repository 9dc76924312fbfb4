/*
 * rewrite.c - the IR editing session of rewrite.h.
 *
 * Parts, in order: subgraph iteration; use counting (recursive: a capture
 * counts only when the subgraph uses it); queries; redirecting uses from
 * one value to another through nested subgraphs (checked first, then
 * done, so a refused replace changes nothing); node edits; weights and
 * names; the end of a session (compaction, release, scrubbing).
 */
#include "rewrite.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int nomem(ferry_rw *rw) {
  if (!rw->status) rw->status = ferry_fail(rw->err, FERRY_E_SYSTEM, "out of memory");
  return FERRY_E_SYSTEM;
}
#define NOMEM(rw) nomem(rw)

/* ---- subgraphs of a node ---- */

static int attr_graph_count(const ferry_attr *a) {
  if (a->type == FERRY_A_GRAPH) return a->g ? 1 : 0;
  if (a->type == FERRY_A_GRAPHS && a->graphs) return a->n;
  return 0;
}

static ferry_graph *attr_graph(const ferry_attr *a, int k) {
  return a->type == FERRY_A_GRAPH ? a->g : a->graphs[k];
}

int ferry_node_graph_count(const ferry_node *n) {
  int c = 0;
  for (int a = 0; a < n->n_attrs; a++) c += attr_graph_count(&n->attrs[a]);
  return c;
}

ferry_graph *ferry_node_graph(const ferry_node *n, int j) {
  for (int a = 0; a < n->n_attrs; a++) {
    int c = attr_graph_count(&n->attrs[a]);
    if (j < c) return attr_graph(&n->attrs[a], j);
    j -= c;
  }
  return NULL;
}

/* Iterates the subgraphs S of node N: FOR_SUBGRAPHS(N, S) { ... } */
#define FOR_SUBGRAPHS(N, S)                                           \
  for (int a_ = 0; a_ < (N)->n_attrs; a_++)                           \
    for (int k_ = 0; k_ < attr_graph_count(&(N)->attrs[a_]); k_++)    \
      for (ferry_graph *S = attr_graph(&(N)->attrs[a_], k_); S; S = NULL)

/* ---- use counts ---- */

static int count_captures(const ferry_graph *s, int *parent_uses, int sign);

/* uses[v] for every value of g; nodes marked in `dead` (may be NULL) do not
 * count. -1 when out of memory. */
static int count_uses(const ferry_graph *g, int *uses, const unsigned char *dead) {
  memset(uses, 0, (size_t)g->n_values * sizeof *uses);
  for (int i = 0; i < g->n_nodes; i++) {
    const ferry_node *n = &g->nodes[i];
    if (dead && dead[i]) continue;
    for (int k = 0; k < n->n_inputs; k++)
      if (n->inputs[k] >= 0) uses[n->inputs[k]]++;
    FOR_SUBGRAPHS(n, s) if (count_captures(s, uses, 1)) return -1;
  }
  for (int k = 0; k < g->n_outputs; k++) uses[g->outputs[k]]++;
  return 0;
}

/* Adds `sign` to parent_uses[p] for each value p that subgraph s uses. */
static int count_captures(const ferry_graph *s, int *parent_uses, int sign) {
  int *u = malloc(((size_t)s->n_values + 1) * sizeof *u);
  if (!u || count_uses(s, u, NULL)) {
    free(u);
    return -1;
  }
  for (int c = 0; c < s->n_values; c++)
    if (s->values[c].outer >= 0 && u[c] > 0) parent_uses[s->values[c].outer] += sign;
  free(u);
  return 0;
}

static int grow_bytes(void **p, int *cap, int need, size_t elem) {
  if (need <= *cap) return 0;
  int ncap = *cap ? *cap : 64;
  while (ncap < need) ncap *= 2;
  void *q = realloc(*p, (size_t)ncap * elem);
  if (!q) return -1;
  memset((char *)q + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
  *p = q;
  *cap = ncap;
  return 0;
}

/* Makes the per-value and per-node arrays cover the graph as it is now. */
static int fit_arrays(ferry_rw *rw) {
  if (grow_bytes((void **)&rw->uses, &rw->cap_uses, rw->g->n_values + 1, sizeof *rw->uses) ||
      grow_bytes((void **)&rw->dead, &rw->cap_dead, rw->g->n_nodes + 1, sizeof *rw->dead))
    return NOMEM(rw);
  return 0;
}

static int recount(ferry_rw *rw) {
  if (fit_arrays(rw)) return FERRY_E_SYSTEM;
  return count_uses(rw->g, rw->uses, rw->dead) ? NOMEM(rw) : 0;
}

int ferry_rw_begin(ferry_rw *rw, ferry_graph *g, ferry_err *err) {
  memset(rw, 0, sizeof *rw);
  rw->g = g;
  rw->m = g->model;
  rw->err = err;
  return recount(rw);
}

/* ---- queries ---- */

int ferry_rw_uses(const ferry_rw *rw, int v) { return v >= 0 && v < rw->cap_uses ? rw->uses[v] : 0; }

bool ferry_rw_is_output(const ferry_graph *g, int v) {
  for (int k = 0; k < g->n_outputs; k++)
    if (g->outputs[k] == v) return true;
  return false;
}

bool ferry_rw_is_input(const ferry_graph *g, int v) {
  for (int k = 0; k < g->n_inputs; k++)
    if (g->inputs[k] == v) return true;
  return false;
}

bool ferry_rw_single_use(const ferry_rw *rw, int v) {
  return v >= 0 && ferry_rw_uses(rw, v) == 1 && !ferry_rw_is_output(rw->g, v);
}

bool ferry_rw_dead(const ferry_rw *rw, int ni) { return ni < rw->cap_dead && rw->dead[ni]; }

bool ferry_node_is(const ferry_node *n, const char *domain, const char *op) {
  return n && strcmp(n->domain, domain) == 0 && strcmp(n->op, op) == 0;
}

int ferry_node_in(const ferry_node *n, int k) { return k < n->n_inputs ? n->inputs[k] : -1; }

ferry_node *ferry_rw_producer(const ferry_rw *rw, int v, const char *op, int *ni) {
  if (v < 0) return NULL;
  int p = rw->g->values[v].producer;
  if (p < 0 || ferry_rw_dead(rw, p)) return NULL;
  ferry_node *n = &rw->g->nodes[p];
  if (op && !ferry_node_is(n, "", op)) return NULL;
  if (ni) *ni = p;
  return n;
}

ferry_node *ferry_rw_sole_producer(const ferry_rw *rw, int v, const char *op, int *ni) {
  return ferry_rw_single_use(rw, v) ? ferry_rw_producer(rw, v, op, ni) : NULL;
}

const ferry_tensor *ferry_rw_const(const ferry_graph *g, int v) {
  return v >= 0 ? g->values[v].data : NULL;
}

static float half_to_float(uint16_t h) {
  int e = (h >> 10) & 31, m = h & 1023;
  float v = e == 0 ? ldexpf((float)m, -24)
            : e == 31 ? (m ? NAN : INFINITY)
                      : ldexpf((float)(m | 1024), e - 25);
  return (h & 0x8000) ? -v : v;
}

bool ferry_tensor_get(const ferry_tensor *t, int64_t i, double *x) {
  if (!t || !t->data || i < 0 || i >= t->numel) return false;
  const void *d = t->data;
  switch (t->dtype) {
  case FERRY_F32: *x = ((const float *)d)[i]; return true;
  case FERRY_F64: *x = ((const double *)d)[i]; return true;
  case FERRY_F16: *x = half_to_float(((const uint16_t *)d)[i]); return true;
  case FERRY_BF16: {
    uint32_t u = (uint32_t)((const uint16_t *)d)[i] << 16;
    float f;
    memcpy(&f, &u, 4);
    *x = f;
    return true;
  }
  case FERRY_I8: *x = ((const int8_t *)d)[i]; return true;
  case FERRY_U8: case FERRY_BOOL: *x = ((const uint8_t *)d)[i]; return true;
  case FERRY_I16: *x = ((const int16_t *)d)[i]; return true;
  case FERRY_U16: *x = ((const uint16_t *)d)[i]; return true;
  case FERRY_I32: *x = ((const int32_t *)d)[i]; return true;
  case FERRY_U32: *x = ((const uint32_t *)d)[i]; return true;
  case FERRY_I64: *x = (double)((const int64_t *)d)[i]; return true;
  case FERRY_U64: *x = (double)((const uint64_t *)d)[i]; return true;
  default: return false;
  }
}

bool ferry_rw_scalar(const ferry_graph *g, int v, double *x) {
  const ferry_tensor *t = ferry_rw_const(g, v);
  return t && t->numel == 1 && ferry_tensor_get(t, 0, x);
}

bool ferry_near(double a, double b, double rel) {
  return fabs(a - b) <= rel * fmax(fabs(a), fabs(b));
}

int64_t ferry_node_int(const ferry_node *n, const char *name, int64_t dflt) {
  const ferry_attr *a = ferry_node_attr(n, name);
  return a && a->type == FERRY_A_INT ? a->i : dflt;
}

float ferry_node_float(const ferry_node *n, const char *name, float dflt) {
  const ferry_attr *a = ferry_node_attr(n, name);
  return a && a->type == FERRY_A_FLOAT ? a->f : dflt;
}

int ferry_rw_dtype(const ferry_graph *g, int v) {
  if (v < 0) return 0;
  const ferry_value *x = &g->values[v];
  if (x->data) return x->data->dtype;
  return x->type.kind == FERRY_V_TENSOR ? x->type.dtype : 0;
}

int ferry_rw_rank(const ferry_graph *g, int v) {
  if (v < 0) return -1;
  const ferry_value *x = &g->values[v];
  if (x->data) return x->data->rank;
  return x->type.kind == FERRY_V_TENSOR ? x->type.rank : -1;
}

bool ferry_rw_dim(const ferry_graph *g, int v, int d, int64_t *x) {
  int r = ferry_rw_rank(g, v);
  if (d < 0) d += r;
  if (r < 0 || d < 0 || d >= r) return false;
  const ferry_value *val = &g->values[v];
  if (val->data) {
    *x = val->data->dims[d];
    return true;
  }
  return ferry_dim_is_const(val->type.shape[d], x);
}

/* ---- redirecting uses ---- */

/* Could the uses of value `from` inside the subgraphs of s be moved to the
 * value named `name` of s? Not when a subgraph lists the capture as an
 * output or has a local value of that name (it would shadow). */
static bool can_redirect_below(const ferry_graph *s, int from, const char *name) {
  for (int i = 0; i < s->n_nodes; i++) {
    const ferry_node *n = &s->nodes[i];
    FOR_SUBGRAPHS(n, c) {
      for (int v = 0; v < c->n_values; v++) {
        if (c->values[v].outer != from) continue;
        int t = ferry_graph_find(c, name);
        if (ferry_rw_is_output(c, v) || (t >= 0 && c->values[t].outer < 0)) return false;
        if (!can_redirect_below(c, v, name)) return false;
      }
    }
  }
  return true;
}

/* The value of subgraph c reading parent value p (named `name`). */
static int capture(ferry_graph *c, int p, const ferry_graph *parent) {
  const char *name = parent->values[p].name;
  int t = ferry_graph_find(c, name);
  if (t >= 0) return t;
  t = ferry_graph_add_value(c, name);
  if (t < 0) return -1;
  c->values[t].outer = p;
  c->values[t].type = parent->values[p].type;
  c->values[t].data = parent->values[p].data;
  return t;
}

/* Node inputs and captures of `from` in s now read `to` (outputs are the
 * caller's business). -1 when out of memory. */
static int redirect(ferry_graph *s, int from, int to, const unsigned char *dead) {
  for (int i = 0; i < s->n_nodes; i++) {
    ferry_node *n = &s->nodes[i];
    if (dead && dead[i]) continue;
    for (int k = 0; k < n->n_inputs; k++)
      if (n->inputs[k] == from) n->inputs[k] = to;
    FOR_SUBGRAPHS(n, c) {
      int nv = c->n_values; /* captures added below need no visit */
      for (int v = 0; v < nv; v++) {
        if (c->values[v].outer != from) continue;
        int cc = capture(c, to, s);
        if (cc < 0 || redirect(c, v, cc, NULL)) return -1;
      }
    }
  }
  return 0;
}

int ferry_rw_replace(ferry_rw *rw, int old, int nw, bool *done) {
  ferry_graph *g = rw->g;
  *done = false;
  if (old == nw) {
    *done = true;
    return 0;
  }
  if (ferry_rw_is_output(g, old)) { /* rename: nw's producer writes old */
    int p = g->values[nw].producer;
    if (p < 0 || rw->dead[p] || ferry_rw_is_output(g, nw) || ferry_rw_is_input(g, nw) ||
        !can_redirect_below(g, nw, g->values[old].name))
      return 0;
    if (redirect(g, nw, old, rw->dead)) return NOMEM(rw);
    ferry_node *n = &g->nodes[p];
    for (int k = 0; k < n->n_outputs; k++)
      if (n->outputs[k] == nw) n->outputs[k] = old;
    g->values[old].producer = p;
    g->values[nw].producer = -1;
  } else {
    if (!can_redirect_below(g, old, g->values[nw].name)) return 0;
    if (redirect(g, old, nw, rw->dead)) return NOMEM(rw);
  }
  *done = true;
  return recount(rw);
}

/* ---- node edits ---- */

/* Takes back the uses node n makes (inputs and captures). */
static int release_uses(ferry_rw *rw, const ferry_node *n) {
  for (int k = 0; k < n->n_inputs; k++)
    if (n->inputs[k] >= 0) rw->uses[n->inputs[k]]--;
  FOR_SUBGRAPHS(n, s) if (count_captures(s, rw->uses, -1)) return NOMEM(rw);
  return 0;
}

static int claim_uses(ferry_rw *rw, const ferry_node *n) {
  for (int k = 0; k < n->n_inputs; k++)
    if (n->inputs[k] >= 0) rw->uses[n->inputs[k]]++;
  FOR_SUBGRAPHS(n, s) if (count_captures(s, rw->uses, 1)) return NOMEM(rw);
  return 0;
}

void ferry_rw_remove(ferry_rw *rw, int ni) {
  if (rw->dead[ni]) return;
  release_uses(rw, &rw->g->nodes[ni]);
  rw->dead[ni] = 1;
}

static bool outputs_unused(const ferry_rw *rw, const ferry_node *n) {
  for (int k = 0; k < n->n_outputs; k++)
    if (n->outputs[k] >= 0 && rw->uses[n->outputs[k]] > 0) return false; /* outputs count as uses */
  return true;
}

int ferry_rw_prune(ferry_rw *rw, int ni) {
  int removed = 0, top = 0, cap = 16;
  int *stack = malloc((size_t)cap * sizeof *stack);
  if (!stack) return NOMEM(rw), 0;
  stack[top++] = ni;
  while (top > 0) {
    int i = stack[--top];
    ferry_node *n = &rw->g->nodes[i];
    if (rw->dead[i] || !outputs_unused(rw, n)) continue;
    ferry_rw_remove(rw, i);
    removed++;
    for (int k = 0; k < n->n_inputs; k++) {
      int p = n->inputs[k] >= 0 ? rw->g->values[n->inputs[k]].producer : -1;
      if (p < 0) continue;
      if (top == cap) {
        int *s = realloc(stack, (size_t)(cap *= 2) * sizeof *s);
        if (!s) break;
        stack = s;
      }
      stack[top++] = p;
    }
  }
  free(stack);
  return removed;
}

void ferry_rw_set_input(ferry_rw *rw, int ni, int k, int v) {
  ferry_node *n = &rw->g->nodes[ni];
  if (n->inputs[k] >= 0) rw->uses[n->inputs[k]]--;
  n->inputs[k] = v;
  if (v >= 0) rw->uses[v]++;
}

/* Copies attrs into the arena, list payloads included. */
static ferry_attr *copy_attrs(ferry_model *m, const ferry_attr *attrs, int n) {
  ferry_attr *a = ferry_model_alloc(m, ((size_t)n + 1) * sizeof *a);
  if (!a) return NULL;
  for (int i = 0; i < n; i++) {
    a[i] = attrs[i];
    if (a[i].type == FERRY_A_FLOATS && a[i].n > 0) {
      float *f = ferry_model_alloc(m, (size_t)a[i].n * sizeof *f);
      if (!f) return NULL;
      memcpy(f, attrs[i].floats, (size_t)a[i].n * sizeof *f);
      a[i].floats = f;
    }
    if (a[i].type == FERRY_A_INTS && a[i].n > 0) {
      int64_t *v = ferry_model_alloc(m, (size_t)a[i].n * sizeof *v);
      if (!v) return NULL;
      memcpy(v, attrs[i].ints, (size_t)a[i].n * sizeof *v);
      a[i].ints = v;
    }
  }
  return a;
}

int ferry_rw_rebuild(ferry_rw *rw, int ni, const char *domain, const char *op, int opset,
                     const int *inputs, int n_inputs, const ferry_attr *attrs, int n_attrs) {
  ferry_model *m = rw->m;
  int *in = ferry_model_alloc(m, ((size_t)n_inputs + 1) * sizeof *in);
  ferry_attr *at = copy_attrs(m, attrs, n_attrs);
  const char *d = ferry_model_strdup(m, domain), *o = ferry_model_strdup(m, op);
  if (!in || !at || !d || !o) return NOMEM(rw);
  memcpy(in, inputs, (size_t)n_inputs * sizeof *in);
  ferry_node *n = &rw->g->nodes[ni];
  if (release_uses(rw, n)) return FERRY_E_SYSTEM;
  FOR_SUBGRAPHS(n, s) ferry_graph_release(s);
  for (int k = 1; k < n->n_outputs; k++)
    if (n->outputs[k] >= 0 && rw->g->values[n->outputs[k]].producer == ni)
      rw->g->values[n->outputs[k]].producer = -1;
  n->domain = d;
  n->op = o;
  n->opset = opset;
  n->inputs = in;
  n->n_inputs = n_inputs;
  n->attrs = at;
  n->n_attrs = n_attrs;
  n->n_outputs = n->n_outputs > 0 ? 1 : 0;
  return claim_uses(rw, n);
}

int ferry_rw_fuse(ferry_rw *rw, int ni, const char *domain, const char *op, int opset,
                  const int *inputs, int n_inputs, const ferry_attr *attrs, int n_attrs) {
  ferry_node before = rw->g->nodes[ni];
  if (ferry_rw_rebuild(rw, ni, domain, op, opset, inputs, n_inputs, attrs, n_attrs)) return rw->status;
  for (int k = 0; k < before.n_inputs; k++) {
    int p = before.inputs[k] >= 0 ? rw->g->values[before.inputs[k]].producer : -1;
    if (p >= 0 && p != ni) ferry_rw_prune(rw, p);
  }
  return rw->status;
}

int ferry_rw_splice(ferry_rw *rw, int at, const ferry_node *nodes, int n) {
  ferry_graph *g = rw->g;
  int old = g->n_nodes;
  for (int i = 0; i < n; i++)
    if (ferry_graph_add_node(g) < 0) {
      g->n_nodes = old;
      return NOMEM(rw);
    }
  if (fit_arrays(rw)) return FERRY_E_SYSTEM;
  for (int j = old - 1; j >= at; j--) { /* descending: no value moves twice */
    const ferry_node *nd = &g->nodes[j];
    for (int k = 0; k < nd->n_outputs; k++)
      if (nd->outputs[k] >= 0 && g->values[nd->outputs[k]].producer == j)
        g->values[nd->outputs[k]].producer = j + n;
  }
  memmove(&g->nodes[at + n], &g->nodes[at], (size_t)(old - at) * sizeof *g->nodes);
  memmove(&rw->dead[at + n], &rw->dead[at], (size_t)(old - at));
  for (int i = 0; i < n; i++) {
    g->nodes[at + i] = nodes[i];
    rw->dead[at + i] = 0;
    for (int k = 0; k < nodes[i].n_outputs; k++)
      if (nodes[i].outputs[k] >= 0) g->values[nodes[i].outputs[k]].producer = at + i;
    if (claim_uses(rw, &g->nodes[at + i])) return FERRY_E_SYSTEM;
  }
  return 0;
}

/* ---- weights, names, domains ---- */

ferry_tensor *ferry_tensor_new(ferry_model *m, int dtype, int rank, const int64_t *dims) {
  int64_t numel = 1;
  for (int i = 0; i < rank; i++)
    if (dims[i] < 0 || __builtin_mul_overflow(numel, dims[i], &numel)) return NULL;
  int size = ferry_dtype_size(dtype);
  if (size <= 0) return NULL;
  ferry_tensor *t = ferry_model_alloc(m, sizeof *t);
  int64_t *d = ferry_model_alloc(m, ((size_t)rank + 1) * sizeof *d);
  void *data = ferry_model_alloc(m, (size_t)numel * (size_t)size + 1);
  if (!t || !d || !data) return NULL;
  if (rank) memcpy(d, dims, (size_t)rank * sizeof *d);
  *t = (ferry_tensor){.dtype = dtype, .rank = rank, .dims = d, .numel = numel,
                      .data = data, .nbytes = (size_t)numel * (size_t)size};
  return t;
}

int ferry_rw_type_from_tensor(ferry_model *m, ferry_type *ty, const ferry_tensor *t) {
  ferry_dim *shape = ferry_model_alloc(m, ((size_t)t->rank + 1) * sizeof *shape);
  if (!shape) return -1;
  for (int i = 0; i < t->rank; i++)
    if (!(shape[i] = ferry_dim_const(m->dims, t->dims[i]))) return -1;
  *ty = (ferry_type){.kind = FERRY_V_TENSOR, .dtype = t->dtype, .rank = t->rank, .shape = shape};
  return 0;
}

bool ferry_rw_name_taken(const ferry_graph *g, const char *name) {
  for (; g; g = g->parent)
    if (ferry_graph_find(g, name) >= 0) return true;
  return false;
}

const char *ferry_rw_fresh_name(ferry_rw *rw, const char *base) {
  if (!ferry_rw_name_taken(rw->g, base)) return ferry_model_strdup(rw->m, base);
  size_t n = strlen(base) + 24;
  char *s = ferry_model_alloc(rw->m, n);
  if (!s) return NULL;
  for (long i = 1;; i++) {
    snprintf(s, n, "%s_%ld", base, i);
    if (!ferry_rw_name_taken(rw->g, s)) return s;
  }
}

int ferry_rw_add_weight(ferry_rw *rw, const char *hint, const ferry_tensor *t, int *v) {
  const char *name = ferry_rw_fresh_name(rw, hint);
  int i = name ? ferry_graph_add_value(rw->g, name) : -1;
  if (i < 0 || fit_arrays(rw)) return NOMEM(rw);
  ferry_value *x = &rw->g->values[i];
  x->flags = FERRY_VAL_WEIGHT;
  x->data = t;
  if (ferry_rw_type_from_tensor(rw->m, &x->type, t)) return NOMEM(rw);
  *v = i;
  return 0;
}

int ferry_rw_add_value(ferry_rw *rw, const char *hint, int *v) {
  const char *name = ferry_rw_fresh_name(rw, hint);
  int i = name ? ferry_graph_add_value(rw->g, name) : -1;
  if (i < 0 || fit_arrays(rw)) return NOMEM(rw);
  *v = i;
  return 0;
}

int ferry_rw_insert_node(ferry_rw *rw, int at, const char *name, const char *domain, const char *op,
                         int opset, const int *inputs, int n_inputs, const int *outputs, int n_outputs,
                         const ferry_attr *attrs, int n_attrs, int *ni) {
  ferry_model *m = rw->m;
  ferry_node n = {.name = ferry_model_strdup(m, name), .domain = ferry_model_strdup(m, domain),
                  .op = ferry_model_strdup(m, op), .opset = opset, .n_inputs = n_inputs,
                  .n_outputs = n_outputs, .n_attrs = n_attrs};
  int *in = ferry_model_alloc(m, ((size_t)n_inputs + 1) * sizeof *in);
  int *out = ferry_model_alloc(m, ((size_t)n_outputs + 1) * sizeof *out);
  n.attrs = copy_attrs(m, attrs, n_attrs);
  if (!n.name || !n.domain || !n.op || !in || !out || !n.attrs) return NOMEM(rw);
  if (n_inputs) memcpy(in, inputs, (size_t)n_inputs * sizeof *in);
  if (n_outputs) memcpy(out, outputs, (size_t)n_outputs * sizeof *out);
  n.inputs = in;
  n.outputs = out;
  if (ferry_rw_splice(rw, at, &n, 1)) return FERRY_E_SYSTEM;
  *ni = at;
  return 0;
}

/* Gives the captures of value v of s (at every depth) the data t. */
static void share_data(ferry_graph *s, int v, const ferry_tensor *t) {
  for (int i = 0; i < s->n_nodes; i++) {
    ferry_node *n = &s->nodes[i];
    FOR_SUBGRAPHS(n, c) {
      for (int k = 0; k < c->n_values; k++)
        if (c->values[k].outer == v) {
          c->values[k].data = t;
          share_data(c, k, t);
        }
    }
  }
}

int ferry_rw_make_weight(ferry_rw *rw, int v, const ferry_tensor *t) {
  ferry_value *x = &rw->g->values[v];
  x->data = t;
  x->flags = (x->flags & (FERRY_VAL_INPUT | FERRY_VAL_OUTPUT)) | FERRY_VAL_WEIGHT;
  x->producer = -1;
  if (ferry_rw_type_from_tensor(rw->m, &x->type, t)) return NOMEM(rw);
  share_data(rw->g, v, t);
  return 0;
}

int ferry_model_use_domain(ferry_model *m, const char *domain, int version, ferry_err *err) {
  for (int i = 0; i < m->n_opsets; i++)
    if (strcmp(m->opsets[i].domain, domain) == 0) {
      if (m->opsets[i].version < version) m->opsets[i].version = version;
      return 0;
    }
  ferry_opset *o = ferry_model_alloc(m, ((size_t)m->n_opsets + 1) * sizeof *o);
  const char *d = ferry_model_strdup(m, domain);
  if (!o || !d) return ferry_fail(err, FERRY_E_SYSTEM, "out of memory");
  if (m->n_opsets) memcpy(o, m->opsets, (size_t)m->n_opsets * sizeof *o);
  o[m->n_opsets++] = (ferry_opset){d, version};
  m->opsets = o;
  return 0;
}

ferry_attr ferry_rw_attr_float(const char *name, float f) {
  return (ferry_attr){.name = name, .type = FERRY_A_FLOAT, .f = f};
}

ferry_attr ferry_rw_attr_int(const char *name, int64_t i) {
  return (ferry_attr){.name = name, .type = FERRY_A_INT, .i = i};
}

ferry_attr ferry_rw_attr_string(const char *name, const char *s) {
  return (ferry_attr){.name = name, .type = FERRY_A_STRING, .s = {s, strlen(s)}};
}

ferry_attr ferry_rw_attr_floats(const char *name, int n, const float *v) {
  return (ferry_attr){.name = name, .type = FERRY_A_FLOATS, .n = n, .floats = v};
}

/* ---- end of a session ---- */

/* Drops the data of weights and constants nothing reads any more. */
static void scrub_unread(ferry_rw *rw) {
  ferry_graph *g = rw->g;
  for (int v = 0; v < g->n_values; v++) {
    ferry_value *x = &g->values[v];
    if (!(x->flags & (FERRY_VAL_WEIGHT | FERRY_VAL_CONST)) || x->producer >= 0 || x->outer >= 0 ||
        rw->uses[v] > 0 || (x->flags & (FERRY_VAL_INPUT | FERRY_VAL_OUTPUT)))
      continue;
    x->data = NULL;
    x->flags &= ~(unsigned)(FERRY_VAL_WEIGHT | FERRY_VAL_CONST);
  }
}

static void compact_nodes(ferry_rw *rw) {
  ferry_graph *g = rw->g;
  for (int i = 0; i < g->n_nodes; i++) {
    if (!rw->dead[i]) continue;
    ferry_node *n = &g->nodes[i];
    for (int k = 0; k < n->n_outputs; k++)
      if (n->outputs[k] >= 0 && g->values[n->outputs[k]].producer == i)
        g->values[n->outputs[k]].producer = -1;
    FOR_SUBGRAPHS(n, s) ferry_graph_release(s);
  }
  int w = 0;
  for (int i = 0; i < g->n_nodes; i++) {
    if (rw->dead[i]) continue;
    ferry_node *n = &g->nodes[i];
    for (int k = 0; k < n->n_outputs; k++)
      if (n->outputs[k] >= 0 && g->values[n->outputs[k]].producer == i) g->values[n->outputs[k]].producer = w;
    g->nodes[w++] = *n;
  }
  g->n_nodes = w;
}

int ferry_rw_end(ferry_rw *rw) {
  if (rw->uses && rw->dead) {
    compact_nodes(rw);
    scrub_unread(rw);
  }
  free(rw->uses);
  free(rw->dead);
  rw->uses = NULL;
  rw->dead = NULL;
  return rw->status;
}
