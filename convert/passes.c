/*
 * passes.c - the pass table and the driver of passes.h.
 *
 * The driver checks the names it is given against the table, then runs
 * rounds: each active pass visits every graph of the model, subgraphs
 * first (so a parent sees the captures its children still use), through
 * one rewrite session per graph. Node counts before and after each run go
 * into the report; rounds stop when one changes nothing.
 */
#include "passes.h"

#include <stdlib.h>
#include <string.h>

static const ferry_pass table[] = {
    {"dead-code", "remove nodes whose results nothing uses", ferry_pass_dead_code, 0},
    {"identity", "bypass Identity, inference Dropout and Cast to the same type", ferry_pass_identity, 0},
    {"if-const", "inline the taken branch of an If with a constant condition", ferry_pass_if_const, 0},
    {"fold-constants", "compute shape arithmetic on constants at convert time", ferry_pass_fold_constants, 0},
    {"conv-bn", "fold BatchNormalization into the Conv before it", ferry_pass_conv_bn, 0},
    {"conv-affine", "fold per-channel Mul/Add/Sub/Div by constants into a neighbouring Conv",
     ferry_pass_conv_affine, 0},
    {"fuse-activation", "fuse bias Add and activations into Conv/Gemm (com.microsoft FusedConv/FusedGemm)",
     ferry_pass_fuse_activation, 0},
    {"fuse-layernorm", "decomposed LayerNorm -> LayerNormalization", ferry_pass_fuse_layernorm, 0},
    {"fuse-gelu", "erf and tanh GELU forms -> com.microsoft Gelu/FastGelu", ferry_pass_fuse_gelu, 0},
    {"fuse-attention", "scaled dot-product attention -> ferry.Attention (not runnable by onnxruntime)",
     ferry_pass_fuse_attention, 1},
    {"fuse-hardswish", "x * Clip(x + 3, 0, 6) / 6 -> HardSwish (opset >= 14) or HardSigmoid and Mul",
     ferry_pass_fuse_hardswish, 0},
};

#define N_PASSES ((int)(sizeof table / sizeof *table))
_Static_assert(N_PASSES <= FERRY_PASS_MAX, "pass table larger than the report");

const ferry_pass *ferry_pass_table(int *n) {
  *n = N_PASSES;
  return table;
}

int ferry_graph_node_count(const ferry_graph *g) {
  int total = g->n_nodes;
  for (int i = 0; i < g->n_nodes; i++)
    for (int j = 0; j < ferry_node_graph_count(&g->nodes[i]); j++)
      total += ferry_graph_node_count(ferry_node_graph(&g->nodes[i], j));
  return total;
}

/* ---- graphs, children first ---- */

typedef struct graph_list {
  ferry_graph **g;
  int n, cap;
  int oom;
} graph_list;

static void list_postorder(graph_list *l, ferry_graph *g) {
  for (int i = 0; i < g->n_nodes; i++)
    for (int j = 0; j < ferry_node_graph_count(&g->nodes[i]); j++)
      list_postorder(l, ferry_node_graph(&g->nodes[i], j));
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    ferry_graph **p = realloc(l->g, (size_t)cap * sizeof *p);
    if (!p) {
      l->oom = 1;
      return;
    }
    l->g = p;
    l->cap = cap;
  }
  l->g[l->n++] = g;
}

/* Whether graph g is still part of the model (a parent pass may have
 * dropped or inlined it since the list was made). */
static int still_attached(const ferry_model *m, const ferry_graph *g) {
  return g == m->graph || g->nodes != NULL || g->values != NULL;
}

/* One run of pass p over every graph; adds its rewrites to *rewrites. */
static int run_once(ferry_model *m, const ferry_pass *p, int *rewrites, ferry_err *err) {
  graph_list l = {0};
  list_postorder(&l, m->graph);
  int rc = l.oom ? ferry_fail(err, FERRY_E_SYSTEM, "out of memory") : 0;
  for (int i = 0; i < l.n && !rc; i++) {
    if (!still_attached(m, l.g[i])) continue;
    ferry_rw rw;
    rc = ferry_rw_begin(&rw, l.g[i], err);
    if (!rc) rc = p->fn(&rw);
    int end = ferry_rw_end(&rw);
    if (!rc) rc = end;
    *rewrites += rw.rewrites;
  }
  free(l.g);
  if (rc) ferry_err_prefix(err, p->name);
  return rc;
}

static const ferry_pass *find_pass(const char *name) {
  for (int i = 0; i < N_PASSES; i++)
    if (strcmp(table[i].name, name) == 0) return &table[i];
  return NULL;
}

static int unknown_pass(ferry_err *err, const char *name) {
  char list[512] = "";
  for (int i = 0; i < N_PASSES; i++) {
    if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
    strncat(list, table[i].name, sizeof list - strlen(list) - 1);
  }
  return ferry_fail(err, FERRY_E_INPUT, "unknown pass '%s' (passes: %s)", name, list);
}

static int listed(const char *name, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0) return 1;
  return 0;
}

void ferry_passes_off_for_onnx(const char *const *enabled, int n_enabled, const char **off, int *n) {
  for (int i = 0; i < N_PASSES; i++)
    if (table[i].ferry_only && !listed(table[i].name, enabled, n_enabled)) off[(*n)++] = table[i].name;
}

int ferry_run_pass(ferry_model *m, const char *name, int *rewrites, ferry_err *err) {
  const ferry_pass *p = find_pass(name);
  *rewrites = 0;
  if (!p) return unknown_pass(err, name);
  return run_once(m, p, rewrites, err);
}

int ferry_optimize_ex(ferry_model *m, const char *const *enabled, int n_enabled,
                      const char *const *disabled, int n_disabled, ferry_pass_report *rep,
                      ferry_err *err) {
  ferry_pass_report local;
  if (!rep) rep = &local;
  memset(rep, 0, sizeof *rep);
  for (int i = 0; i < n_enabled; i++)
    if (!find_pass(enabled[i])) return unknown_pass(err, enabled[i]);
  for (int i = 0; i < n_disabled; i++)
    if (!find_pass(disabled[i])) return unknown_pass(err, disabled[i]);
  rep->n = N_PASSES;
  rep->nodes_before = ferry_graph_node_count(m->graph);
  for (int i = 0; i < N_PASSES; i++) {
    ferry_pass_stat *s = &rep->pass[i];
    s->name = table[i].name;
    s->on = !listed(table[i].name, disabled, n_disabled);
  }
  int changed = 1;
  for (int round = 0; round < FERRY_PASS_ROUNDS && changed; round++) {
    changed = 0;
    rep->rounds++;
    for (int i = 0; i < N_PASSES; i++) {
      ferry_pass_stat *s = &rep->pass[i];
      if (!s->on) continue;
      int before = ferry_graph_node_count(m->graph), r = 0;
      int rc = run_once(m, &table[i], &r, err);
      if (rc) return rc;
      int after = ferry_graph_node_count(m->graph);
      if (round == 0) s->nodes_before = before, s->nodes_after = after;
      else s->later_removed += before - after;
      s->rewrites += r;
      changed |= r > 0;
    }
  }
  rep->nodes_after = ferry_graph_node_count(m->graph);
  return 0;
}

int ferry_optimize(ferry_model *m, const char *const *disabled, int n_disabled,
                   ferry_pass_report *rep, ferry_err *err) {
  return ferry_optimize_ex(m, NULL, 0, disabled, n_disabled, rep, err);
}

void ferry_pass_report_print(const ferry_pass_report *rep, FILE *f) {
  fprintf(f, "optimize: %d -> %d nodes in %d round%s\n", rep->nodes_before, rep->nodes_after,
          rep->rounds, rep->rounds == 1 ? "" : "s");
  for (int i = 0; i < rep->n; i++) {
    const ferry_pass_stat *s = &rep->pass[i];
    if (!s->on) {
      fprintf(f, "  %-16s off\n", s->name);
      continue;
    }
    fprintf(f, "  %-16s %6d -> %-6d nodes  %d rewrite%s", s->name, s->nodes_before, s->nodes_after,
            s->rewrites, s->rewrites == 1 ? "" : "s");
    if (s->later_removed) fprintf(f, " (later rounds: %+d nodes)", -s->later_removed);
    fputc('\n', f);
  }
}
