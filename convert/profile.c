/*
 * profile.c - see profile.h: sums ferry_session_profile's per-node times
 * by op type and prints two tables, ops then nodes, slowest first.
 */
#include "profile.h"

#include <stdlib.h>
#include <string.h>

typedef struct op_total {
  const char *domain, *op;
  int nodes;
  int64_t calls;
  double ms;
} op_total;

static int by_ms_desc(double a, double b) { return a < b ? 1 : a > b ? -1 : 0; }
static int op_cmp(const void *a, const void *b) { return by_ms_desc(((const op_total *)a)->ms, ((const op_total *)b)->ms); }
static int node_cmp(const void *a, const void *b) {
  return by_ms_desc(((const ferry_node_time *)a)->ms, ((const ferry_node_time *)b)->ms);
}

/* "Conv", or "com.microsoft.FusedConv" outside ai.onnx, into buf. */
static const char *op_label(const char *domain, const char *op, char *buf, size_t n) {
  if (!domain || !*domain) return op;
  snprintf(buf, n, "%s.%s", domain, op);
  return buf;
}

/* The per-op totals of t (sorted, slowest first) in *out; their count. */
static int sum_ops(const ferry_node_time *t, int n, op_total **out) {
  op_total *ops = calloc((size_t)n + 1, sizeof *ops);
  int n_ops = 0;
  if (!ops) return -1;
  for (int i = 0; i < n; i++) {
    int k = 0;
    while (k < n_ops && (strcmp(ops[k].op, t[i].op) || strcmp(ops[k].domain, t[i].domain))) k++;
    if (k == n_ops) ops[n_ops++] = (op_total){t[i].domain, t[i].op, 0, 0, 0};
    ops[k].nodes++;
    ops[k].calls += t[i].calls;
    ops[k].ms += t[i].ms;
  }
  qsort(ops, (size_t)n_ops, sizeof *ops, op_cmp);
  *out = ops;
  return n_ops;
}

int ferry_profile_print(FILE *f, const ferry_node_time *t, int n, int runs, int top) {
  op_total *ops;
  ferry_node_time *nodes = malloc(((size_t)n + 1) * sizeof *nodes);
  int n_ops = nodes ? sum_ops(t, n, &ops) : -1;
  if (n_ops < 0) {
    free(nodes);
    return FERRY_E_SYSTEM;
  }
  double total = 0, per = runs > 0 ? 1.0 / runs : 1.0;
  for (int i = 0; i < n; i++) total += t[i].ms;
  char lb[256];
  fprintf(f, "kernel time per run by op (%d run%s, %.3f ms per run in kernels):\n", runs, runs == 1 ? "" : "s",
          total * per);
  fprintf(f, "  %-28s %6s %10s %10s %7s\n", "op", "nodes", "calls/run", "ms/run", "share");
  for (int k = 0; k < n_ops; k++)
    fprintf(f, "  %-28s %6d %10.1f %10.3f %6.1f%%\n", op_label(ops[k].domain, ops[k].op, lb, sizeof lb), ops[k].nodes,
            (double)ops[k].calls * per, ops[k].ms * per, total > 0 ? 100 * ops[k].ms / total : 0);
  memcpy(nodes, t, (size_t)n * sizeof *nodes);
  qsort(nodes, (size_t)n, sizeof *nodes, node_cmp);
  if (top > n) top = n;
  fprintf(f, "slowest %d node%s:\n", top, top == 1 ? "" : "s");
  for (int i = 0; i < top; i++)
    fprintf(f, "  %-40.40s %-24s %10.3f %6.1f%%%s\n", *nodes[i].name ? nodes[i].name : "(unnamed)",
            op_label(nodes[i].domain, nodes[i].op, lb, sizeof lb), nodes[i].ms * per,
            total > 0 ? 100 * nodes[i].ms / total : 0, nodes[i].graph ? " (subgraph)" : "");
  free(ops);
  free(nodes);
  return 0;
}
