/*
 * chain.c - element-wise chains: the planner fuses runs of float32
 * element-wise steps into one step that evaluates them block by block
 * (ferry_chain_eval, runtime/kernels/elementwise_chain.c), so no
 * intermediate tensor is written and read back.
 *
 * Exports keep activations and affine steps as separate nodes: PaddleOCR
 * det has Conv -> HardSigmoid -> Mul(x, .) -> Mul(s) -> Add(b) 24 times on
 * tensors of up to 13 MB, four passes over memory where one does. Bundles
 * stay plain ONNX (onnxruntime runs --emit-onnx output as is); the fusion
 * happens per plan, where shapes are known.
 *
 * A chain is a run of consecutive steps of a plan such that:
 *   - every step is Add, Sub, Mul, Div, Relu, LeakyRelu, HardSigmoid,
 *     HardSwish, Sigmoid or Tanh of the ONNX domain, not dynamic, with a
 *     float32 output of one known shape shared by the whole chain;
 *   - each later step reads the previous step's result, which nothing else
 *     reads (its last reader is that step) and which is no graph output;
 *   - every other operand is a float32 tensor of exactly that shape, made
 *     outside the chain, or a one-element float32 constant.
 * The fused step sits where the chain's last step was, reads the chain's
 * outside tensors and writes the last step's output; values that died
 * inside the chain die after it. The intermediates are never allocated.
 * With a host clock (profile), a chain's time counts on its last node.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels/elementwise.h"
#include "rt.h"

#define CHAIN_MAX_OPS 16

struct rt_chain {
  int n_ops, n_in;
  ferry_chain_op ops[CHAIN_MAX_OPS];
  int in[FERRY_CH_MAX_IN]; /* value slots of the chain's input tensors */
  int out[1];
  int self;                /* fused onto a Conv: the input that is the Conv's output */
};
_Static_assert(RT_POST_MAX_IN == FERRY_CH_MAX_IN, "rt_post holds every input of a chain");

/* ---- matching ---- */

static float attr_f(const rt_node *nd, const char *name, float dflt) {
  ferry_attrv a;
  memset(&a, 0, sizeof a);
  return rt_attr((void *)&nd->at, name, &a) && a.type == 1 ? a.f : dflt;
}

/* The chain step node nd computes (operands not set); its arity, 0 when
 * the op cannot be chained. */
static int op_of(const rt_node *nd, ferry_chain_op *o) {
  static const struct {
    const char *name;
    int code, arity;
  } ops[] = {{"Add", FERRY_CH_ADD, 2},        {"Sub", FERRY_CH_SUB, 2},
             {"Mul", FERRY_CH_MUL, 2},        {"Div", FERRY_CH_DIV, 2},
             {"Relu", FERRY_CH_RELU, 1},      {"LeakyRelu", FERRY_CH_LEAKYRELU, 1},
             {"HardSigmoid", FERRY_CH_HARDSIGMOID, 1}, {"HardSwish", FERRY_CH_HARDSWISH, 1},
             {"Sigmoid", FERRY_CH_SIGMOID, 1}, {"Tanh", FERRY_CH_TANH, 1}};
  const ferry_bnode *bn = nd->bn;
  if (bn->domain.len || !nd->kernel || bn->n_outputs != 1) return 0;
  for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
    if (strcmp(bn->op.s, ops[k].name) || bn->n_inputs != ops[k].arity) continue;
    memset(o, 0, sizeof *o);
    o->code = ops[k].code;
    o->alpha = attr_f(nd, "alpha", o->code == FERRY_CH_LEAKYRELU ? 0.01f : 0.2f);
    o->beta = attr_f(nd, "beta", 0.5f);
    return ops[k].arity;
  }
  return 0;
}

static int same_shape(const ferry_tview *a, const ferry_tview *b) {
  if (a->rank != b->rank) return 0;
  for (int d = 0; d < a->rank; d++)
    if (a->dims[d] != b->dims[d]) return 0;
  return 1;
}

typedef struct matcher {
  const rt_graph *g;
  const rt_plan *p;
  rt_chain ch;
  ferry_tview shape; /* the chain's output shape */
  int acc;           /* the value holding the previous step's result, -1 at the start */
} matcher;

/* The operand source for value v of the step being added: ACC, an input
 * tensor (added to the chain's inputs), or a constant; -3 when v cannot be
 * an operand. */
static int operand(matcher *mt, int v, float *c) {
  const rt_vplan *vp = &mt->p->v[v];
  const rt_value *val = &mt->g->values[v];
  if (v == mt->acc) return FERRY_CH_ACC;
  if (val->konst) {
    ferry_tview t;
    rt_konst_view(mt->g->model, val, &t);
    if (t.dtype != FERRY_F32 || t.numel != 1 || !t.data) return -3;
    memcpy(c, t.data, sizeof *c);
    return FERRY_CH_CONST;
  }
  if (!vp->known || vp->view.dtype != FERRY_F32 || !same_shape(&vp->view, &mt->shape)) return -3;
  for (int k = 0; k < mt->ch.n_in; k++)
    if (mt->ch.in[k] == v) return k;
  if (mt->ch.n_in == FERRY_CH_MAX_IN) return -3;
  mt->ch.in[mt->ch.n_in] = v;
  return mt->ch.n_in++;
}

/* Adds step st to the chain; 0 when it does not fit (the chain unchanged). */
static int add_step(matcher *mt, const rt_step *st) {
  const rt_node *nd = &mt->g->nodes[st->node];
  ferry_chain_op o;
  int arity = op_of(nd, &o), out = nd->bn->outputs[0];
  if (!arity || st->dynamic || mt->ch.n_ops == CHAIN_MAX_OPS || out < 0) return 0;
  const rt_vplan *vo = &mt->p->v[out];
  if (!vo->known || vo->view.dtype != FERRY_F32 || vo->view.numel == 0) return 0;
  if (mt->acc < 0) mt->shape = vo->view;
  else if (!same_shape(&vo->view, &mt->shape)) return 0;
  const int *in = nd->bn->inputs;
  if (mt->acc >= 0 && in[0] != mt->acc && (arity == 1 || in[1] != mt->acc)) return 0; /* must read the result */
  if (arity == 2 && in[0] < 0) return 0;
  rt_chain saved = mt->ch;
  o.a = operand(mt, in[0], &o.c);
  o.b = arity == 2 ? operand(mt, in[1], &o.c) : FERRY_CH_ACC;
  if (o.a == -3 || o.b == -3 || (o.a == FERRY_CH_CONST && o.b == FERRY_CH_CONST) ||
      (mt->acc < 0 && o.a == FERRY_CH_CONST && arity == 1)) {
    mt->ch = saved;
    return 0;
  }
  mt->ch.ops[mt->ch.n_ops++] = o;
  return 1;
}

/* Whether the result of step st (in the chain) may stay inside it: read
 * only by the next step and not a graph output. */
static int private_result(const rt_graph *g, const rt_step *st, const rt_step *next) {
  const rt_value *v = &g->values[g->nodes[st->node].bn->outputs[0]];
  return v->die == next->node && v->die < g->bg->n_nodes;
}

/* The longest chain from step i: its last step, i when none. */
static int match(matcher *mt, int i) {
  const rt_plan *p = mt->p;
  memset(&mt->ch, 0, sizeof mt->ch);
  mt->acc = -1;
  if (!add_step(mt, &p->steps[i])) return i;
  int j = i;
  while (j + 1 < p->n_steps && private_result(mt->g, &p->steps[j], &p->steps[j + 1])) {
    mt->acc = mt->g->nodes[p->steps[j].node].bn->outputs[0];
    if (!add_step(mt, &p->steps[j + 1])) break;
    j++;
  }
  return j;
}

/* ---- the plan pass ---- */

int rt_chains_fuse(rt_graph *g, rt_plan *p, int *at_node) {
  int *step_to = malloc(((size_t)p->n_steps + 1) * sizeof *step_to), w = 0;
  p->chains = calloc((size_t)p->n_steps + 1, sizeof *p->chains); /* runs of 2+, then single steps onto Convs */
  if (!step_to || !p->chains) {
    free(step_to);
    return -1;
  }
  matcher mt = {.g = g, .p = p};
  for (int i = 0; i < p->n_steps;) {
    int j = match(&mt, i);
    rt_step st = p->steps[j];
    if (j > i) {
      rt_chain *ch = &p->chains[p->n_chains++];
      *ch = mt.ch;
      ch->out[0] = g->nodes[st.node].bn->outputs[0];
      st.chain = ch;
      st.in = ch->in, st.n_in = ch->n_in;
      st.out = ch->out, st.n_out = 1;
    }
    for (int k = i; k <= j; k++) step_to[k] = w;
    p->steps[w++] = st;
    i = j + 1;
  }
  rt_plan_compact(g, p, at_node, step_to, w);
  return 0;
}

/* ---- chains onto Convs ----
 * A chain (or a single element-wise step) reading the output of the Conv
 * step right before it, which nothing else reads, still reads that output
 * back from memory: 13 MB at PaddleOCR det's first layers (HardSigmoid,
 * Mul, Mul, Add after each Conv; Add(Conv, .) in its neck). Fused onto the
 * Conv, the chain runs as the kernel's kctx post on each stretch of output
 * the kernel has just written (the GEMM's finished tiles, the depthwise
 * kernel's rows), while it is in cache, reading its other inputs at the
 * same offsets, and the Conv writes the chain's output value; the Conv's
 * own output is never allocated. Kernel paths without the hook leave it to
 * the executor, which maps the whole output after the kernel: the same
 * floats either way. */

static int is_conv(const rt_node *nd) {
  const ferry_bnode *bn = nd->bn;
  if (!nd->kernel || bn->n_outputs != 1) return 0;
  if (!bn->domain.len) return !strcmp(bn->op.s, "Conv");
  return !strcmp(bn->domain.s, "com.microsoft") && !strcmp(bn->op.s, "FusedConv");
}

/* The chain of step at (a chain step, or one element-wise step made a
 * chain of one in p->chains) when it reads the output of Conv step at - 1
 * and nothing else does; NULL otherwise. */
static rt_chain *conv_feeds(const rt_graph *g, rt_plan *p, const int *at_node, int at) {
  const rt_step *cv = &p->steps[at - 1], *cs = &p->steps[at];
  if (cv->chain || cv->post || cv->dynamic || cv->n_out != 1 || !is_conv(&g->nodes[cv->node])) return NULL;
  int y = cv->out[0];
  if (y < 0 || g->values[y].die >= g->bg->n_nodes || at_node[g->values[y].die] != at) return NULL; /* read later */
  rt_chain *ch = cs->chain ? &p->chains[cs->chain - p->chains] : NULL;
  if (!ch) { /* one step: a chain of one, kept only if it fuses */
    matcher mt = {.g = g, .p = p};
    if (match(&mt, at) != at || mt.ch.n_ops != 1) return NULL;
    ch = &p->chains[p->n_chains];
    *ch = mt.ch;
    ch->out[0] = g->nodes[cs->node].bn->outputs[0];
  }
  ch->self = -1;
  for (int k = 0; k < ch->n_in; k++)
    if (ch->in[k] == y) ch->self = k;
  const rt_vplan *vy = &p->v[y], *vz = &p->v[ch->out[0]];
  if (ch->self < 0 || !vy->known || !vz->known || vy->view.dtype != FERRY_F32 || !same_shape(&vy->view, &vz->view))
    return NULL;
  if (!cs->chain) p->n_chains++;
  return ch;
}

int rt_chains_onto_convs(rt_graph *g, rt_plan *p, int *at_node) {
  int *step_to = malloc(((size_t)p->n_steps + 1) * sizeof *step_to), w = 0;
  if (!step_to) return -1;
  for (int i = 0; i < p->n_steps; i++) {
    rt_step st = p->steps[i];
    const rt_chain *ch = i + 1 < p->n_steps ? conv_feeds(g, p, at_node, i + 1) : NULL;
    step_to[i] = w;
    if (ch) {
      st.post = ch;
      st.out = ch->out;
      step_to[++i] = w;
    }
    p->steps[w++] = st;
  }
  rt_plan_compact(g, p, at_node, step_to, w);
  return 0;
}

/* ---- running one ---- */

typedef struct chain_job {
  const rt_chain *ch;
  const float *in[FERRY_CH_MAX_IN];
  float *out;
  int64_t numel;
} chain_job;

#define CHAIN_TASK 16384 /* elements per parallel work item */

static void chain_task(void *arg, int64_t begin, int64_t end) {
  const chain_job *j = arg;
  int64_t i0 = begin * CHAIN_TASK, i1 = end * CHAIN_TASK < j->numel ? end * CHAIN_TASK : j->numel;
  ferry_chain_eval(j->ch->ops, j->ch->n_ops, j->in, i0, i1 - i0, j->out);
}

void rt_chain_run(rt_graph *g, const rt_step *st) {
  chain_job j = {.ch = st->chain, .out = g->kout[0].data, .numel = g->kout[0].numel};
  for (int k = 0; k < st->n_in; k++) j.in[k] = g->kin[k].data;
  ferry_pool_run(g->model->pool, (j.numel + CHAIN_TASK - 1) / CHAIN_TASK, chain_task, &j);
}

void rt_chain_post_bind(const rt_graph *g, const rt_chain *ch, float *out, rt_post *pc) {
  pc->ch = ch, pc->base = out;
  for (int k = 0; k < ch->n_in; k++) pc->in[k] = k == ch->self ? out : g->vals[ch->in[k]].data;
}

void rt_chain_post(const void *ctx, float *y, int64_t n) {
  const rt_post *pc = ctx; /* y is part of the output, which is the Conv's output: mapped in place */
  ferry_chain_eval(pc->ch->ops, pc->ch->n_ops, pc->in, y - pc->base, n, pc->base);
}

typedef struct post_job {
  const rt_post *pc;
  int64_t numel;
} post_job;

static void post_task(void *arg, int64_t begin, int64_t end) {
  const post_job *j = arg;
  int64_t i0 = begin * CHAIN_TASK, i1 = end * CHAIN_TASK < j->numel ? end * CHAIN_TASK : j->numel;
  rt_chain_post(j->pc, j->pc->base + i0, i1 - i0);
}

void rt_chain_post_all(rt_graph *g, const rt_post *pc, int64_t n) {
  post_job j = {pc, n};
  ferry_pool_run(g->model->pool, (n + CHAIN_TASK - 1) / CHAIN_TASK, post_task, &j);
}
