/*
 * bisect.c - the first node whose output diverges from the reference
 * model's (validate.h: ferry_vbisect_run).
 *
 * Each model (ONNX or bundle) is loaded into the IR, its shapes inferred,
 * and every tensor a main-graph node makes (Constant nodes aside) is made a
 * graph output; the graph is written, unoptimized, to a temporary bundle,
 * which is mapped and run on the runtime like any other. Values are then
 * compared by name in the reference's node order: the first node with an
 * output beyond tolerance is the finding, reported with the error of each
 * of its inputs (intermediate values from the run; weights and constants
 * from the two models' data). Optimized bundles fuse nodes away, so a name
 * may exist on one side only: such values are skipped and counted.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle_write.h"
#include "infer.h"
#include "ir.h"
#include "tensor_io.h"
#include "validate.h"

typedef struct side {
  const char *path;
  ferry_model *m;
  ferry_session *s;
  ferry_host_model hm;
  ferry_tview *out;
  int n_out;
} side;

/* Makes every tensor a main-graph node outputs (not Constants) a graph output. */
static int expose_intermediates(ferry_model *m, ferry_err *err) {
  ferry_graph *g = m->graph;
  int extra = 0;
  for (int i = 0; i < g->n_nodes; i++) extra += g->nodes[i].n_outputs;
  int *outs = ferry_model_alloc(m, ((size_t)g->n_outputs + (size_t)extra + 1) * sizeof *outs);
  if (!outs) return ferry_fail(err, FERRY_E_SYSTEM, "out of memory");
  memcpy(outs, g->outputs, (size_t)g->n_outputs * sizeof *outs);
  int n = g->n_outputs;
  for (int i = 0; i < g->n_nodes; i++) {
    const ferry_node *nd = &g->nodes[i];
    if (!strcmp(nd->op, "Constant") && !*nd->domain) continue;
    for (int k = 0; k < nd->n_outputs; k++) {
      int v = nd->outputs[k];
      if (v < 0 || (g->values[v].flags & FERRY_VAL_OUTPUT) || g->values[v].type.kind != FERRY_V_TENSOR) continue;
      g->values[v].flags |= FERRY_VAL_OUTPUT;
      outs[n++] = v;
    }
  }
  g->outputs = outs;
  g->n_outputs = n;
  return 0;
}

/* Loads, exposes, writes a temporary bundle and opens a session on it. */
static int open_side(side *sd, int threads, ferry_err *err) {
  if (!(sd->m = ferry_model_load(sd->path, err))) return err->code;
  if (ferry_infer_shapes(sd->m, NULL, 0, err) || expose_intermediates(sd->m, err)) return ferry_err_prefix(err, sd->path);
  const char *tmp = getenv("TMPDIR");
  char dir[4096], file[4200];
  snprintf(dir, sizeof dir, "%s/ferry-bisect-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) return ferry_fail(err, FERRY_E_SYSTEM, "cannot make a temporary folder: %s", strerror(errno));
  snprintf(file, sizeof file, "%s/all.ferry", dir);
  int rc = ferry_bundle_write(sd->m, file, NULL, err);
  ferry_session_opts so = {.threads = threads};
  if (!rc && !(sd->s = ferry_host_session_open(file, &so, &sd->hm, err))) rc = err->code;
  unlink(file);
  for (int k = 1;; k++) { /* shards */
    char p[4300];
    snprintf(p, sizeof p, "%s.%d", file, k);
    if (unlink(p)) break;
  }
  rmdir(dir);
  if (rc) return ferry_err_prefix(err, sd->path);
  sd->n_out = ferry_session_n_outputs(sd->s);
  if (!(sd->out = calloc((size_t)sd->n_out + 1, sizeof *sd->out))) return ferry_fail(err, FERRY_E_SYSTEM, "out of memory");
  return 0;
}

static int run_side(side *sd, const ferry_vtensor *inputs, int n_inputs, ferry_err *err) {
  int n = ferry_session_n_inputs(sd->s);
  ferry_tview *in = calloc((size_t)n + 1, sizeof *in);
  if (!in) return ferry_fail(err, FERRY_E_SYSTEM, "out of memory");
  int rc = 0;
  for (int i = 0; i < n && !rc; i++) {
    const char *name = ferry_session_input_name(sd->s, i);
    int k = 0;
    while (k < n_inputs && strcmp(inputs[k].name, name)) k++;
    if (k == n_inputs && n == n_inputs) k = i;
    if (k == n_inputs) rc = ferry_fail(err, FERRY_E_INPUT, "%s: no data for input '%s'", sd->path, name);
    else in[i] = inputs[k].v;
  }
  if (!rc && (rc = ferry_session_run(sd->s, in, n, sd->out, err))) ferry_err_prefix(err, sd->path);
  free(in);
  return rc;
}

static void close_side(side *sd) {
  if (sd->s) ferry_session_close(sd->s);
  ferry_host_model_free(&sd->hm);
  if (sd->m) ferry_model_free(sd->m);
  free(sd->out);
}

static const ferry_tview *value_of(const side *sd, const char *name) {
  for (int i = 0; i < sd->n_out; i++)
    if (!strcmp(ferry_session_output_name(sd->s, i), name)) return &sd->out[i];
  return NULL;
}

/* A weight or Constant's data as a view. */
static int data_view(const side *sd, const char *name, ferry_tview *v) {
  int i = ferry_graph_find(sd->m->graph, name);
  const ferry_tensor *t = i >= 0 ? sd->m->graph->values[i].data : NULL;
  if (!t || t->rank > FERRY_MAX_RANK || t->external) return 0;
  memset(v, 0, sizeof *v);
  v->dtype = t->dtype, v->rank = t->rank, v->numel = t->numel, v->data = (void *)t->data;
  for (int d = 0; d < t->rank; d++) v->dims[d] = t->dims[d];
  return 1;
}

static int describe_inputs(const side *ref, const side *mod, const ferry_node *nd, const ferry_vlimits *l, ferry_vbisect *b) {
  if (!(b->inputs = calloc((size_t)nd->n_inputs + 1, sizeof *b->inputs))) return -1;
  const ferry_graph *g = ref->m->graph;
  for (int k = 0; k < nd->n_inputs; k++) {
    if (nd->inputs[k] < 0) continue;
    const ferry_value *v = &g->values[nd->inputs[k]];
    ferry_vbisect_input *in = &b->inputs[b->n_inputs++];
    if (!(in->name = strdup(v->name))) return -1;
    const ferry_tview *x = value_of(mod, v->name), *y = value_of(ref, v->name);
    ferry_tview dx, dy;
    char why[256];
    if (v->flags & FERRY_VAL_INPUT && !v->data) {
      in->state = 3; /* the same data went to both */
      continue;
    }
    if (!y && data_view(ref, v->name, &dy)) {
      in->state = 2, y = &dy;
      x = !x && data_view(mod, v->name, &dx) ? &dx : x;
    }
    if (!x || !y) {
      in->state = 1;
      continue;
    }
    in->diverged = !ferry_vcompare(x, y, l, &in->m, why, sizeof why);
  }
  return 0;
}

/* The limits bisect uses: the run's, without the class-axis and ULP ones. */
static ferry_vlimits bisect_limits(const ferry_vlimits *top) {
  ferry_vlimits l = *top;
  l.min_top1 = l.min_topk = l.max_ulp = NAN;
  ferry_vlimits_resolve(&l);
  return l;
}

/* The op of the node making value `name` in side sd's main graph, NULL if none. */
static const char *producer_op(const side *sd, const char *name) {
  int v = ferry_graph_find(sd->m->graph, name);
  int p = v >= 0 ? sd->m->graph->values[v].producer : -1;
  return p >= 0 ? sd->m->graph->nodes[p].op : NULL;
}

static int find_divergence(const side *ref, const side *mod, const ferry_vlimits *l, ferry_vbisect *b) {
  const ferry_graph *g = ref->m->graph;
  for (int i = 0; i < g->n_nodes; i++) {
    const ferry_node *nd = &g->nodes[i];
    for (int k = 0; k < nd->n_outputs; k++) {
      if (nd->outputs[k] < 0) continue;
      const char *name = g->values[nd->outputs[k]].name;
      const ferry_tview *y = value_of(ref, name), *x = value_of(mod, name);
      if (!y) continue; /* a Constant's output, or not a tensor */
      if (!x) {
        b->skipped++;
        continue;
      }
      b->compared++;
      ferry_vmetrics m;
      char why[256];
      if (b->found || ferry_vcompare(x, y, l, &m, why, sizeof why)) continue;
      b->found = 1;
      b->m = m;
      snprintf(b->reason, sizeof b->reason, "%s", why);
      if (!(b->node = strdup(nd->name && *nd->name ? nd->name : "(unnamed)")) || !(b->op = strdup(nd->op)) ||
          !(b->output = strdup(name)) || describe_inputs(ref, mod, nd, l, b))
        return -1;
      if (producer_op(mod, name) && !(b->model_op = strdup(producer_op(mod, name))))
        return -1;
    }
  }
  return 0;
}

int ferry_vbisect_run(const char *model, const char *reference, const ferry_vtensor *inputs, int n_inputs,
                      const ferry_vlimits *top, int threads, ferry_vbisect *b, ferry_err *err) {
  side mod = {.path = model}, ref = {.path = reference};
  int rc = open_side(&ref, threads, err);
  if (!rc) rc = open_side(&mod, threads, err);
  if (!rc) rc = run_side(&ref, inputs, n_inputs, err);
  if (!rc) rc = run_side(&mod, inputs, n_inputs, err);
  if (!rc) {
    ferry_vlimits l = bisect_limits(top);
    b->ran = 1;
    if (find_divergence(&ref, &mod, &l, b)) rc = ferry_fail(err, FERRY_E_SYSTEM, "out of memory");
    else if (!b->found)
      snprintf(b->reason, sizeof b->reason, "the outputs differ, but no compared intermediate value does (atol %g, rtol %g)",
               l.atol, l.rtol);
  }
  close_side(&mod);
  close_side(&ref);
  return rc;
}

void ferry_vbisect_free(ferry_vbisect *b) {
  for (int i = 0; i < b->n_inputs; i++) free(b->inputs[i].name);
  free(b->inputs);
  free(b->sample);
  free(b->node);
  free(b->op);
  free(b->model_op);
  free(b->output);
  memset(b, 0, sizeof *b);
}
