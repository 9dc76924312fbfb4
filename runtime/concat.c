/*
 * concat.c - the planner lets the producers of a Concat's inputs write
 * straight into the Concat's output, so the Concat step and its copy go.
 *
 * Batch-1 CNNs concatenate along channels: squeezenet's fire modules join
 * their two expand convolutions, PaddleOCR's neck its upsampled levels.
 * In NCHW with N = 1 each input is then one contiguous range of the
 * output, so the Concat is pure data movement: its output written once
 * more and the inputs read back.
 *
 * A Concat step is elided when:
 *   - it is an ONNX-domain Concat, not dynamic, not part of a chain, and
 *     its output is known, not empty, with every dim before the axis 1;
 *   - every input is a distinct known value produced by a non-dynamic step
 *     of the plan (not an input, weight or outer value), whose last reader
 *     is this Concat (so its memory may end with the output's), that is
 *     not itself the output of an elided Concat;
 *   - every input but the last fills a whole number of FERRY_ALIGN blocks,
 *     so each part starts where a buffer of its own would: aligned.
 * The inputs then become parts of the output (rt_vplan.whole, .part_at):
 * plan.c's arena gives the output its offset when the first part is
 * produced and keeps it until the output's last reader; parts get no
 * memory of their own. The Concat's step is dropped (compacting p->steps;
 * at_node follows), and with a host clock the Concat node shows no time.
 */
#include <stdlib.h>
#include <string.h>

#include "rt.h"

/* 1 when value v is an output of a non-dynamic step of p (at_node maps
 * its producer node to the step). */
static int made_by_step(const rt_graph *g, const rt_plan *p, const int *at_node, int v) {
  int ni = g->values[v].bv->producer;
  if (ni < 0 || g->values[v].konst || at_node[ni] < 0) return 0;
  const rt_step *st = &p->steps[at_node[ni]];
  if (st->dynamic) return 0;
  for (int k = 0; k < st->n_out; k++)
    if (st->out[k] == v) return 1;
  return 0;
}

/* 1 when step st is a Concat whose inputs can be parts of its output. */
static int elidable(const rt_graph *g, const rt_plan *p, const int *at_node, const rt_step *st) {
  const rt_node *nd = &g->nodes[st->node];
  const ferry_bnode *bn = nd->bn;
  if (st->dynamic || st->chain || bn->domain.len || strcmp(bn->op.s, "Concat") || st->n_out != 1 || st->n_in < 1)
    return 0;
  int y = st->out[0];
  if (y < 0 || !p->v[y].known || p->v[y].whole || p->v[y].view.rank < 1 || !p->v[y].bytes) return 0;
  const ferry_tview *vy = &p->v[y].view;
  ferry_attrv ax;
  if (!rt_attr((void *)&nd->at, "axis", &ax)) return 0;
  int64_t axis = ax.i < 0 ? ax.i + vy->rank : ax.i;
  if (axis < 0 || axis >= vy->rank) return 0;
  for (int d = 0; d < axis; d++)
    if (vy->dims[d] != 1) return 0;
  size_t at = 0;
  for (int k = 0; k < st->n_in; k++) {
    int x = st->in[k];
    if (x < 0 || !p->v[x].known || p->v[x].whole || g->values[x].die != st->node) return 0;
    if (!made_by_step(g, p, at_node, x)) return 0;
    for (int j = 0; j < k; j++)
      if (st->in[j] == x) return 0;
    if (k + 1 < st->n_in && p->v[x].bytes % FERRY_ALIGN) return 0;
    at += p->v[x].bytes;
  }
  return at == p->v[y].bytes;
}

int rt_concat_elide(rt_graph *g, rt_plan *p, int *at_node) {
  int *step_to = malloc(((size_t)p->n_steps + 1) * sizeof *step_to), w = 0;
  char *whole = calloc((size_t)g->bg->n_values + 1, 1), *drop = calloc((size_t)p->n_steps + 1, 1);
  if (!step_to || !whole || !drop) {
    free(step_to);
    free(whole);
    free(drop);
    return -1;
  }
  for (int i = 0; i < p->n_steps; i++) { /* decide (steps and at_node as they are) */
    const rt_step *st = &p->steps[i];
    int ok = elidable(g, p, at_node, st);
    for (int k = 0; ok && k < st->n_in; k++) ok = !whole[st->in[k]]; /* no nesting */
    if (!ok) continue;
    size_t at = 0;
    for (int k = 0; k < st->n_in; k++) {
      rt_vplan *x = &p->v[st->in[k]];
      x->whole = st->out[0] + 1, x->part_at = at;
      at += x->bytes;
    }
    whole[st->out[0]] = 1, drop[i] = 1;
  }
  for (int i = 0; i < p->n_steps; i++) { /* compact */
    step_to[i] = drop[i] ? w - 1 : w; /* a dropped step's frees (its parts') go to the step before */
    if (!drop[i]) p->steps[w++] = p->steps[i];
  }
  rt_plan_compact(g, p, at_node, step_to, w);
  free(whole);
  free(drop);
  return 0;
}
