/*
 * inspect.c - the model report behind `ferry inspect`.
 *
 * One pass (gather) walks the main graph and its subgraphs and fills a
 * `summary`: op counts, node count, weight elements and bytes per dtype.
 * Two printers turn the model plus that summary into text for people or
 * JSON for scripts; they print the same facts. The shapes report (values
 * section) walks the graphs again, printing each value with the op that
 * makes it, subgraph values after their node, indented; ops without a
 * shape rule in the registry (runtime/ops.h) are named at its end.
 */
#include "inspect.h"

#include <stdlib.h>
#include <string.h>

#include "ops.h"

typedef struct opcount {
  const char *domain, *op;
  int64_t n;
} opcount;

typedef struct summary {
  opcount *ops;
  int n_ops, cap_ops;
  int64_t nodes;
  int64_t params;
  int64_t param_elems[FERRY_DTYPE_COUNT];
  int64_t param_bytes[FERRY_DTYPE_COUNT];
  int oom;
} summary;

static void count_op(summary *s, const ferry_node *n) {
  for (int i = 0; i < s->n_ops; i++)
    if (strcmp(s->ops[i].op, n->op) == 0 && strcmp(s->ops[i].domain, n->domain) == 0) {
      s->ops[i].n++;
      return;
    }
  if (s->n_ops == s->cap_ops) {
    int cap = s->cap_ops ? 2 * s->cap_ops : 32;
    opcount *p = realloc(s->ops, (size_t)cap * sizeof *p);
    if (!p) {
      s->oom = 1;
      return;
    }
    s->ops = p;
    s->cap_ops = cap;
  }
  s->ops[s->n_ops++] = (opcount){n->domain, n->op, 1};
}

static void gather(ferry_graph *g, void *user) {
  summary *s = user;
  for (int i = 0; i < g->n_nodes; i++) count_op(s, &g->nodes[i]);
  s->nodes += g->n_nodes;
  for (int i = 0; i < g->n_values; i++) {
    const ferry_value *v = &g->values[i];
    if (!v->data || v->outer >= 0) continue;
    int dt = v->data->dtype;
    s->params += v->data->numel;
    s->param_elems[dt] += v->data->numel;
    s->param_bytes[dt] += (int64_t)(dt == FERRY_STRING ? 0 : v->data->nbytes);
  }
}

/* Most frequent first, then by name, so reports are stable. */
static int by_count(const void *a, const void *b) {
  const opcount *x = a, *y = b;
  if (x->n != y->n) return x->n < y->n ? 1 : -1;
  int c = strcmp(x->domain, y->domain);
  return c ? c : strcmp(x->op, y->op);
}

/* ---- shared helpers ---- */

static void print_json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c == '\n') fputs("\\n", f);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

static const char *domain_name(const char *d) { return *d ? d : "ai.onnx"; }

/* "Op" for ONNX's own ops, "domain.Op" for others. */
static void print_op_name(FILE *f, const opcount *o, int json) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s%s%s", o->domain, *o->domain ? "." : "", o->op);
  if (json) print_json_str(f, buf);
  else fputs(buf, f);
}

static void type_name(const ferry_type *t, char *buf, size_t n) {
  switch (t->kind) {
  case FERRY_V_TENSOR: snprintf(buf, n, "%s", ferry_dtype_name(t->dtype)); return;
  case FERRY_V_SPARSE: snprintf(buf, n, "sparse(%s)", ferry_dtype_name(t->dtype)); return;
  case FERRY_V_SEQUENCE:
  case FERRY_V_OPTIONAL: {
    char e[96] = "?";
    if (t->elem) type_name(t->elem, e, sizeof e);
    snprintf(buf, n, "%s(%s)", t->kind == FERRY_V_SEQUENCE ? "seq" : "optional", e);
    return;
  }
  case FERRY_V_MAP: {
    char e[96] = "?";
    if (t->elem) type_name(t->elem, e, sizeof e);
    snprintf(buf, n, "map(%s, %s)", ferry_dtype_name(t->dtype), e);
    return;
  }
  default: snprintf(buf, n, "?"); return;
  }
}

/* Shape as [1, batch, 3] (text) or [1, "batch", 3] (JSON); null/? when unknown. */
static void print_shape(FILE *f, const ferry_type *t, int json) {
  if (t->rank < 0 || (t->kind != FERRY_V_TENSOR && t->kind != FERRY_V_SPARSE)) {
    fputs(json ? "null" : "?", f);
    return;
  }
  fputc('[', f);
  for (int i = 0; i < t->rank; i++) {
    int64_t v;
    if (i) fputs(", ", f);
    if (ferry_dim_is_const(t->shape[i], &v)) {
      fprintf(f, "%lld", (long long)v);
      continue;
    }
    char buf[256];
    ferry_dim_str(t->shape[i], buf, sizeof buf);
    if (json) print_json_str(f, buf);
    else fputs(buf, f);
  }
  fputc(']', f);
}

static void print_bytes(FILE *f, int64_t b) {
  if (b < 10 * 1024) fprintf(f, "%lld B", (long long)b);
  else if (b < 1024ll * 1024) fprintf(f, "%.1f KiB", b / 1024.0);
  else fprintf(f, "%.1f MiB", b / (1024.0 * 1024.0));
}

/* ---- text ---- */

static void text_values(FILE *f, const ferry_graph *g, const int *idx, int n, const char *title) {
  fprintf(f, "%s (%d)\n", title, n);
  for (int i = 0; i < n; i++) {
    const ferry_value *v = &g->values[idx[i]];
    char tn[128];
    type_name(&v->type, tn, sizeof tn);
    fprintf(f, "  %-24s %-8s ", v->name, tn);
    print_shape(f, &v->type, 0);
    fputc('\n', f);
  }
}

static void print_text(FILE *f, const ferry_model *m, summary *s) {
  fprintf(f, "model      %s\n", m->path);
  fprintf(f, "producer   %s %s\n", *m->producer_name ? m->producer_name : "(none)", m->producer_version);
  fprintf(f, "ir version %lld\n", (long long)m->ir_version);
  fputs("opsets    ", f);
  for (int i = 0; i < m->n_opsets; i++)
    fprintf(f, " %s %lld%s", domain_name(m->opsets[i].domain), (long long)m->opsets[i].version,
            i + 1 < m->n_opsets ? "," : "");
  fputc('\n', f);
  text_values(f, m->graph, m->graph->inputs, m->graph->n_inputs, "inputs");
  text_values(f, m->graph, m->graph->outputs, m->graph->n_outputs, "outputs");
  fprintf(f, "nodes      %lld\n", (long long)s->nodes);
  for (int i = 0; i < s->n_ops; i++) {
    fputs("  ", f);
    print_op_name(f, &s->ops[i], 0);
    fprintf(f, " %lld\n", (long long)s->ops[i].n);
  }
  fprintf(f, "parameters %lld\n", (long long)s->params);
  for (int dt = 0; dt < FERRY_DTYPE_COUNT; dt++) {
    if (!s->param_elems[dt]) continue;
    fprintf(f, "  %-9s %lld (", ferry_dtype_name(dt), (long long)s->param_elems[dt]);
    print_bytes(f, s->param_bytes[dt]);
    fputs(")\n", f);
  }
  fprintf(f, "external   %s\n", m->n_external_files ? "" : "none");
  for (int i = 0; i < m->n_external_files; i++) fprintf(f, "  %s\n", m->external_files[i]);
}

/* ---- values (the shapes report) ---- */

/* What makes value vi of g: the producing op, "input" or "weight". */
static const char *value_origin(const ferry_graph *g, int vi, const char **node) {
  const ferry_value *v = &g->values[vi];
  *node = "";
  if (v->producer >= 0) {
    *node = g->nodes[v->producer].name;
    return g->nodes[v->producer].op;
  }
  return v->data ? "weight" : "input";
}

typedef struct vprinter {
  FILE *f;
  int json, first;
} vprinter;

static void print_value(vprinter *p, const ferry_graph *g, int vi, int depth, const char *where) {
  const ferry_value *v = &g->values[vi];
  const char *node, *op = value_origin(g, vi, &node);
  char tn[128];
  if (v->outer >= 0) return;
  type_name(&v->type, tn, sizeof tn);
  if (p->json) {
    fputs(p->first ? "{\"name\": " : ", {\"name\": ", p->f);
    p->first = 0;
    print_json_str(p->f, v->name);
    fputs(", \"dtype\": ", p->f);
    print_json_str(p->f, tn);
    fputs(", \"shape\": ", p->f);
    print_shape(p->f, &v->type, 1);
    fputs(", \"op\": ", p->f);
    print_json_str(p->f, op);
    fputs(", \"node\": ", p->f);
    print_json_str(p->f, node);
    fputs(", \"graph\": ", p->f);
    print_json_str(p->f, where);
    fputc('}', p->f);
    return;
  }
  fprintf(p->f, "%*s%s  %s  ", 2 + 2 * depth, "", v->name, tn);
  print_shape(p->f, &v->type, 0);
  fprintf(p->f, "  <- %s%s%s\n", op, *node ? " " : "", node);
}

static void print_graph_values(vprinter *p, const ferry_graph *g, int depth, const char *where);

/* The subgraphs of node n, after its outputs. */
static void print_subgraphs(vprinter *p, const ferry_node *n, int depth) {
  char where[512];
  for (int a = 0; a < n->n_attrs; a++) {
    const ferry_attr *at = &n->attrs[a];
    int cnt = at->type == FERRY_A_GRAPH ? (at->g != NULL) : at->type == FERRY_A_GRAPHS ? at->n : 0;
    for (int k = 0; k < cnt; k++) {
      const ferry_graph *sub = at->type == FERRY_A_GRAPH ? at->g : at->graphs[k];
      snprintf(where, sizeof where, "%s of %s '%s'", at->name, n->op, n->name);
      if (!p->json) fprintf(p->f, "%*s%s:\n", 2 + 2 * depth, "", where);
      print_graph_values(p, sub, depth + 1, where);
    }
  }
}

/* Inputs, weights, then each node's outputs in order (subgraphs after). */
static void print_graph_values(vprinter *p, const ferry_graph *g, int depth, const char *where) {
  for (int i = 0; i < g->n_values; i++)
    if (g->values[i].producer < 0) print_value(p, g, i, depth, where);
  for (int n = 0; n < g->n_nodes; n++) {
    const ferry_node *nd = &g->nodes[n];
    for (int k = 0; k < nd->n_outputs; k++)
      if (nd->outputs[k] >= 0) print_value(p, g, nd->outputs[k], depth, where);
    print_subgraphs(p, nd, depth);
  }
}

static void no_rule(ferry_graph *g, void *user) {
  summary *s = user;
  for (int i = 0; i < g->n_nodes; i++) {
    const ferry_node *n = &g->nodes[i];
    const ferry_opdef *d = ferry_op_find(n->domain, n->op, n->opset);
    if (!d || (!d->shape && !(d->flags & FERRY_OPF_CONTROL))) count_op(s, n);
  }
}

static void text_shapes(FILE *f, const ferry_model *m) {
  vprinter p = {f, 0, 1};
  summary s = {0};
  fputs("values\n", f);
  print_graph_values(&p, m->graph, 0, "");
  ferry_graph_walk(m->graph, no_rule, &s);
  if (s.n_ops) fputs("no shape rule", f);
  for (int i = 0; i < s.n_ops; i++) {
    fputs(i ? ", " : " ", f);
    print_op_name(f, &s.ops[i], 0);
  }
  if (s.n_ops) fputc('\n', f);
  free(s.ops);
}

/* ---- JSON ---- */

static void json_values(FILE *f, const ferry_graph *g, const int *idx, int n) {
  fputc('[', f);
  for (int i = 0; i < n; i++) {
    const ferry_value *v = &g->values[idx[i]];
    char tn[128];
    type_name(&v->type, tn, sizeof tn);
    fputs(i ? ", {\"name\": " : "{\"name\": ", f);
    print_json_str(f, v->name);
    fputs(", \"dtype\": ", f);
    print_json_str(f, tn);
    fputs(", \"shape\": ", f);
    print_shape(f, &v->type, 1);
    fputc('}', f);
  }
  fputc(']', f);
}

static void print_json(FILE *f, const ferry_model *m, summary *s, unsigned flags) {
  fputs("{\"file\": ", f);
  print_json_str(f, m->path);
  fputs(", \"producer\": {\"name\": ", f);
  print_json_str(f, m->producer_name);
  fputs(", \"version\": ", f);
  print_json_str(f, m->producer_version);
  fprintf(f, "}, \"ir_version\": %lld, \"opsets\": {", (long long)m->ir_version);
  for (int i = 0; i < m->n_opsets; i++) {
    if (i) fputs(", ", f);
    print_json_str(f, domain_name(m->opsets[i].domain));
    fprintf(f, ": %lld", (long long)m->opsets[i].version);
  }
  fputs("}, \"inputs\": ", f);
  json_values(f, m->graph, m->graph->inputs, m->graph->n_inputs);
  fputs(", \"outputs\": ", f);
  json_values(f, m->graph, m->graph->outputs, m->graph->n_outputs);
  fprintf(f, ", \"node_count\": %lld, \"op_counts\": {", (long long)s->nodes);
  for (int i = 0; i < s->n_ops; i++) {
    if (i) fputs(", ", f);
    print_op_name(f, &s->ops[i], 1);
    fprintf(f, ": %lld", (long long)s->ops[i].n);
  }
  fprintf(f, "}, \"parameters\": %lld, \"parameter_bytes\": {", (long long)s->params);
  for (int dt = 0, first = 1; dt < FERRY_DTYPE_COUNT; dt++) {
    if (!s->param_elems[dt]) continue;
    fprintf(f, "%s\"%s\": %lld", first ? "" : ", ", ferry_dtype_name(dt), (long long)s->param_bytes[dt]);
    first = 0;
  }
  fputs("}, \"external_data\": [", f);
  for (int i = 0; i < m->n_external_files; i++) {
    if (i) fputs(", ", f);
    print_json_str(f, m->external_files[i]);
  }
  fputc(']', f);
  if (flags & FERRY_INSPECT_SHAPES) {
    vprinter p = {f, 1, 1};
    fputs(", \"values\": [", f);
    print_graph_values(&p, m->graph, 0, "");
    fputc(']', f);
  }
  fputs("}\n", f);
}

int ferry_inspect_model(FILE *out, const ferry_model *m, unsigned flags) {
  summary s = {0};
  ferry_graph_walk(m->graph, gather, &s);
  if (s.oom) {
    free(s.ops);
    return FERRY_E_SYSTEM;
  }
  if (s.n_ops) qsort(s.ops, (size_t)s.n_ops, sizeof *s.ops, by_count);
  if (flags & FERRY_INSPECT_JSON) print_json(out, m, &s, flags);
  else print_text(out, m, &s);
  if ((flags & FERRY_INSPECT_SHAPES) && !(flags & FERRY_INSPECT_JSON)) text_shapes(out, m);
  free(s.ops);
  return fflush(out) || ferror(out) ? FERRY_E_SYSTEM : FERRY_OK;
}
