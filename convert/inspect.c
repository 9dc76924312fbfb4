/*
 * inspect.c - the model report behind `ferry inspect`.
 *
 * One pass (gather) walks the main graph and its subgraphs and fills a
 * `summary`: op counts, node count, weight elements and bytes per dtype.
 * Two printers turn the model plus that summary into text for people or
 * JSON for scripts; they print the same facts.
 */
#include "inspect.h"

#include <stdlib.h>
#include <string.h>

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

static void print_json(FILE *f, const ferry_model *m, summary *s) {
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
  fputs("]}\n", f);
}

int ferry_inspect_model(FILE *out, const ferry_model *m, unsigned flags) {
  summary s = {0};
  ferry_graph_walk(m->graph, gather, &s);
  if (s.oom) {
    free(s.ops);
    return FERRY_E_SYSTEM;
  }
  if (s.n_ops) qsort(s.ops, (size_t)s.n_ops, sizeof *s.ops, by_count);
  if (flags & FERRY_INSPECT_JSON) print_json(out, m, &s);
  else print_text(out, m, &s);
  free(s.ops);
  return fflush(out) || ferror(out) ? FERRY_E_SYSTEM : FERRY_OK;
}
