/*
 * epilogue.c - the planner folds the bias Add after a float32 MatMul into
 * the MatMul's GEMM epilogue, so the product is written once with its bias
 * instead of written, read back and written again.
 *
 * PyTorch exports every nn.Linear on a 3-D input as MatMul(x, W) then
 * Add(., b): BERT-mini has 24 of them, GPT-like decoders one per
 * projection. ONNX's Gemm takes 2-D operands only, so the bundle keeps the
 * pair (onnxruntime runs --emit-onnx output as is) and the fusion happens
 * per plan, where shapes are known.
 *
 * A pair fuses when:
 *   - step i is an ONNX-domain MatMul, not dynamic, whose float32 output of
 *     known shape [..., N] is read only by step i + 1 and is no graph output;
 *   - step i + 1 is an ONNX-domain Add, not dynamic, of that output and a
 *     float32 weight of N elements (any rank, every dim but the last 1),
 *     with an output of the MatMul's shape.
 * The fused step runs MatMul's kernel with the weight as a third input (the
 * kernel adds it to each output row in the epilogue: the same float
 * additions as the Add, so results are bit-identical) and writes the Add's
 * output; the MatMul's output is never allocated. With a host clock
 * (profile), the pair's time counts on the MatMul node.
 */
#include <stdlib.h>
#include <string.h>

#include "rt.h"

static int is_op(const rt_node *nd, const char *op, int n_in) {
  const ferry_bnode *bn = nd->bn;
  return !bn->domain.len && nd->kernel && bn->n_inputs == n_in && bn->n_outputs == 1 && !strcmp(bn->op.s, op);
}

static int same_dims(const ferry_tview *a, const ferry_tview *b) {
  if (a->rank != b->rank) return 0;
  for (int d = 0; d < a->rank; d++)
    if (a->dims[d] != b->dims[d]) return 0;
  return 1;
}

/* Whether value v is a float32 weight of n elements along the last axis
 * only (a bias row). */
static int bias_row(const rt_graph *g, int v, int64_t n) {
  if (v < 0 || !g->values[v].konst) return 0;
  ferry_tview t;
  rt_konst_view(g->model, &g->values[v], &t);
  if (t.dtype != FERRY_F32 || t.numel != n || !t.data || t.rank < 1) return 0;
  return t.dims[t.rank - 1] == n;
}

/* The bias value when steps i and i + 1 of p fuse (the rules above), else -1. */
static int match_pair(const rt_graph *g, const rt_plan *p, int i) {
  const rt_step *mm = &p->steps[i], *add = &p->steps[i + 1];
  const rt_node *nm = &g->nodes[mm->node], *na = &g->nodes[add->node];
  if (mm->chain || add->chain || mm->dynamic || add->dynamic || !is_op(nm, "MatMul", 2) || !is_op(na, "Add", 2))
    return -1;
  int y = nm->bn->outputs[0], z = na->bn->outputs[0];
  if (y < 0 || z < 0 || g->values[y].die != add->node || g->values[y].die >= g->bg->n_nodes) return -1;
  const ferry_tview *vy = &p->v[y].view, *vz = &p->v[z].view;
  if (!p->v[y].known || !p->v[z].known || vy->dtype != FERRY_F32 || vy->rank < 1 || !same_dims(vy, vz)) return -1;
  for (int k = 0; k < 2; k++) {
    const rt_vplan *va = &p->v[nm->bn->inputs[k]];
    if (nm->bn->inputs[k] < 0 || !va->known || va->view.dtype != FERRY_F32) return -1;
  }
  const int *ai = na->bn->inputs;
  int64_t n = vy->dims[vy->rank - 1];
  if (ai[0] == y && ai[1] != y && bias_row(g, ai[1], n)) return ai[1];
  if (ai[1] == y && ai[0] != y && bias_row(g, ai[0], n)) return ai[0];
  return -1;
}

int rt_bias_fuse(rt_graph *g, rt_plan *p, int *at_node) {
  int *step_to = malloc(((size_t)p->n_steps + 1) * sizeof *step_to), w = 0;
  p->fused_io = malloc(((size_t)p->n_steps / 2 + 1) * 4 * sizeof *p->fused_io);
  if (!step_to || !p->fused_io) {
    free(step_to);
    return -1;
  }
  int n_fused = 0;
  for (int i = 0; i < p->n_steps; i++) {
    rt_step st = p->steps[i];
    int bias = i + 1 < p->n_steps ? match_pair(g, p, i) : -1;
    step_to[i] = w;
    if (bias >= 0) {
      int *io = p->fused_io + 4 * n_fused++;
      const ferry_bnode *bm = g->nodes[st.node].bn;
      io[0] = bm->inputs[0], io[1] = bm->inputs[1], io[2] = bias;
      io[3] = g->nodes[p->steps[i + 1].node].bn->outputs[0];
      st.in = io, st.n_in = 3, st.out = io + 3, st.n_out = 1;
      step_to[++i] = w;
    }
    p->steps[w++] = st;
  }
  rt_plan_compact(g, p, at_node, step_to, w);
  return 0;
}
