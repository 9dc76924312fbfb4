/*
 * infer.c - the shape inference driver (the contract is in infer.h).
 *
 * How the parts fit:
 *   - rules compute through the symbolic dimops of symdims.h (a handle is
 *     a ferry_dim; division cancels factors, for Reshape's -1);
 *   - per graph a side table (`vstate`) holds what the IR has no room for:
 *     the content of small integer tensors and constant data pointers;
 *   - values <-> ferry_sval: a node's inputs are read from the IR types
 *     and side table; its outputs are merged back into the IR types, a
 *     declared type winning where it is more precise (merge_dim);
 *   - infer_nodes() walks nodes in order; plain ops call their rule, If,
 *     Loop, Scan and SequenceMap recurse into their bodies (the control
 *     flow section at the end). Loop and Scan bodies run twice when a
 *     loop-carried shape changes: the second run starts from the
 *     generalized shapes (differing dims become fresh symbols), with the
 *     body's types restored from a snapshot in between.
 */
#include "infer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "symdims.h"

#define H(d) FERRY_SDIM(d)
#define P(h) FERRY_DIM(h)

/* ---- driver state ---- */

typedef struct vstate {
  int n_content;       /* -1 unknown */
  ferry_sdim *content; /* malloc'd */
  const void *data;
  int64_t numel_data;
} vstate;

typedef struct gstate {
  ferry_graph *g;
  struct gstate *parent;
  vstate *v;
  int n;
} gstate;

typedef struct infer {
  ferry_model *m;
  const ferry_dimops *D;
  ferry_symdims *S;
  ferry_infer_info *info;
  ferry_err *err;
} infer;

static int nomem(infer *st) {
  return ferry_fail(st->err, FERRY_E_SYSTEM, "%s: out of memory inferring shapes", st->m->path);
}

static const char *node_label(const ferry_graph *g, int ni, char *buf, size_t n) {
  const ferry_node *nd = &g->nodes[ni];
  if (*nd->name) snprintf(buf, n, "node '%s' (%s)", nd->name, nd->op);
  else snprintf(buf, n, "node #%d (%s)", ni, nd->op);
  return buf;
}

static int node_fail(infer *st, const ferry_graph *g, int ni, const char *what) {
  char lb[300];
  return ferry_fail(st->err, FERRY_E_INPUT, "%s: %s: %s", st->m->path, node_label(g, ni, lb, sizeof lb), what);
}

static void gstate_free(gstate *gs) {
  for (int i = 0; gs->v && i < gs->n; i++) free(gs->v[i].content);
  free(gs->v);
}

static int set_content(vstate *vs, const ferry_sdim *c, int n) {
  free(vs->content);
  vs->content = NULL;
  vs->n_content = -1;
  if (n < 0) return 0;
  vs->content = malloc((size_t)(n ? n : 1) * sizeof *c);
  if (!vs->content) return -1;
  if (n) memcpy(vs->content, c, (size_t)n * sizeof *c);
  vs->n_content = n;
  return 0;
}

/* ---- IR types <-> svals ---- */

static int sv_kind(int k) {
  return k == FERRY_V_SEQUENCE ? FERRY_SV_SEQUENCE : k == FERRY_V_OPTIONAL ? FERRY_SV_OPTIONAL : FERRY_SV_TENSOR;
}

static void shape_to_sval(const ferry_type *t, ferry_sval *s) {
  s->dtype = t->dtype;
  s->rank = t->rank <= FERRY_MAX_RANK ? t->rank : -1;
  for (int i = 0; i < s->rank; i++) s->dims[i] = H(t->shape[i]);
}

static void sval_of(const ferry_type *t, const vstate *vs, ferry_sval *s) {
  memset(s, 0, sizeof *s);
  s->present = 1;
  s->rank = -1;
  s->n_content = -1;
  s->kind = sv_kind(t->kind);
  if (t->kind == FERRY_V_TENSOR || t->kind == FERRY_V_SPARSE) shape_to_sval(t, s);
  else if ((t->kind == FERRY_V_SEQUENCE || t->kind == FERRY_V_OPTIONAL) && t->elem) {
    const ferry_type *e = t->elem;
    s->elem_kind = sv_kind(e->kind);
    if (e->kind == FERRY_V_SEQUENCE && e->elem) e = e->elem;
    if (e->kind == FERRY_V_TENSOR) shape_to_sval(e, s);
  }
  if (vs && s->kind == FERRY_SV_TENSOR) {
    s->data = vs->data;
    s->numel_data = vs->numel_data;
    s->n_content = vs->n_content;
    if (vs->n_content > 0) memcpy(s->content, vs->content, (size_t)vs->n_content * sizeof *s->content);
  }
}

/* A tensor type with s's dtype and shape, shape allocated in the model. */
static int tensor_type(infer *st, const ferry_sval *s, ferry_type *t) {
  memset(t, 0, sizeof *t);
  t->kind = FERRY_V_TENSOR;
  t->dtype = s->dtype;
  t->rank = s->rank;
  if (s->rank < 0) return 0;
  t->shape = ferry_model_alloc(st->m, (size_t)(s->rank + 1) * sizeof *t->shape);
  if (!t->shape) return -1;
  for (int i = 0; i < s->rank; i++) t->shape[i] = P(s->dims[i]);
  return 0;
}

/* The IR type an sval describes (sequence/optional wrap the element). */
static int type_of(infer *st, const ferry_sval *s, ferry_type *t) {
  ferry_type e;
  if (tensor_type(st, s, &e)) return -1;
  if (s->kind == FERRY_SV_TENSOR) {
    *t = e;
    return 0;
  }
  int wrap_seq = s->kind == FERRY_SV_OPTIONAL && s->elem_kind == FERRY_SV_SEQUENCE;
  ferry_type *pe = ferry_model_alloc(st->m, sizeof *pe);
  if (!pe) return -1;
  *pe = e;
  if (wrap_seq) {
    ferry_type *ps = ferry_model_alloc(st->m, sizeof *ps);
    if (!ps) return -1;
    *ps = (ferry_type){.kind = FERRY_V_SEQUENCE, .rank = -1, .elem = pe};
    pe = ps;
  }
  *t = (ferry_type){.kind = s->kind == FERRY_SV_SEQUENCE ? FERRY_V_SEQUENCE : FERRY_V_OPTIONAL,
                    .rank = -1, .elem = pe};
  return 0;
}

static int is_fresh(ferry_dim d) {
  const char *n = ferry_dim_sym_name(d);
  return n && strncmp(n, "unk__", 5) == 0;
}

/* One dim of a declared (d) and an inferred (e) shape; 0 on a conflict. */
static int merge_dim(ferry_dim d, ferry_dim e, ferry_dim *r) {
  int64_t x, y;
  int kd = ferry_dim_is_const(d, &x), ke = ferry_dim_is_const(e, &y);
  if (d == e) *r = d;
  else if (kd && ke) return 0;
  else if (ke) *r = e;
  else if (kd || is_fresh(e)) *r = d;
  else *r = e;
  return 1;
}

/* Merges inferred type *e into declared *d (both tensors); what[] gets the
 * conflict, returns -1 on one, -2 out of memory. */
static int merge_tensor(infer *st, const ferry_type *d, ferry_type *e, char *what, size_t n) {
  char a[64], b[64];
  if (d->dtype && e->dtype && d->dtype != e->dtype) {
    snprintf(what, n, "declared dtype %s, inferred %s", ferry_dtype_name(d->dtype), ferry_dtype_name(e->dtype));
    return -1;
  }
  if (!e->dtype) e->dtype = d->dtype;
  if (d->rank < 0) return 0;
  if (e->rank < 0) {
    e->rank = d->rank;
    e->shape = d->shape;
    return 0;
  }
  if (d->rank != e->rank) {
    snprintf(what, n, "declared rank %d, inferred %d", d->rank, e->rank);
    return -1;
  }
  ferry_dim *sh = ferry_model_alloc(st->m, (size_t)(e->rank + 1) * sizeof *sh);
  if (!sh) return -2;
  for (int i = 0; i < e->rank; i++) {
    if (merge_dim(d->shape[i], e->shape[i], &sh[i])) continue;
    ferry_dim_str(d->shape[i], a, sizeof a);
    ferry_dim_str(e->shape[i], b, sizeof b);
    snprintf(what, n, "dim %d is declared %s, inferred %s", i, a, b);
    return -1;
  }
  e->shape = sh;
  return 0;
}

/* Writes the rule's output s into value v, merged with what v declares. */
static int write_output(infer *st, gstate *gs, int ni, int vi, const ferry_sval *s) {
  ferry_value *v = &gs->g->values[vi];
  ferry_type t;
  char what[200];
  if (type_of(st, s, &t)) return nomem(st);
  if (v->type.kind == t.kind && t.kind == FERRY_V_TENSOR) {
    int rc = merge_tensor(st, &v->type, &t, what, sizeof what);
    if (rc == -2) return nomem(st);
    if (rc) return node_fail(st, gs->g, ni, what);
  } else if (v->type.kind != FERRY_V_UNKNOWN && v->type.kind != t.kind) {
    return 0; /* a declared sequence/optional/map the rule does not see: keep it */
  } else if (t.kind != FERRY_V_TENSOR && v->type.kind == t.kind && t.elem && t.elem->rank < 0 &&
             v->type.elem) {
    t = v->type; /* keep the declared element type when ours says less */
  }
  v->type = t;
  vstate *vs = &gs->v[vi];
  if (!v->data) {
    vs->data = s->data;
    vs->numel_data = s->numel_data;
  }
  if (vs->n_content < 0 && set_content(vs, s->content, s->n_content)) return nomem(st);
  return 0;
}

/* ---- attributes as rules see them ---- */

typedef struct nodeview {
  infer *st;
  const ferry_node *n;
} nodeview;

static int attr_cb(void *node, const char *name, ferry_attrv *a) {
  nodeview *nv = node;
  const ferry_attr *at = ferry_node_attr(nv->n, name);
  memset(a, 0, sizeof *a);
  if (!at) return 0;
  a->type = at->type;
  a->i = at->i;
  a->f = at->f;
  a->n = at->n;
  a->ints = at->ints;
  a->floats = at->floats;
  if (at->type == FERRY_A_STRING) {
    char *s = ferry_model_alloc(nv->st->m, at->s.len + 1);
    if (!s) return 0;
    memcpy(s, at->s.ptr, at->s.len);
    a->s = s;
    a->slen = (int64_t)at->s.len;
  } else if (at->type == FERRY_A_STRINGS) {
    a->s = ferry_attr_strings_joined(nv->st->m, at, &a->slen);
    if (!a->s) return 0;
  } else if ((at->type == FERRY_A_TENSOR || at->type == FERRY_A_SPARSE_TENSOR) && at->t) {
    a->tdtype = at->t->dtype;
    a->trank = at->t->rank;
    a->tdims = at->t->dims;
    a->tdata = at->t->data;
  } else if (at->type == FERRY_A_TYPE_PROTO && at->types) {
    const ferry_type *t = &at->types[0];
    a->i = sv_kind(t->kind);
    while (t->elem && t->kind != FERRY_V_TENSOR) t = t->elem;
    a->tdtype = t->dtype;
    a->trank = -1;
  }
  return 1;
}

/* ---- plain nodes ---- */

/* Rules may look past a node's last input or output (an omitted optional
 * one): arrays get at least this many entries, the extra ones absent. */
#define MIN_SLOTS 8

static void absent(ferry_sval *s) {
  memset(s, 0, sizeof *s);
  s->rank = -1;
  s->n_content = -1;
}

static ferry_sval *sval_array(int n) {
  int cap = n > MIN_SLOTS ? n : MIN_SLOTS;
  ferry_sval *a = malloc((size_t)cap * sizeof *a);
  for (int k = 0; a && k < cap; k++) absent(&a[k]);
  return a;
}

/* Node ni's inputs as svals. */
static void read_inputs(gstate *gs, const ferry_node *n, ferry_sval *in) {
  for (int k = 0; k < n->n_inputs; k++)
    if (n->inputs[k] >= 0) sval_of(&gs->g->values[n->inputs[k]].type, &gs->v[n->inputs[k]], &in[k]);
}

static void preset_outputs(const ferry_node *n, ferry_sval *out) {
  for (int k = 0; k < n->n_outputs; k++) out[k].present = n->outputs[k] >= 0;
}

static void note_unknown(infer *st, const ferry_node *n) {
  ferry_infer_info *in = st->info;
  char op[160];
  if (!in) return;
  in->unknown++;
  snprintf(op, sizeof op, "%s%s%s", n->domain, *n->domain ? "." : "", n->op);
  size_t len = strlen(in->unknown_ops), ol = strlen(op);
  for (const char *p = in->unknown_ops; (p = strstr(p, op)); p += ol)
    if ((p == in->unknown_ops || p[-1] == ' ') && (p[ol] == ',' || !p[ol])) return;
  if (len + ol + 3 < sizeof in->unknown_ops)
    snprintf(in->unknown_ops + len, sizeof in->unknown_ops - len, "%s%s", len ? ", " : "", op);
}

/* Calls `rule` on node ni with inputs in[], writes its outputs. */
static int run_rule(infer *st, gstate *gs, int ni, ferry_shape_fn rule, ferry_sval *in, int n_in) {
  const ferry_node *n = &gs->g->nodes[ni];
  ferry_sval *out = sval_array(n->n_outputs);
  if (!out) return nomem(st);
  preset_outputs(n, out);
  nodeview nv = {st, n};
  ferry_shape_ctx c = {.D = st->D, .opset = n->opset, .n_in = n_in, .n_out = n->n_outputs,
                       .in = in, .out = out, .attr = attr_cb, .node = &nv};
  int rc = rule(&c);
  if (ferry_symdims_oom(st->S)) rc = nomem(st);
  else if (rc) rc = node_fail(st, gs->g, ni, c.err[0] ? c.err : "shape rule failed");
  for (int k = 0; k < n->n_outputs && !rc; k++)
    if (n->outputs[k] >= 0) rc = write_output(st, gs, ni, n->outputs[k], &out[k]);
  free(out);
  return rc;
}

static int infer_control(infer *st, gstate *gs, int ni);

static int infer_node(infer *st, gstate *gs, int ni) {
  const ferry_node *n = &gs->g->nodes[ni];
  const ferry_opdef *op = ferry_op_find(n->domain, n->op, n->opset);
  if (st->info) st->info->nodes++;
  if (op && (op->flags & FERRY_OPF_CONTROL)) return infer_control(st, gs, ni);
  if (!op || !op->shape) {
    note_unknown(st, n);
    return 0;
  }
  ferry_sval *in = sval_array(n->n_inputs);
  if (!in) return nomem(st);
  read_inputs(gs, n, in);
  int rc = run_rule(st, gs, ni, op->shape, in, n->n_inputs);
  free(in);
  return rc;
}

/* ---- graphs ---- */

/* Side-table entry for constant data: its pointer and, if small and
 * integer, its content. */
static int load_data(infer *st, vstate *vs, const ferry_tensor *t) {
  ferry_sdim c[FERRY_MAX_CONTENT];
  int64_t v[FERRY_MAX_CONTENT];
  vs->data = t->data;
  vs->numel_data = t->numel;
  int n = ferry_data_content(t->dtype, t->data, t->numel, v, FERRY_MAX_CONTENT);
  if (n < 0 || t->external) return 0;
  for (int i = 0; i < n; i++) c[i] = st->D->konst(st->D->ctx, v[i]);
  return set_content(vs, c, n) || ferry_symdims_oom(st->S) ? nomem(st) : 0;
}

/* Makes the side table of g; outer values take their parent's type. */
static int gstate_init(infer *st, gstate *gs, ferry_graph *g, gstate *parent) {
  memset(gs, 0, sizeof *gs);
  gs->g = g;
  gs->parent = parent;
  gs->n = g->n_values;
  gs->v = calloc((size_t)(g->n_values + 1), sizeof *gs->v);
  if (!gs->v) return nomem(st);
  for (int i = 0; i < g->n_values; i++) {
    ferry_value *v = &g->values[i];
    gs->v[i].n_content = -1;
    if (v->outer >= 0 && parent) {
      const vstate *pv = &parent->v[v->outer];
      v->type = parent->g->values[v->outer].type;
      gs->v[i].data = pv->data;
      gs->v[i].numel_data = pv->numel_data;
      if (set_content(&gs->v[i], pv->content, pv->n_content)) return nomem(st);
    } else if (v->data && load_data(st, &gs->v[i], v->data)) {
      return st->err->code;
    }
  }
  return 0;
}

static int infer_nodes(infer *st, gstate *gs) {
  for (int i = 0; i < gs->g->n_nodes; i++) {
    int rc = infer_node(st, gs, i);
    if (rc) return rc;
  }
  return 0;
}

/* A known integer for a body input's content (a Loop's true condition). */
typedef struct preset {
  int input; /* index into g->inputs, -1: none */
  int64_t value;
} preset;

static const preset no_preset = {-1, 0};

/* Infers subgraph g below gs; *out keeps its side table (caller frees). */
static int infer_sub(infer *st, gstate *gs, ferry_graph *g, gstate *out, preset p) {
  int rc = gstate_init(st, out, g, gs);
  if (!rc && p.input >= 0 && p.input < g->n_inputs) {
    ferry_sdim k = st->D->konst(st->D->ctx, p.value);
    if (set_content(&out->v[g->inputs[p.input]], &k, 1)) rc = nomem(st);
  }
  return rc ? rc : infer_nodes(st, out);
}

/* ---- control flow ---- */

/* The type covering a and b: equal dims stay, others become fresh. */
static int unify(infer *st, const ferry_type *a, const ferry_type *b, ferry_type *r) {
  *r = *a;
  if (a->kind != b->kind) {
    *r = (ferry_type){.kind = FERRY_V_UNKNOWN, .rank = -1};
    return 0;
  }
  if (a->kind != FERRY_V_TENSOR) return 0;
  if (!r->dtype) r->dtype = b->dtype;
  if (a->rank != b->rank || a->rank < 0) {
    r->rank = -1;
    r->shape = NULL;
    return 0;
  }
  int same = 1;
  for (int i = 0; i < a->rank; i++) same &= a->shape[i] == b->shape[i];
  if (same) return 0;
  r->shape = ferry_model_alloc(st->m, (size_t)(a->rank + 1) * sizeof *r->shape);
  if (!r->shape) return -1;
  for (int i = 0; i < a->rank; i++)
    r->shape[i] = a->shape[i] == b->shape[i] ? a->shape[i] : ferry_dim_fresh(st->m->dims);
  return 0;
}

/* Sets node output k to type t (merged with its declaration). */
static int set_out_type(infer *st, gstate *gs, int ni, int k, const ferry_type *t, const vstate *content) {
  const ferry_node *n = &gs->g->nodes[ni];
  if (k >= n->n_outputs || n->outputs[k] < 0) return 0;
  ferry_sval s;
  sval_of(t, content, &s);
  if (t->kind == FERRY_V_UNKNOWN) s.rank = -1;
  if (t->kind != FERRY_V_TENSOR && t->kind != FERRY_V_SEQUENCE && t->kind != FERRY_V_OPTIONAL) {
    ferry_value *v = &gs->g->values[n->outputs[k]];
    if (v->type.kind == FERRY_V_UNKNOWN) v->type = *t;
    return 0;
  }
  return write_output(st, gs, ni, n->outputs[k], &s);
}

static int cond_known(const ferry_sval *c, int *v) {
  int64_t x;
  if (c->n_content != 1 || !ferry_dim_is_const(P(c->content[0]), &x)) return 0;
  *v = x != 0;
  return 1;
}

static int infer_if(infer *st, gstate *gs, int ni) {
  const ferry_node *n = &gs->g->nodes[ni];
  const ferry_attr *ta = ferry_node_attr(n, "then_branch"), *ea = ferry_node_attr(n, "else_branch");
  if (!ta || !ea || !ta->g || !ea->g) return node_fail(st, gs->g, ni, "missing a branch");
  gstate t, e;
  ferry_sval cond;
  int which = -1, rc;
  memset(&e, 0, sizeof e);
  if ((rc = infer_sub(st, gs, ta->g, &t, no_preset)) || (rc = infer_sub(st, gs, ea->g, &e, no_preset))) goto out;
  if (n->n_inputs > 0 && n->inputs[0] >= 0) {
    sval_of(&gs->g->values[n->inputs[0]].type, &gs->v[n->inputs[0]], &cond);
    if (!cond_known(&cond, &which)) which = -1;
  }
  for (int k = 0; k < n->n_outputs && !rc; k++) {
    if (k >= ta->g->n_outputs || k >= ea->g->n_outputs) break;
    int tv = ta->g->outputs[k], ev = ea->g->outputs[k];
    const ferry_type *tt = &ta->g->values[tv].type, *et = &ea->g->values[ev].type;
    ferry_type u;
    if (which >= 0) rc = set_out_type(st, gs, ni, k, which ? tt : et, which ? &t.v[tv] : &e.v[ev]);
    else if (unify(st, tt, et, &u)) rc = nomem(st);
    else rc = set_out_type(st, gs, ni, k, &u, NULL);
  }
out:
  gstate_free(&t);
  gstate_free(&e);
  return rc;
}

/* ---- saving and restoring a body's types between Loop/Scan passes ---- */

typedef struct snapshot {
  ferry_type *t;
  size_t n, cap;
  int oom;
} snapshot;

static void snap_graph(ferry_graph *g, void *u) {
  snapshot *s = u;
  for (int i = 0; i < g->n_values && !s->oom; i++) {
    if (s->n == s->cap) {
      size_t cap = s->cap ? 2 * s->cap : 64;
      ferry_type *t = realloc(s->t, cap * sizeof *t);
      if (!t) {
        s->oom = 1;
        return;
      }
      s->t = t;
      s->cap = cap;
    }
    s->t[s->n++] = g->values[i].type;
  }
}

static void restore_graph(ferry_graph *g, void *u) {
  snapshot *s = u;
  for (int i = 0; i < g->n_values; i++) g->values[i].type = s->t[s->n++];
}

/* Infers a loop body whose first `skip` inputs are fixed and whose next
 * n_carry inputs/outputs (after `skip` inputs and `oskip` outputs) are
 * loop-carried, starting from carry[] (updated to the generalized types).
 * The body's final side table is left in *bs. */
static int infer_body(infer *st, gstate *gs, ferry_graph *body, int skip, int oskip, int n_carry,
                      ferry_type *carry, preset p, gstate *bs) {
  snapshot snap = {0};
  ferry_graph_walk(body, snap_graph, &snap);
  if (snap.oom) return free(snap.t), nomem(st);
  int rc = 0;
  for (int pass = 0; pass < 2; pass++) {
    if (pass) {
      gstate_free(bs);
      snap.n = 0;
      ferry_graph_walk(body, restore_graph, &snap);
    }
    for (int k = 0; k < n_carry && skip + k < body->n_inputs; k++) {
      ferry_value *v = &body->values[body->inputs[skip + k]];
      ferry_type d = v->type;
      char what[200];
      v->type = carry[k];
      if (d.kind == FERRY_V_TENSOR && carry[k].kind == FERRY_V_TENSOR &&
          merge_tensor(st, &d, &v->type, what, sizeof what) == -2)
        rc = nomem(st);
    }
    if (rc || (rc = infer_sub(st, gs, body, bs, p))) break;
    int stable = 1;
    for (int k = 0; k < n_carry && oskip + k < body->n_outputs; k++) {
      ferry_type u;
      const ferry_type *o = &body->values[body->outputs[oskip + k]].type;
      if (unify(st, &carry[k], o, &u)) {
        rc = nomem(st);
        break;
      }
      if (u.kind == FERRY_V_UNKNOWN) u = *o; /* optional in, sequence out: the body's says more */
      if (u.rank != carry[k].rank || u.kind != carry[k].kind || u.shape != carry[k].shape) stable = 0;
      carry[k] = u;
    }
    if (rc || stable) break;
  }
  free(snap.t);
  return rc;
}

/* The type of input k of node n in gs (unknown when omitted). */
static ferry_type input_type(gstate *gs, const ferry_node *n, int k) {
  if (k >= n->n_inputs || n->inputs[k] < 0) return (ferry_type){.kind = FERRY_V_UNKNOWN, .rank = -1};
  return gs->g->values[n->inputs[k]].type;
}

static int scalar_type(infer *st, int dtype, ferry_type *t) {
  ferry_sval s = {.dtype = dtype, .rank = 0};
  return tensor_type(st, &s, t) ? nomem(st) : 0;
}

/* Output type [lead, elem...] of a scan output (axis: where lead goes). */
static int stacked(infer *st, const ferry_type *elem, ferry_dim lead, int axis, ferry_type *t) {
  *t = *elem;
  if (elem->kind != FERRY_V_TENSOR || elem->rank < 0) return 0;
  int r = elem->rank + 1;
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) axis = 0;
  t->rank = r;
  t->shape = ferry_model_alloc(st->m, (size_t)(r + 1) * sizeof *t->shape);
  if (!t->shape) return nomem(st);
  for (int i = 0, k = 0; i < r; i++) t->shape[i] = i == axis ? lead : elem->shape[k++];
  return 0;
}

/* 1 when a Loop's initial condition is absent or known true. */
static int starts_true(gstate *gs, const ferry_node *n) {
  ferry_sval cnd;
  int t;
  if (n->n_inputs < 2 || n->inputs[1] < 0) return 1;
  sval_of(&gs->g->values[n->inputs[1]].type, &gs->v[n->inputs[1]], &cnd);
  return cond_known(&cnd, &t) && t;
}

/* The trip count of a Loop when known: M, when the condition stays true.
 * The body ran with its condition input known true; if its condition
 * output then came out true too, it is true on every iteration. */
static ferry_dim trip_count(infer *st, gstate *gs, const ferry_node *n, ferry_graph *body, gstate *bs) {
  ferry_sval m, cnd;
  int t;
  if (n->n_inputs < 1 || n->inputs[0] < 0) return ferry_dim_fresh(st->m->dims);
  sval_of(&gs->g->values[n->inputs[0]].type, &gs->v[n->inputs[0]], &m);
  if (m.n_content != 1 || !starts_true(gs, n)) return ferry_dim_fresh(st->m->dims);
  if (n->n_inputs > 1 && n->inputs[1] >= 0) {
    if (body->n_outputs < 1) return ferry_dim_fresh(st->m->dims);
    int co = body->outputs[0];
    sval_of(&body->values[co].type, &bs->v[co], &cnd);
    if (!cond_known(&cnd, &t) || !t) return ferry_dim_fresh(st->m->dims);
  }
  return P(m.content[0]);
}

static int infer_loop(infer *st, gstate *gs, int ni) {
  const ferry_node *n = &gs->g->nodes[ni];
  const ferry_attr *ba = ferry_node_attr(n, "body");
  if (!ba || !ba->g) return node_fail(st, gs->g, ni, "has no body");
  ferry_graph *body = ba->g;
  int n_carry = n->n_inputs - 2 > 0 ? n->n_inputs - 2 : 0, rc;
  ferry_type *carry = calloc((size_t)n_carry + 1, sizeof *carry), fixed[2];
  gstate bs;
  memset(&bs, 0, sizeof bs);
  if (!carry) return nomem(st);
  /* body inputs: iteration number, condition, then the carried values */
  if ((rc = scalar_type(st, FERRY_I64, &fixed[0])) || (rc = scalar_type(st, FERRY_BOOL, &fixed[1]))) goto out;
  for (int k = 0; k < body->n_inputs && k < 2; k++) body->values[body->inputs[k]].type = fixed[k];
  for (int k = 0; k < n_carry; k++) carry[k] = input_type(gs, n, k + 2);
  preset cond = {starts_true(gs, n) && n->n_inputs > 1 && n->inputs[1] >= 0 ? 1 : -1, 1};
  if ((rc = infer_body(st, gs, body, 2, 1, n_carry, carry, cond, &bs))) goto out;
  for (int k = 0; k < n_carry && !rc; k++) rc = set_out_type(st, gs, ni, k, &carry[k], NULL);
  ferry_dim trip = trip_count(st, gs, n, body, &bs);
  for (int k = n_carry; k < n->n_outputs && !rc; k++) {
    ferry_type t;
    if (1 + k >= body->n_outputs) break;
    rc = stacked(st, &body->values[body->outputs[1 + k]].type, trip, 0, &t);
    if (!rc) rc = set_out_type(st, gs, ni, k, &t, NULL);
  }
out:
  gstate_free(&bs);
  free(carry);
  return rc;
}

/* Type t without axis `axis` (a scan input's per-iteration slice). */
static int drop_axis(infer *st, const ferry_type *t, int axis, ferry_type *r, ferry_dim *len) {
  *r = *t;
  if (t->kind != FERRY_V_TENSOR || t->rank < 1) return 0;
  if (axis < 0) axis += t->rank;
  if (axis < 0 || axis >= t->rank) axis = 0;
  if (len && !*len) *len = t->shape[axis];
  r->rank = t->rank - 1;
  r->shape = ferry_model_alloc(st->m, (size_t)t->rank * sizeof *r->shape);
  if (!r->shape) return nomem(st);
  for (int i = 0, k = 0; i < t->rank; i++)
    if (i != axis) r->shape[k++] = t->shape[i];
  return 0;
}

static int64_t attr_at(const ferry_node *n, const char *name, int k, int64_t dflt) {
  const ferry_attr *a = ferry_node_attr(n, name);
  return a && a->type == FERRY_A_INTS && k < a->n ? a->ints[k] : dflt;
}

static int infer_scan(infer *st, gstate *gs, int ni) {
  const ferry_node *n = &gs->g->nodes[ni];
  const ferry_attr *ba = ferry_node_attr(n, "body"), *ns = ferry_node_attr(n, "num_scan_inputs");
  if (!ba || !ba->g || !ns) return node_fail(st, gs->g, ni, "has no body or num_scan_inputs");
  ferry_graph *body = ba->g;
  int v8 = n->opset < 9, first = v8 ? 1 : 0, m = (int)ns->i, rc = 0;
  int n_state = n->n_inputs - first - m;
  if (m < 0 || n_state < 0) return node_fail(st, gs->g, ni, "has fewer inputs than num_scan_inputs");
  ferry_type *carry = calloc((size_t)n->n_inputs + 1, sizeof *carry);
  ferry_dim len = NULL, batch = NULL;
  gstate bs;
  memset(&bs, 0, sizeof bs);
  if (!carry) return nomem(st);
  for (int k = 0; k < n_state && !rc; k++) { /* opset 8: states carry the batch dim */
    ferry_type t = input_type(gs, n, first + k);
    rc = v8 ? drop_axis(st, &t, 0, &carry[k], &batch) : (carry[k] = t, 0);
  }
  for (int j = 0; j < m && !rc && n_state + j < body->n_inputs; j++) {
    ferry_type t = input_type(gs, n, first + n_state + j), s1, s2;
    int axis = (int)attr_at(n, "scan_input_axes", j, 0);
    if (!v8) rc = drop_axis(st, &t, axis, &s1, &len);
    else if (!(rc = drop_axis(st, &t, 0, &s2, &batch))) rc = drop_axis(st, &s2, 0, &s1, &len);
    if (!rc) body->values[body->inputs[n_state + j]].type = s1;
  }
  if (!rc) rc = infer_body(st, gs, body, 0, 0, n_state, carry, no_preset, &bs);
  if (!len) len = ferry_dim_fresh(st->m->dims);
  for (int k = 0; k < n->n_outputs && !rc; k++) {
    ferry_type t, t2;
    if (k >= body->n_outputs) break;
    if (k < n_state) t = carry[k];
    else rc = stacked(st, &body->values[body->outputs[k]].type, len,
                      v8 ? 0 : (int)attr_at(n, "scan_output_axes", k - n_state, 0), &t);
    if (!rc && v8 && batch && !(rc = stacked(st, &t, batch, 0, &t2))) t = t2;
    if (!rc) rc = set_out_type(st, gs, ni, k, &t, NULL);
  }
  gstate_free(&bs);
  free(carry);
  return rc;
}

/* SequenceMap: the body maps elements (sequence inputs give their element
 * type, tensors themselves); outputs are sequences of the body's outputs. */
static int infer_sequence_map(infer *st, gstate *gs, int ni) {
  const ferry_node *n = &gs->g->nodes[ni];
  const ferry_attr *ba = ferry_node_attr(n, "body");
  if (!ba || !ba->g) return node_fail(st, gs->g, ni, "has no body");
  ferry_graph *body = ba->g;
  gstate bs;
  int rc = 0;
  for (int k = 0; k < n->n_inputs && k < body->n_inputs; k++) {
    ferry_type t = input_type(gs, n, k);
    if (t.kind == FERRY_V_SEQUENCE && t.elem) t = *t.elem;
    ferry_value *v = &body->values[body->inputs[k]];
    if (v->type.kind == FERRY_V_UNKNOWN || v->type.rank < 0) v->type = t;
  }
  if ((rc = infer_sub(st, gs, body, &bs, no_preset))) return gstate_free(&bs), rc;
  for (int k = 0; k < n->n_outputs && k < body->n_outputs && !rc; k++) {
    ferry_type *e = ferry_model_alloc(st->m, sizeof *e);
    if (!e) {
      rc = nomem(st);
      break;
    }
    *e = body->values[body->outputs[k]].type;
    ferry_type t = {.kind = FERRY_V_SEQUENCE, .rank = -1, .elem = e};
    rc = set_out_type(st, gs, ni, k, &t, NULL);
  }
  gstate_free(&bs);
  return rc;
}

static int infer_control(infer *st, gstate *gs, int ni) {
  const char *op = gs->g->nodes[ni].op;
  if (strcmp(op, "If") == 0) return infer_if(st, gs, ni);
  if (strcmp(op, "Loop") == 0) return infer_loop(st, gs, ni);
  if (strcmp(op, "Scan") == 0) return infer_scan(st, gs, ni);
  if (strcmp(op, "SequenceMap") == 0) return infer_sequence_map(st, gs, ni);
  note_unknown(st, &gs->g->nodes[ni]);
  return 0;
}

/* ---- binding symbols ---- */

typedef struct binder {
  ferry_model *m;
  const ferry_dimbinding *fix;
  int n_fix;
  int *used;
  int oom;
} binder;

static int bind_lookup(void *u, const char *name, int64_t *v) {
  binder *b = u;
  for (int i = 0; i < b->n_fix; i++)
    if (strcmp(b->fix[i].name, name) == 0) {
      *v = b->fix[i].value;
      b->used[i] = 1;
      return 0;
    }
  return -1;
}

static void bind_type(binder *b, ferry_type *t) {
  for (; t; t = t->elem) {
    if (t->rank <= 0 || !t->shape) continue;
    ferry_dim *sh = NULL;
    for (int i = 0; i < t->rank; i++) {
      ferry_dim d = ferry_dim_subst(b->m->dims, t->shape[i], bind_lookup, b);
      if (!d) {
        b->oom = 1;
        return;
      }
      if (d == t->shape[i]) continue;
      if (!sh) { /* copy on write: shapes may be shared between values */
        sh = ferry_model_alloc(b->m, (size_t)(t->rank + 1) * sizeof *sh);
        if (!sh) {
          b->oom = 1;
          return;
        }
        memcpy(sh, t->shape, (size_t)t->rank * sizeof *sh);
      }
      sh[i] = d;
    }
    if (sh) t->shape = sh;
  }
}

static void bind_graph(ferry_graph *g, void *u) {
  for (int i = 0; i < g->n_values; i++) bind_type(u, &g->values[i].type);
}

int ferry_bind_dims(ferry_model *m, const ferry_dimbinding *fix, int n_fix, ferry_err *err) {
  if (n_fix <= 0) return 0;
  binder b = {m, fix, n_fix, calloc((size_t)n_fix, sizeof(int)), 0};
  if (!b.used) return ferry_fail(err, FERRY_E_SYSTEM, "%s: out of memory", m->path);
  ferry_graph_walk(m->graph, bind_graph, &b);
  int rc = b.oom ? ferry_fail(err, FERRY_E_SYSTEM, "%s: out of memory", m->path) : 0;
  for (int i = 0; i < n_fix && !rc; i++)
    if (!b.used[i]) rc = ferry_fail(err, FERRY_E_INPUT, "%s: no dimension is named '%s'", m->path, fix[i].name);
  free(b.used);
  return rc;
}

/* ---- entry points ---- */

int ferry_infer_shapes_info(ferry_model *m, const ferry_dimbinding *fix, int n_fix,
                            ferry_infer_info *info, ferry_err *err) {
  ferry_err local;
  infer st = {.m = m, .info = info, .err = err ? err : &local};
  if (info) memset(info, 0, sizeof *info);
  int rc = ferry_bind_dims(m, fix, n_fix, st.err);
  if (rc) return rc;
  if (!(st.S = ferry_symdims_new(m->dims))) return nomem(&st);
  st.D = ferry_symdims_ops(st.S);
  gstate gs;
  rc = gstate_init(&st, &gs, m->graph, NULL);
  if (!rc) rc = infer_nodes(&st, &gs);
  gstate_free(&gs);
  ferry_symdims_free(st.S);
  return rc;
}

int ferry_infer_shapes(ferry_model *m, const ferry_dimbinding *fix, int n_fix, ferry_err *err) {
  return ferry_infer_shapes_info(m, fix, n_fix, NULL, err);
}
